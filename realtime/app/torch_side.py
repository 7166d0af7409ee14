"""What the use cases need from the torch side (``models/``, ``export/``), as one interface.

The runtime never imports torch code: the command line builds the one implementation
(``realtime.cli.wiring.TorchWiring``) and hands it to a use case, which calls it only for
what needs torch (a ``.pth`` style, Gatys et al.'s optimisation, the PyTorch eager baseline).
Without torch installed, each method answers with one line naming the extra to install.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from realtime.core.config import OptimiseConfig
from realtime.runtime.frames import Stage, Stylize
from realtime.runtime.styles import Exporter


class Optimiser(Protocol):
    """Gatys et al.'s optimiser for one painting (``models.gatys.GatysStylizer``)."""

    config: Any  # models.gatys.GatysConfig: steps, scales, coarse_steps
    device: Any  # torch.device
    bf16: bool  # the optimisation's VGG passes in bfloat16
    style_weight: float | None  # fixed, or steered on the first image (None before it)

    def stylize(
        self,
        content: np.ndarray,
        init: np.ndarray | None = None,
        progress: Callable[[int, int, float], None] | None = None,
    ) -> np.ndarray: ...


class TorchSide(Protocol):
    """The torch-side operations a use case may call."""

    @property
    def exporter(self) -> Exporter:
        """Exports ``--style FILE.pth`` to ONNX for the style registry."""
        ...

    def optimiser(
        self,
        optimise: OptimiseConfig,
        preserve_color: bool,
        device: str,
        precision: str,
        painting: np.ndarray,
    ) -> Optimiser:
        """The optimiser towards ``painting`` (``--style-image``); ``precision`` is
        ``--precision`` (auto: bf16 where the CPU computes it natively)."""
        ...

    def seconds_per_step(self, optimiser: Optimiser, frame: np.ndarray) -> float:
        """One optimisation step on a frame of this size, measured."""
        ...

    def video_optimiser(
        self,
        optimiser: Optimiser,
        interval: int,
        frame_steps: int,
        report: Callable[[Any], None],
        keyframe_start: str,
    ) -> Stylize:
        """Video by optimisation alone: keyframes in full, the frames between refined."""
        ...

    def keyframe_refiner(
        self, optimiser: Optimiser, interval: int, report: Callable[[Any], None]
    ) -> Stage:
        """A network's keyframes refined by optimisation (``--keyframes gatys``)."""
        ...

    def expected_seconds(
        self,
        per_step: float,
        frames: int,
        interval: int,
        keyframe_steps: float,
        frame_steps: int,
        network_mode: bool,
    ) -> float:
        """How long video by optimisation will take, said before it starts."""
        ...

    def eager_baseline(
        self, checkpoint: Path | None, threads: int | None, arch: str
    ) -> Callable[[list[np.ndarray]], float] | None:
        """PyTorch eager fps of the same network (``bench``), or None without torch."""
        ...
