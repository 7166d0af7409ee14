"""One place that turns a run's configuration into a ready frame processor.

``image``, ``video``, ``webcam``, ``bench`` and ``batch`` all build their stylizer, temporal
stage and output stages here, so a default or a check changes in one place for all of them:

- ``open_stylizer``: the style named (or the run's default one) resolved and loaded into an
  ONNX Runtime session;
- ``temporal_maker``: fresh temporal stages for the configured mode (one per stream: a stage
  keeps state between frames);
- ``build_processor``: stylizer -> [refiners, temporal] at the processing size -> output
  stages at the output size, after checking that the frame size fits in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from realtime.core.config import DEFAULT_STYLE, EngineConfig, ProcessConfig, RunConfig
from realtime.runtime.engine import OnnxStylizer
from realtime.runtime.frames import (
    FrameProcessor,
    PreserveColor,
    Stage,
    Strength,
    Stylize,
    output_stages,
    processing_size,
)
from realtime.runtime.styles import Exporter, StyleEntry, default_live_style, resolve_style
from realtime.temporal.stage import check_temporal, temporal_stage

log = logging.getLogger(__name__)


def style_for(config: RunConfig, live: bool = False) -> str:
    """The style a run uses: the one named, else the default (live on a CPU: its lite one)."""
    if config.style is not None:
        return config.style
    name, note = default_live_style(config.engine) if live else (None, None)
    if note:
        log.info("note: %s", note)
    return name or DEFAULT_STYLE


def open_stylizer(
    style: str,
    engine: EngineConfig,
    exporter: Exporter | None = None,
    announce: bool = True,
) -> tuple[OnnxStylizer, StyleEntry]:
    """``--style`` resolved (bundled, user, .onnx, or .pth through ``exporter``) and loaded."""
    entry = resolve_style(style, engine, exporter)
    stylizer = OnnxStylizer(entry.path, engine, style_name=entry.name, announce=announce)
    return stylizer, entry


def temporal_maker(process: ProcessConfig) -> Callable[[], Stage | None]:
    """A maker of fresh temporal stages for ``process`` (None from it: off). Checked now."""
    check_temporal(process.temporal, process.temporal_strength)
    return lambda: temporal_stage(process.temporal, process.temporal_strength)


def look_stages(process: ProcessConfig, live: bool = False) -> list[Stage]:
    """The stages at the output size. Live runs always get a Strength stage, so the +/-
    keys can change it while the camera runs."""
    if not live:
        return output_stages(process)
    stages: list[Stage] = [PreserveColor()] if process.preserve_color else []
    stages.append(Strength(process.strength))
    return stages


def build_processor(
    stylize: Stylize,
    process: ProcessConfig,
    source_size: tuple[int, int] | None = None,
    refiners: Sequence[Stage] = (),
    live: bool = False,
    still: bool = False,
) -> FrameProcessor:
    """The frame processor of one stream: ``stylize`` at the processing size, then
    ``refiners`` and the temporal stage, then the look stages at the output size.

    With ``source_size`` (the input's width, height) the processing size is checked now: too
    small, or too large for this machine's memory, fails before any frame. A ``still`` image
    has no temporal stage: there is no previous frame to be consistent with.
    """
    if source_size is not None:
        width, height = processing_size(*source_size, process)
        check_memory = getattr(stylize, "check_memory", None)
        if check_memory is not None:
            check_memory(width, height)
    temporal = None if still else temporal_maker(process)()
    at_process_size = [*refiners, *([temporal] if temporal is not None else [])]
    return FrameProcessor(
        stylize,
        process,
        at_process_size=at_process_size,
        at_output_size=look_stages(process, live),
    )
