"""The ``metadata_props`` an exported model carries, and the training card they come from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx

from realtime.core import model_io
from realtime.core.errors import UserError


def style_name_for(pth_path: Path, card: dict[str, Any] | None, explicit: str | None) -> str:
    """``--style-name``, else the card's ``style_name``/``name``, else the ``.pth`` stem."""
    name = explicit
    if name is None and card is not None:
        name = next((card[k] for k in ("style_name", "name") if isinstance(card.get(k), str)), None)
    if name is None:
        name = Path(pth_path).stem
    if not name.strip() or "\n" in name or "\r" in name:
        raise UserError(f"style name {name!r} is empty or spans lines; give --style-name NAME")
    return name.strip()


def build_metadata(
    style: str,
    precision: str,
    card: dict[str, Any] | None = None,
    source_sha256: str | None = None,
    arch: str = model_io.ARCH,
    min_side: int = model_io.MIN_SIDE,
    io: str = "float32",
    styles: list[str] | None = None,
) -> dict[str, str]:
    if precision not in model_io.PRECISIONS:
        raise ValueError(f"precision must be one of {model_io.PRECISIONS}, not {precision!r}")
    metadata = {
        model_io.KEY_FORMAT: model_io.FORMAT,
        model_io.KEY_IO: json.dumps(model_io.io_convention(min_side, io), sort_keys=True),
        model_io.KEY_STYLE: style,
        model_io.KEY_ARCH: arch,
        model_io.KEY_PRECISION: precision,
    }
    if card is not None:
        metadata[model_io.KEY_CARD] = json.dumps(card, sort_keys=True)
    if styles:
        metadata[model_io.KEY_STYLES] = json.dumps(styles)
    if source_sha256 is not None:
        metadata[model_io.KEY_SOURCE_SHA256] = source_sha256
    return metadata


def write_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> None:
    """Set ``metadata`` on ``model`` in place, replacing entries with the same keys."""
    kept = [p for p in model.metadata_props if p.key not in metadata]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
