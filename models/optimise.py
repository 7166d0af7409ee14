"""From the command line's ``OptimiseConfig`` to a ready ``GatysStylizer``: the torch device,
the VGG-16 weights, the painting, and the optimiser's settings."""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import torch

from models.gatys import GatysConfig, GatysStylizer
from models.vgg import load_vgg16
from realtime.core.config import OptimiseConfig
from realtime.core.errors import UserError

log = logging.getLogger(__name__)


def torch_device(device: str) -> torch.device:
    """``--device`` (auto|cpu|cuda|tensorrt) as a torch device; the optimiser runs in torch,
    so TensorRT means its GPU. An explicit GPU request fails when there is none."""
    if device == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if device == "auto":
        return torch.device("cpu")
    raise UserError(
        f"--device {device}: torch sees no CUDA GPU (torch {torch.__version__}, "
        f"CUDA build {torch.version.cuda or 'none'}); use --device cpu or auto"
    )


def gatys_config(
    optimise: OptimiseConfig, preserve_color: bool, precision: str = "auto"
) -> GatysConfig:
    """The optimiser's defaults with what the command line overrides."""
    changes: dict[str, object] = {"preserve_color": preserve_color, "precision": precision}
    if optimise.steps is not None:
        changes["steps"] = optimise.steps
    for name in ("temporal_weight", "style_weight", "optimizer", "scales"):
        value = getattr(optimise, name)
        if value is not None:
            changes[name] = value
    config = dataclasses.replace(GatysConfig(), **changes)
    config.check()
    return config


def load_optimiser(
    optimise: OptimiseConfig,
    preserve_color: bool,
    device: str,
    precision: str,
    painting: np.ndarray,
) -> GatysStylizer:
    """A GatysStylizer for ``painting`` (uint8 RGB) with the shared VGG-16 features."""
    config = gatys_config(optimise, preserve_color, precision)
    target = torch_device(device)
    vgg, identity = load_vgg16(optimise.vgg_weights)
    stylizer = GatysStylizer(vgg.to(target), painting, config, target)
    precision = "bf16" if stylizer.bf16 else "fp32"
    log.info("optimising on %s in %s with VGG-16 weights %s", target.type, precision, identity)
    return stylizer


def seconds_per_step(optimiser: GatysStylizer, frame: np.ndarray, steps: int = 3) -> float:
    """Time a few full-size steps on ``frame``, to say before a long run how long it takes.

    The first step also warms up allocations, so one more step than timed is run."""
    optimiser.stylize(frame, init=frame, steps=1)
    started = time.perf_counter()
    optimiser.stylize(frame, init=frame, steps=steps)
    return (time.perf_counter() - started) / steps
