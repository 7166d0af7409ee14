"""``realtime styles``: list the styles ``--style NAME`` can use, and where user styles go."""

from __future__ import annotations

import argparse
from typing import Any

from realtime.core.errors import UserError
from realtime.runtime.styles import STYLES_DIR_ENV, StyleEntry, list_styles, user_styles_dir

# Card fields shown in the listing, looked up at the card's top level and in its "recipe".
_CARD_FIELDS = ("steps", "image_size", "style_weight", "content_weight")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "styles",
        help="list the available styles",
        description=(
            "List bundled and user styles (name, origin, precision, training, path); with a "
            "NAME, show that style's card: style image, recipe, losses, VGG weights, metrics."
        ),
    )
    parser.add_argument("name", nargs="?", help="a style to show in full")
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
    from realtime.core.model_io import read_model_info

    try:
        return read_model_info(entry.path).precision or "no metadata"
    except UserError as exc:
        # Listed, not hidden: the user should see that a file in their directory is broken.
        return f"unreadable ({exc})"


def _origin(entry: StyleEntry) -> str:
    return "user (shadows bundled)" if entry.shadows_bundled else entry.origin


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(_value(v) for v in value)
    return str(value)


def card_lines(entry: StyleEntry) -> list[str]:
    """The card of one style, one fact per line, for people (the JSON has everything)."""
    card = entry.card or {}
    lines = [f"{entry.name} ({_origin(entry)}, {_precision(entry)}): {entry.path}"]
    if not card:
        return [*lines, "  no card: nothing is known about how this style was trained"]
    style = card.get("style_image") or {}
    recipe = dict(card["recipe"]) if isinstance(card.get("recipe"), dict) else {}
    if "style_size" in recipe and recipe["style_size"] is None:
        recipe["style_size"] = "original"  # the painting was matched at its own size
    retrain = card.get("retrain") if isinstance(card.get("retrain"), dict) else {}
    facts = [
        ("architecture", card.get("arch")),
        ("style image", style.get("path") and f"{style.get('path')} sha256 "
         f"{str(style.get('sha256'))[:12]}, matched at {style.get('size')}"),
        ("style image source", style.get("source")),
        ("dataset", card.get("dataset") and _value(card["dataset"])),
        ("steps", card.get("steps")),
        ("recipe", " ".join(f"{k}={_value(recipe[k])}" for k in (
            "image_size", "batch_size", "style_size", "content_weight", "style_weight",
            "style_layer_weights", "tv_weight", "lr", "lr_schedule", "jitter_max",
        ) if k in recipe)),
        ("device", card.get("device") and f"{card['device']} ({card.get('precision')})"
         + (f", {_value(card['seconds_per_step'])} s/step"
            if isinstance(card.get("seconds_per_step"), float) else "")),
        ("final losses", card.get("final_losses") and _value(card["final_losses"])),
        ("VGG-16 weights", card.get("vgg_weights")),
        ("trained", card.get("date")),
        ("retrain with", retrain.get("command")),
    ]  # fmt: skip
    evaluation = card.get("evaluation")
    if isinstance(evaluation, dict):
        for who in ("ours", "reference"):
            if isinstance(evaluation.get(who), dict):
                facts.append((f"amber.jpg, {who}", _value(evaluation[who])))
    if entry.mixes:
        facts.insert(1, ("mixes", f"{', '.join(entry.mixes)} (--style "
                         f"{entry.mixes[0]}:0.5,{entry.mixes[-1]}:0.5)"))  # fmt: skip
    lines += [f"  {label}: {value}" for label, value in facts if value]
    return lines


def run(args: argparse.Namespace) -> int:
    entries = list_styles()
    if args.name is not None:
        match = [e for e in entries if e.name == args.name]
        if not match:
            known = ", ".join(e.name for e in entries) or "none installed"
            raise UserError(f"unknown style '{args.name}'; known styles: {known}")
        print("\n".join(card_lines(match[0])))
        return 0
    rows = [
        (e.name, _origin(e), _precision(e), ",".join(e.mixes) or "-", card_summary(e.card),
         str(e.path))
        for e in entries
    ]  # fmt: skip
    if rows:
        header = ("NAME", "ORIGIN", "PRECISION", "MIXES", "TRAINING", "PATH")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        for row in [header, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            print("  ".join([*cells, row[-1]]))
    else:
        print("No styles installed.")
    mixable = sorted({style for e in entries for style in e.mixes})
    if mixable:
        print(
            f"Styles that can be mixed: {', '.join(mixable)}; e.g. --style "
            f"{mixable[0]}:0.7,{mixable[-1]}:0.3"
        )
    print(
        f"User styles directory: {user_styles_dir()} (add NAME.onnx, optionally NAME.json; "
        f"set {STYLES_DIR_ENV} to use another directory)"
    )
    return 0
