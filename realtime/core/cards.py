"""Model cards: the JSON that travels with a style network (``NAME.json`` beside ``NAME.pth``
or ``NAME.onnx``) saying what it is and how it was made. One reader, one writer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from realtime.core.errors import UserError
from realtime.core.files import write_bytes_atomic

CARD_FORMAT = "realtime-model-card/1"


def card_path_for(model_path: Path) -> Path:
    """The card beside a model: ``NAME.json`` for ``NAME.pth`` or ``NAME.onnx``."""
    return Path(model_path).with_suffix(".json")


def read_card(model_path: Path) -> dict[str, Any] | None:
    """The card beside ``model_path`` as a dict, None when there is none."""
    path = card_path_for(model_path)
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(
            f"cannot read the model card {path} ({exc}); fix or remove it, it is optional"
        ) from exc
    if not isinstance(card, dict):
        raise UserError(f"model card {path} is not a JSON object; fix or remove it")
    return card


def write_card(path: Path, card: dict[str, Any]) -> None:
    """Write a card atomically (indented, stable key order as given)."""
    write_bytes_atomic(Path(path), (json.dumps(card, indent=1) + "\n").encode("utf-8"))


def card_styles(card: dict[str, Any] | None) -> list[str]:
    """The styles a multi-style network's card lists, in its style-input order ([] if none)."""
    if not card:
        return []
    styles = card.get("styles")
    if isinstance(styles, list):
        return [s["name"] for s in styles if isinstance(s, dict) and isinstance(s.get("name"), str)]
    return []
