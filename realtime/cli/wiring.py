"""Where the torch side (models/, export/) is wired into the runtime: only here, in the
command line's layer. The runtime takes these as plain callables and never imports torch
code itself (the import-linter contracts in pyproject.toml hold that)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from realtime.core.config import EngineConfig, OptimiseConfig
from realtime.core.errors import UserError
from realtime.core.extras import missing_message, missing_module
from realtime.runtime.engine import create_session
from realtime.runtime.frames import Stage, Stylize
from realtime.runtime.styles import Exporter


def require_torch(what: str, *also: str) -> None:
    """One line, not a traceback, where torch (or one of ``also``, such as onnxscript) is
    missing: the plain install is the runtime only, and the torch side comes with the
    ``[train]`` extra. Checked before any torch-side import, without importing anything."""
    missing = missing_module("torch", *also)
    if missing is not None:
        raise UserError(missing_message(what, missing))


def parity_session(onnx_path: Path) -> Any:
    """The exporter's parity check runs the model through the runtime's own session factory,
    on the CPU: what the exported file will really meet."""
    session, _ = create_session(onnx_path, EngineConfig(device="cpu"), announce=False)
    return session


def export_pth(pth_path: Path, onnx_path: Path, **options: Any) -> Any:
    """``export.export_checkpoint`` with the runtime's session factory for its parity check."""
    # onnxscript: torch.onnx.export's dynamo path writes the graph with it.
    require_torch(f"exporting {pth_path} to ONNX", "onnxscript")
    from export.onnx_export import export_checkpoint

    return export_checkpoint(pth_path, onnx_path, session_factory=parity_session, **options)


def pth_exporter() -> Exporter:
    """What the style registry calls for ``--style FILE.pth``: export once, report one line."""

    def export(pth_path: Path, onnx_path: Path) -> str:
        return str(export_pth(pth_path, onnx_path).summary())

    return export


class TorchWiring:
    """``realtime.app.torch_side.TorchSide``: the torch side, imported only when called, each
    method first checking that torch is installed (one line naming the extra if not)."""

    @property
    def exporter(self) -> Exporter:
        return pth_exporter()

    def optimiser(
        self,
        optimise: OptimiseConfig,
        preserve_color: bool,
        device: str,
        precision: str,
        painting: np.ndarray,
    ) -> Any:
        require_torch("--style-image (optimisation by Gatys et al.)")
        from models.optimise import load_optimiser

        return load_optimiser(optimise, preserve_color, device, precision, painting)

    def seconds_per_step(self, optimiser: Any, frame: np.ndarray) -> float:
        from models.optimise import seconds_per_step

        return seconds_per_step(optimiser, frame)

    def video_optimiser(
        self,
        optimiser: Any,
        interval: int,
        frame_steps: int,
        report: Callable[[Any], None],
        keyframe_start: str,
    ) -> Stylize:
        from models.gatys_video import GatysVideoStylizer

        return GatysVideoStylizer(
            optimiser, interval, frame_steps, report=report, keyframe_start=keyframe_start
        )

    def keyframe_refiner(
        self, optimiser: Any, interval: int, report: Callable[[Any], None]
    ) -> Stage:
        from models.gatys_video import KeyframeRefiner

        return KeyframeRefiner(optimiser, interval, report=report)

    def expected_seconds(
        self,
        per_step: float,
        frames: int,
        interval: int,
        keyframe_steps: float,
        frame_steps: int,
        network_mode: bool,
    ) -> float:
        from models.gatys_video import expected_seconds

        return expected_seconds(
            per_step, frames, interval, keyframe_steps, frame_steps, network_mode=network_mode
        )

    def eager_baseline(
        self, checkpoint: Path | None, threads: int | None, arch: str
    ) -> Callable[[list[np.ndarray]], float] | None:
        if missing_module("torch") is not None:
            return None  # bench says why in its own line, and measures the rest
        from models.eager import eager_fps

        return lambda frames: eager_fps(frames, checkpoint, threads, arch)
