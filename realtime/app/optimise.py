"""Gatys et al.'s optimisation as a use case (``--style-image``): the option checks, a still
image optimised, and the frame processor of the two video modes. The optimiser itself is
torch-side code, reached through the injected ``TorchSide``."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from realtime.app.build import build_processor, stylizer_for
from realtime.app.torch_side import Optimiser, TorchSide
from realtime.core.config import OptimiseConfig, ProcessConfig, RunConfig
from realtime.core.errors import UserError
from realtime.core.memory import check_fits, optimisation_bytes
from realtime.core.progress import format_duration, progress_bar
from realtime.media.images import read_image
from realtime.media.video_source import VideoInfo
from realtime.runtime.frames import FrameProcessor, output_stages, processing_size, resize

log = logging.getLogger(__name__)

# Default long side for optimisation: Gatys et al.'s results are at about this size, and each
# doubling costs four times the time per step.
OPTIMISE_SIZE = 512


def check_optimise_options(optimise: OptimiseConfig) -> None:
    """An optimisation option that this run would ignore is an error, not a surprise after the
    work is done: the optimiser's settings need --style-image, and the settings of video
    without a network do nothing to --keyframes gatys."""
    if optimise.style_image is None:
        settings = {
            "--steps": optimise.steps,
            "--style-weight": optimise.style_weight,
            "--optimizer": optimise.optimizer,
            "--scales": optimise.scales,
            "--temporal-weight": optimise.temporal_weight,
        }
        for flag, value in settings.items():
            if value is not None:
                raise UserError(
                    f"{flag} sets up optimisation by Gatys et al., which runs only with "
                    f"--style-image PAINTING; add it or drop {flag}"
                )
    if optimise.keyframes == "gatys":
        if optimise.temporal_weight is not None:
            raise UserError(
                "--temporal-weight applies to --style-image without a network; with "
                "--keyframes gatys the temporal stage (--temporal) carries keyframes instead"
            )
        if optimise.keyframe_start != OptimiseConfig.keyframe_start:
            raise UserError(
                "--keyframe-start applies to --style-image without a network; with "
                "--keyframes gatys every keyframe starts from the network's output"
            )


def check_optimise_choice(
    optimise: OptimiseConfig, explicit_style: str | None, video: bool
) -> None:
    """The optimisation options must say one mode; an option that would be ignored is an
    error, not a surprise after hours of work."""
    check_optimise_options(optimise)
    refine = "--keyframes gatys" if video else "--method gatys"
    refining = optimise.keyframes == "gatys" or optimise.method == "gatys"
    if refining and optimise.style_image is None:
        what = "keyframes" if video else "the network's output"
        raise UserError(
            f"{refine} refines {what} towards a painting; give it with --style-image PAINTING"
        )
    if optimise.style_image is not None and not refining and explicit_style:
        raise UserError(
            f"--style {explicit_style} and --style-image: to refine the network's "
            f"{'keyframes' if video else 'output'} add {refine}; to optimise "
            f"{'every frame' if video else 'from the content alone'} without a network drop "
            "--style"
        )
    if optimise.keyframe_interval < 1:
        raise UserError(f"--keyframe-interval must be at least 1, got {optimise.keyframe_interval}")
    if optimise.frame_steps < 1:
        raise UserError(f"--frame-steps must be at least 1, got {optimise.frame_steps}")
    if optimise.style_image is not None and not optimise.style_image.is_file():
        raise UserError(f"style image not found: {optimise.style_image}")


def optimise_process(process: ProcessConfig, width: int, height: int) -> ProcessConfig:
    """Optimisation runs at a long side of OPTIMISE_SIZE unless --size/--scale say otherwise:
    a photograph's full size takes minutes per step on a CPU."""
    if process.size is None and process.scale is None:
        return dataclasses.replace(process, size=min(OPTIMISE_SIZE, max(width, height)))
    return process


def load_optimiser(
    config: RunConfig, preserve_color: bool, size: tuple[int, int], torch: TorchSide
) -> Optimiser:
    """The optimiser for the run's painting, after checking the memory it needs."""
    check_fits(
        optimisation_bytes(*size),
        *size,
        "optimisation (Gatys et al.)",
        "optimise smaller with --size",
    )
    if config.optimise.style_image is None:
        raise UserError("optimisation by Gatys et al. needs --style-image PAINTING")
    painting = read_image(config.optimise.style_image)
    engine = config.engine
    return torch.optimiser(
        config.optimise, preserve_color, engine.device, engine.precision, painting
    )


def stylize_image(
    config: RunConfig, source: np.ndarray, torch: TorchSide
) -> tuple[np.ndarray, str]:
    """``image --style-image``: the optimised image at the output size, and what was done."""
    process = optimise_process(config.process, source.shape[1], source.shape[0])
    width, height = processing_size(source.shape[1], source.shape[0], process)
    optimiser = load_optimiser(config, process.preserve_color, (width, height), torch)
    small = resize(source, (width, height))
    init, how = None, "from the content"
    if config.optimise.method == "gatys":
        network, entry = stylizer_for(config, torch.exporter)
        init = FrameProcessor(network, dataclasses.replace(process, preserve_color=False))(small)
        how = f"refining style {entry.name!r}"
    started = time.perf_counter()
    with _StepProgress(config.progress) as report:
        result = optimiser.stylize(small, init=init, progress=report)
    gatys = optimiser.config
    steps = f"{gatys.steps} steps at full size"
    if init is None and gatys.scales > 1:  # a given start is refined at full size
        steps += f" after {gatys.scales - 1} coarser of {gatys.scales} scales"
    how_weighted = "steered to this painting" if gatys.style_weight is None else "as given"
    steps += f", style weight {optimiser.style_weight:.3g} ({how_weighted})"
    steps += ", bf16" if optimiser.bf16 else ", fp32"
    result = _to_output(result, source, process)
    seconds = time.perf_counter() - started
    return result, f"Gatys {how} at {width}x{height}, {steps}, {seconds:.1f} s"


def _to_output(result: np.ndarray, source: np.ndarray, process: ProcessConfig) -> np.ndarray:
    """The optimised image at the output size with the look stages (colour preservation is
    part of the optimisation, luminance-only transfer, not a stage)."""
    output = process.output_size or (source.shape[1], source.shape[0])
    result = resize(result, output)
    target = resize(source, output)
    for stage in output_stages(dataclasses.replace(process, preserve_color=False)):
        result = stage(result, target)
    return result


class _StepProgress:
    """A progress bar of optimisation steps, opened at the first report (it says the total)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bar = enabled, None

    def __enter__(self) -> Callable[[int, int, float], None]:
        return self.report

    def report(self, step: int, total: int, loss: float) -> None:
        if self.bar is None:
            self.bar = progress_bar(total, "optimising", "steps", enabled=self.enabled)
        self.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        self.bar.update(1)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class OptimisedVideo:
    """The frame processor of a video by optimisation, and what to report."""

    processor: FrameProcessor
    provider: str
    what: str
    close_progress: Callable[[], None]


def video_processor(info: VideoInfo, config: RunConfig, torch: TorchSide) -> OptimisedVideo:
    """The frame processor of the two video modes, with the expected time said up front."""
    optimise = config.optimise
    process = optimise_process(config.process, info.width, info.height)
    width, height = processing_size(info.width, info.height, process)
    alone = optimise.keyframes == "none"
    optimiser = load_optimiser(config, process.preserve_color and alone, (width, height), torch)
    per_step = torch.seconds_per_step(optimiser, np.full((height, width, 3), 128, np.uint8))
    bar = progress_bar(info.frame_count, "optimising", "frames", enabled=config.progress)

    def report(frame: Any) -> None:
        bar.set_postfix(
            last=f"{frame.kind}:{frame.reason}", steps=frame.steps, loss=f"{frame.loss:.4g}",
            refresh=False,
        )  # fmt: skip
        bar.update(1)

    if alone:
        stylize = torch.video_optimiser(
            optimiser, optimise.keyframe_interval, optimise.frame_steps, report,
            optimise.keyframe_start,
        )  # fmt: skip
        # Alone, colour preservation is luminance-only transfer inside the optimisation.
        processor = build_processor(stylize, dataclasses.replace(process, preserve_color=False))
        what = f"Gatys (no network) towards {optimise.style_image.name}"  # type: ignore[union-attr]
        provider = f"torch {optimiser.device.type}"
    else:
        network, entry = stylizer_for(config, torch.exporter)
        refiner = torch.keyframe_refiner(optimiser, optimise.keyframe_interval, report)
        processor = build_processor(
            network, process, source_size=(info.width, info.height), refiners=[refiner]
        )
        what = f"{entry.name!r} with Gatys keyframes towards {optimise.style_image.name}"  # type: ignore[union-attr]
        provider = f"torch {optimiser.device.type} + {network.provider}"
    _announce(info, config, optimiser, per_step, (width, height), torch)
    return OptimisedVideo(processor, provider, what, bar.close)


def _announce(
    info: VideoInfo,
    config: RunConfig,
    optimiser: Optimiser,
    per_step: float,
    size: tuple[int, int],
    torch: TorchSide,
) -> None:
    """Say before hours of work how long it is expected to take."""
    optimise, gatys, frames = config.optimise, optimiser.config, info.frame_count
    alone = optimise.keyframes == "none"
    # In full-size steps: each coarser level has a quarter of the pixels of the next.
    coarse = sum(gatys.coarse_steps / 4**level for level in range(1, gatys.scales))
    keyframe_steps = gatys.steps + (coarse if alone else 0)
    if frames:
        estimate = torch.expected_seconds(
            per_step, frames, optimise.keyframe_interval, keyframe_steps, optimise.frame_steps,
            network_mode=not alone,
        )  # fmt: skip
        expected = f"expected about {format_duration(estimate)} (more with scene cuts)"
    else:
        expected = "the container does not say how many frames, so no time estimate"
    log.info(
        "%s frames at %dx%d, %.2f s per optimisation step; keyframes every %d frames and at "
        "cuts (%d steps)%s: %s",
        frames or "unknown number of", *size, per_step, optimise.keyframe_interval,
        gatys.steps, f", {optimise.frame_steps} steps between" if alone else "", expected,
    )  # fmt: skip
