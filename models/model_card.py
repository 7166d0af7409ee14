"""The card ``realtime train`` writes beside a network: styles, data, recipe, losses, timing."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from models.data import ImageFolder
from models.lite_net import LITE_SPEC
from models.train_config import SMOOTHING_STEPS, TrainConfig, TrainResult
from models.transformer_net import ARCH_CARD_NAMES
from realtime.core.cards import CARD_FORMAT
from realtime.core.files import sha256_file

if TYPE_CHECKING:
    from models.distill import Teacher


def _style_entry(name: str, path: Path, image: torch.Tensor) -> dict[str, Any]:
    return {
        "name": name,
        "path": str(path),
        "sha256": sha256_file(Path(path)),
        "size": [int(image.shape[-1]), int(image.shape[-2])],  # width, height as matched
    }


def _styles_part(
    config: TrainConfig,
    entries: list[dict[str, Any]],
    base_styles: list[dict[str, Any]] | None,
    teacher: Teacher | None,
) -> dict[str, Any]:
    """What the card says the network paints: ``styles`` for a multi-style network (in the
    order of its style input: weights (N, styles) follow it), else ``style_image``."""
    if base_styles is not None:
        # --add-style: the base's styles keep their places, the new one comes last.
        return {"styles": [*base_styles, *entries], "base": str(config.base)}
    if teacher is not None:
        # A student paints its teacher's styles, under the teacher's names and paintings.
        entries = teacher.style_entries()
        part: dict[str, Any] = {"distilled_from": teacher.provenance()}
        if config.multi_style:
            return {"styles": entries} | part
        # One style of a multi-style teacher, or a single-style teacher's own painting.
        painting = (
            {k: v for k, v in entries[0].items() if k != "name"}
            if entries
            else (teacher.card or {}).get("style_image")
        )
        return ({"style_image": painting} if painting else {}) | part
    if config.multi_style:
        return {"styles": entries}
    if entries:
        return {"style_image": {k: v for k, v in entries[0].items() if k != "name"}}
    return {}


def training_card(
    config: TrainConfig,
    result: TrainResult,
    styles: list[torch.Tensor],
    folder: ImageFolder,
    device: str,
    amp: bool,
    vgg_identity: str,
    base_styles: list[dict[str, Any]] | None = None,
    teacher: Teacher | None = None,
) -> dict[str, Any]:
    entries = [
        _style_entry(Path(path).stem, path, image)
        for path, image in zip(config.style_images, styles, strict=True)
    ]
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "name": config.out.stem,
        "arch": ARCH_CARD_NAMES[config.arch],
        **({"arch_spec": LITE_SPEC.to_json()} if config.arch == "lite" else {}),
    }
    card |= _styles_part(config, entries, base_styles, teacher)
    return card | {
        "dataset": {
            "path": str(config.dataset),
            "images": len(folder.files),
            "skipped": len(folder.skipped),
        },
        "recipe": config.to_json(),
        "seed": config.seed,
        "device": device,
        "precision": "amp-float16" if amp else "float32",
        "steps": result.steps,
        "final_losses": result.final_losses,
        "final_losses_window": min(SMOOTHING_STEPS, result.steps),
        "loss_log": result.loss_log,
        "vgg_weights": vgg_identity,
        "seconds_per_step": result.seconds_per_step,
        "steps_this_run": result.steps - result.start_step,
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
