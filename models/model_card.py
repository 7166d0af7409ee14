"""The card ``realtime train`` writes beside a network: styles, data, recipe, losses, timing."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import torch

from models.data import ImageFolder
from models.lite_net import LITE_SPEC
from models.train_config import SMOOTHING_STEPS, TrainConfig, TrainResult, style_names
from models.transformer_net import ARCH_CARD_NAMES
from realtime.core.cards import CARD_FORMAT
from realtime.core.files import sha256_file


def _style_entry(name: str, path: Path, image: torch.Tensor) -> dict[str, Any]:
    return {
        "name": name,
        "path": str(path),
        "sha256": sha256_file(Path(path)),
        "size": [int(image.shape[-1]), int(image.shape[-2])],  # width, height as matched
    }


def training_card(
    config: TrainConfig,
    result: TrainResult,
    styles: list[torch.Tensor],
    folder: ImageFolder,
    device: str,
    amp: bool,
    vgg_identity: str,
    base_styles: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    entries = [
        _style_entry(name, path, image)
        for name, path, image in zip(style_names(config), config.style_images, styles, strict=True)
    ]
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "name": config.out.stem,
        "arch": ARCH_CARD_NAMES[config.arch],
        **({"arch_spec": LITE_SPEC.to_json()} if config.arch == "lite" else {}),
    }
    if base_styles is not None:
        # --add-style: the base's styles keep their places, the new one comes last.
        card["styles"] = [*base_styles, *entries]
        card["base"] = str(config.base)
    elif config.multi_style:
        # The order is the network's style input: weights (N, styles) follow it.
        card["styles"] = entries
    elif entries:
        card["style_image"] = {k: v for k, v in entries[0].items() if k != "name"}
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
