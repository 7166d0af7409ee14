"""``realtime video`` (and ``demo``) as a use case: a whole file stylized, every frame, with
its sound; by a network, or by Gatys et al.'s optimisation (``--style-image``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from realtime.app.build import (
    ThreadPlan,
    apply_plan,
    build_processor,
    encode_for,
    settle_plan,
    stylizer_for,
    throughput_plan,
)
from realtime.app.optimise import check_optimise_choice, video_processor
from realtime.app.torch_side import TorchSide
from realtime.core.config import RunConfig
from realtime.media.video_file import VideoResult, check_paths, stylize_video
from realtime.media.video_sink import check_encode_config
from realtime.media.video_source import VideoInfo, probe_video
from realtime.runtime.frames import FrameProcessor


@dataclass
class VideoJob:
    """A file ready to stylize: the processor and how the run uses the machine."""

    source: Path
    output: Path
    config: RunConfig  # with the thread plan and the settled --preset auto
    processor: FrameProcessor
    plan: ThreadPlan
    workers: int  # frames stylized at once
    provider: str  # where the network (or the optimiser) runs
    what: str  # the style, or the optimisation, in words
    # Optimisation reports each frame itself (steps, loss); its bar is closed after the run.
    close_progress: Callable[[], None] | None = None


@dataclass
class VideoOutcome:
    result: VideoResult
    provider: str
    what: str


def prepare_video(
    config: RunConfig,
    source: Path,
    output: Path,
    torch: TorchSide,
    explicit_style: str | None = None,
) -> VideoJob:
    """Check everything cheap first (a typo in a path should not wait for a model), then load
    the network or the optimiser. ``explicit_style``: the --style the user typed, if any."""
    plan = throughput_plan(config)
    planned = apply_plan(config, plan)
    check_paths(source, output)
    check_encode_config(planned.encode)
    check_optimise_choice(planned.optimise, explicit_style, video=True)
    info = probe_video(source)
    if planned.optimise.style_image is not None:
        optimised = video_processor(info, planned, torch)
        return VideoJob(
            source, output, planned, optimised.processor, plan, 1, optimised.provider,
            optimised.what, optimised.close_progress,
        )  # fmt: skip
    return _network_job(info, config, plan, source, output, torch)


def _network_job(
    info: VideoInfo,
    config: RunConfig,
    plan: ThreadPlan,
    source: Path,
    output: Path,
    torch: TorchSide,
) -> VideoJob:
    """``config``: as asked (the plan is applied here, and settled once the session exists:
    ``--device auto`` may land on a GPU or the CPU)."""
    stylizer, entry = stylizer_for(apply_plan(config, plan), torch.exporter)
    plan = settle_plan(plan, config, stylizer)
    config = apply_plan(config, plan)
    workers = plan.inference_workers
    processor = build_processor(
        stylizer,
        config.process,
        source_size=(info.width, info.height),
        workers=workers,
        fast_temporal=stylizer.on_gpu,
    )
    config = dataclasses.replace(config, encode=encode_for(config.encode, stylizer))
    return VideoJob(
        source, output, config, processor, plan, workers, stylizer.provider,
        f"style {entry.name!r}",
    )  # fmt: skip


def run_video(job: VideoJob) -> VideoOutcome:
    """Decode, stylize and encode in threads; the result says what was written."""
    processor = job.processor
    try:
        result = stylize_video(
            job.source,
            job.output,
            processor,
            lambda w, h: processor.sizes(w, h)[1],
            job.config.encode,
            queue_size=job.config.queue_size,
            show_progress=job.config.progress and job.close_progress is None,
            decode_threads=job.plan.decode_threads,
            workers=job.workers,
        )
    finally:
        if job.close_progress is not None:
            job.close_progress()
    return VideoOutcome(result, job.provider, job.what)
