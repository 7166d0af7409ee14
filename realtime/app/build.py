"""One place that turns a run's configuration into a ready frame processor.

``image``, ``video``, ``webcam``, ``bench`` and ``batch`` all build their stylizer, temporal
stage and output stages here, so a default or a check changes in one place for all of them:

- ``open_stylizer``: the style named (or the run's default one) resolved and loaded into an
  ONNX Runtime session;
- ``temporal_maker``: fresh temporal stages for the configured mode (one per stream: a stage
  keeps state between frames);
- ``build_processor``: stylizer -> [refiners, temporal] at the processing size -> output
  stages at the output size, after checking that the frame size fits in memory.

Each use case (``video``, ``image``, ``live``, ``optimise``) builds its object from these.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from realtime.core.config import (
    DEFAULT_STYLE,
    FAST_PRESET,
    SLOW_PRESET,
    EncodeConfig,
    EngineConfig,
    ProcessConfig,
    RunConfig,
)
from realtime.core.errors import UserError
from realtime.core.model_io import ARCH_LITE
from realtime.runtime.engine import OnnxStylizer
from realtime.runtime.frames import (
    FrameProcessor,
    Stage,
    Stylize,
    clamp_size,
    output_stages,
    processing_size,
)
from realtime.runtime.styles import (
    Exporter,
    StyleEntry,
    cpu_only_reason,
    has_lite,
    is_known,
    is_lite,
    is_style_file,
    list_styles,
    parse_mix,
    resolve_style,
)
from realtime.temporal.stage import check_temporal, temporal_stage

log = logging.getLogger(__name__)


def style_for(config: RunConfig) -> str:
    """The style a run names: the one asked for, else the default."""
    return config.style or DEFAULT_STYLE


def choose_style(config: RunConfig, live: bool = False) -> tuple[str, bool]:
    """(style, whether its lite network paints it). ``--arch auto``: live work without a usable
    NVIDIA GPU takes the lite network where the style has one, and says so with the reason
    and the flag that forces the full one; files keep the full network (quality first)."""
    style = style_for(config)
    if config.arch == "lite" and not is_lite(style) and not is_style_file(style):
        if not has_lite(style) and is_known(style):
            # Quietly painting with the full network would leave a CPU user at a few fps
            # believing the lite network was too slow.
            raise UserError(
                f"--arch lite: {style!r} has no lite network; drop --arch lite to use its full "
                f"network, or train one with 'realtime train --arch lite --teacher {style} ...'"
            )
        return style, True
    if config.arch != "auto" or is_lite(style):
        return style, config.arch == "lite" or is_lite(style)
    if _lite_only(style):
        return style, True
    if not live:
        return style, False
    reason = cpu_only_reason(config.engine)
    if reason is None or not has_lite(style):
        return style, False
    log.info(
        "note: %s: painting %r with its lite network, which runs in real time on a CPU "
        "(30 fps at 640x360 on 2 cores, against 4-9 for the full network even on OpenVINO "
        "in bf16; docs/BENCHMARKS.md); --arch full forces the full network",
        reason,
        style,
    )
    return style, True


def _lite_only(style: str) -> bool:
    """Whether only lite networks paint the style named (one added to a lite network from the
    panel): every run takes it, as there is no full one. A mix takes whichever network mixes
    it already (``resolve_style``)."""
    if is_style_file(style) or parse_mix(style) is not None:
        return False
    entries = list_styles()
    full = any(e.name == style or (style in e.mixes and not is_lite(e.name)) for e in entries)
    return not full and has_lite(style)


def stylizer_for(
    config: RunConfig, exporter: Exporter | None = None, live: bool = False, announce: bool = True
) -> tuple[OnnxStylizer, StyleEntry]:
    """The run's style (chosen by ``choose_style``) loaded into its session."""
    style, lite = choose_style(config, live)
    return open_stylizer(style, config.engine, exporter, announce, lite)


# Frames stylized at once on a GPU: while one is on the device, the host resizes, warps and
# encodes around the other, and the GPU does not wait for it (each thread has its own device
# buffers: realtime.runtime.binding). More would only queue on the device.
GPU_FRAMES_IN_FLIGHT = 2


@dataclass(frozen=True)
class ThreadPlan:
    """How a whole-file run uses the machine's cores, set together (docs/BENCHMARKS.md
    "Splitting the cores"): on the CPU, one single-threaded inference per core, each on its
    own frame, beats one inference on every core (a small network's operators do not scale
    across threads), and the decoder and x264 take one thread each instead of a pool each
    competing with inference. On a GPU two frames are in flight and the codecs take what
    they like. Planned before the session exists (``throughput_plan``) and settled once its
    provider is known (``settle_plan``): ``--device auto`` may land on either."""

    inference_threads: int | None  # ONNX Runtime intra-op threads per inference
    inference_workers: int  # frames stylized at once
    decode_threads: int  # 0: FFmpeg's own choice
    encode_threads: int  # 0: x264's own choice


def throughput_plan(config: RunConfig, cores: int | None = None) -> ThreadPlan:
    """The plan for ``video``, ``demo``, ``batch`` and the bench's end-to-end run, before the
    session exists: a GPU plan for ``cuda``/``tensorrt``, the CPU's otherwise (``auto`` is
    settled by ``settle_plan`` once the session has its provider)."""
    cores = cores or os.cpu_count() or 1
    if config.engine.device in ("cuda", "tensorrt"):
        return _gpu_plan(config)
    threads = config.engine.threads or 1
    return ThreadPlan(
        inference_threads=threads,
        inference_workers=max(1, cores // threads),
        decode_threads=1,
        encode_threads=config.encode.threads or 1,
    )


def _gpu_plan(config: RunConfig) -> ThreadPlan:
    return ThreadPlan(config.engine.threads, GPU_FRAMES_IN_FLIGHT, 0, config.encode.threads)


def settle_plan(plan: ThreadPlan, config: RunConfig, stylizer: OnnxStylizer) -> ThreadPlan:
    """The plan once ``stylizer``'s session exists: the GPU plan when it runs on a GPU (the
    decoder and x264 then take their own thread pools), ``plan`` as it was on the CPU.
    ``config``: the run's settings as asked, before ``apply_plan``."""
    return _gpu_plan(config) if stylizer.on_gpu else plan


def apply_plan(config: RunConfig, plan: ThreadPlan) -> RunConfig:
    """``config`` with the plan's thread counts in its engine and encoder settings."""
    return dataclasses.replace(
        config,
        engine=dataclasses.replace(config.engine, threads=plan.inference_threads),
        encode=dataclasses.replace(config.encode, threads=plan.encode_threads),
    )


def encode_for(encode: EncodeConfig, stylizer: OnnxStylizer) -> EncodeConfig:
    """``--preset auto`` settled for this network: x264 must not be the bottleneck."""
    if encode.preset != "auto":
        return encode
    fast = stylizer.info.arch == ARCH_LITE or stylizer.on_gpu
    return dataclasses.replace(encode, preset=FAST_PRESET if fast else SLOW_PRESET)


def open_stylizer(
    style: str,
    engine: EngineConfig,
    exporter: Exporter | None = None,
    announce: bool = True,
    lite: bool = False,
) -> tuple[OnnxStylizer, StyleEntry]:
    """``--style`` resolved (bundled, user, .onnx, or .pth through ``exporter``; its lite
    network with ``lite``) and loaded."""
    entry = resolve_style(style, engine, exporter, lite)
    stylizer = OnnxStylizer(entry.path, engine, style_name=entry.name, announce=announce)
    if entry.mix:
        stylizer.set_mix(entry.mix)
    return stylizer, entry


def temporal_maker(process: ProcessConfig, fast: bool = False) -> Callable[[], Stage | None]:
    """A maker of fresh temporal stages for ``process`` (None from it: off), the ``fast``
    ones where the frame budget is tight (realtime.temporal.stage.FAST). Checked now."""
    check_temporal(process.temporal, process.temporal_strength)
    return lambda: temporal_stage(process.temporal, process.temporal_strength, fast=fast)


def check_processing_size(
    stylize: Stylize,
    process: ProcessConfig,
    source_size: tuple[int, int],
    workers: int = 1,
    warm: bool = True,
) -> None:
    """The processing size for a source of ``source_size`` (width, height): too small, or too
    large for this machine's memory with ``workers`` frames at once, fails before any frame.
    A network whose engine takes a bounded size (TensorRT) stylizes at most that, said once
    here. With ``warm``, a GPU session then runs one frame of that size (``warm_up``): here,
    where the session was made, and not at the first frame of a live loop."""
    asked = processing_size(*source_size, process)
    width, height = clamp_size(asked, getattr(stylize, "max_side", None))
    if (width, height) != asked:
        log.info(
            "note: TensorRT's engine takes frames up to %d px on the long side: stylizing at "
            "%dx%d instead of %dx%d (--device cuda takes any size)",
            max(width, height), width, height, *asked,
        )  # fmt: skip
    check_memory = getattr(stylize, "check_memory", None)
    if check_memory is not None:
        check_memory(width, height, workers)
    warm_up = getattr(stylize, "warm_up", None)
    if warm and warm_up is not None:
        warm_up(width, height)


def build_processor(
    stylize: Stylize,
    process: ProcessConfig,
    source_size: tuple[int, int] | None = None,
    refiners: Sequence[Stage] = (),
    still: bool = False,
    workers: int = 1,
    fast_temporal: bool = False,
) -> FrameProcessor:
    """The frame processor of one stream: ``stylize`` at the processing size, then
    ``refiners`` and the temporal stage, then the look stages at the output size.

    With ``source_size`` the processing size is checked now, and a GPU session warmed up at it
    (``check_processing_size``). A ``still`` image has no temporal stage (there is no previous
    frame to be consistent with) and no warm-up (its one frame is the work). ``fast_temporal``:
    the temporal stage that keeps up with a GPU (a CPU's network leaves time for the sharper
    one). A live run builds its own, with stages it can change by name (``realtime.app.live``).
    """
    if source_size is not None:
        check_processing_size(stylize, process, source_size, workers, warm=not still)
    temporal = None if still else temporal_maker(process, fast_temporal)()
    at_process_size = [*refiners, *([temporal] if temporal is not None else [])]
    return FrameProcessor(
        stylize,
        process,
        at_process_size=at_process_size,
        at_output_size=output_stages(process),
    )
