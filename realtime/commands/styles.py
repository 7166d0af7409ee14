"""``realtime styles``: list the styles ``--style NAME`` can use, and where user styles go."""

from __future__ import annotations

import argparse
from typing import Any

from realtime.errors import UserError
from realtime.style_registry import STYLES_DIR_ENV, StyleEntry, list_styles, user_styles_dir

# Card fields shown in the listing, looked up at the card's top level and in its "recipe".
_CARD_FIELDS = ("steps", "image_size", "style_weight", "content_weight")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "styles",
        help="list the available styles",
        description="List bundled and user styles (name, origin, precision, training, path).",
    )
    parser.set_defaults(run=run)


def card_summary(card: dict[str, Any] | None) -> str:
    """A few training facts from a card, e.g. ``steps=40000 image_size=256``."""
    if not card:
        return "-"
    recipe = card.get("recipe") if isinstance(card.get("recipe"), dict) else {}
    parts = []
    for key in _CARD_FIELDS:
        value = card.get(key, recipe.get(key))
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            parts.append(f"{key}={value}")
    return " ".join(parts) or "card (no recipe)"


def _precision(entry: StyleEntry) -> str:
    from realtime.model_io import read_model_info

    try:
        return read_model_info(entry.path).precision or "no metadata"
    except UserError as exc:
        # Listed, not hidden: the user should see that a file in their directory is broken.
        return f"unreadable ({exc})"


def _origin(entry: StyleEntry) -> str:
    return "user (shadows bundled)" if entry.shadows_bundled else entry.origin


def run(args: argparse.Namespace) -> int:
    entries = list_styles()
    rows = [(e.name, _origin(e), _precision(e), card_summary(e.card), str(e.path)) for e in entries]
    if rows:
        header = ("NAME", "ORIGIN", "PRECISION", "TRAINING", "PATH")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        for row in [header, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            print("  ".join([*cells, row[-1]]))
    else:
        print("No styles installed.")
    print(
        f"User styles directory: {user_styles_dir()} (add NAME.onnx, optionally NAME.json; "
        f"set {STYLES_DIR_ENV} to use another directory)"
    )
    return 0
