"""The command line's side of Gatys et al.'s optimisation (``--style-image``): checking the
options, building the optimiser (torch-side, ``models``) and the frame processors that use it.
Here, in the command line's layer, because it wires torch code into the runtime's pipeline."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from realtime.app.build import build_processor, stylizer_for
from realtime.cli.options import check_optimise_options
from realtime.cli.wiring import pth_exporter, require_torch
from realtime.core.config import OptimiseConfig, ProcessConfig, RunConfig
from realtime.core.errors import UserError
from realtime.core.memory import check_fits, optimisation_bytes
from realtime.core.progress import format_duration, progress_bar
from realtime.media.images import read_image
from realtime.runtime.frames import FrameProcessor, output_stages, processing_size, resize

if TYPE_CHECKING:
    from models.gatys import GatysStylizer

log = logging.getLogger(__name__)

# Default long side for optimisation: Gatys et al.'s results are at about this size, and each
# doubling costs four times the time per step.
OPTIMISE_SIZE = 512


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


def load_optimiser(config: RunConfig, preserve_color: bool, size: tuple[int, int]) -> GatysStylizer:
    """The torch-side optimiser for the run's painting, after checking the memory it needs."""
    require_torch("--style-image (optimisation by Gatys et al.)")
    from models.optimise import load_optimiser as load

    check_fits(
        optimisation_bytes(*size),
        *size,
        "optimisation (Gatys et al.)",
        "optimise smaller with --size",
    )
    painting = read_image(config.optimise.style_image)
    return load(config.optimise, preserve_color, config.engine.device, painting)


def stylize_image(config: RunConfig, source: np.ndarray) -> tuple[np.ndarray, str]:
    """``image --style-image``: the optimised image at the output size, and what was done."""
    process = optimise_process(config.process, source.shape[1], source.shape[0])
    # Colour preservation is part of the optimisation (luminance-only transfer), not a stage.
    stages = output_stages(dataclasses.replace(process, preserve_color=False))
    width, height = processing_size(source.shape[1], source.shape[0], process)
    optimiser = load_optimiser(config, process.preserve_color, (width, height))
    small = resize(source, (width, height))
    init, how = None, "from the content"
    if config.optimise.method == "gatys":
        network, entry = stylizer_for(config, pth_exporter())
        init = FrameProcessor(network, dataclasses.replace(process, preserve_color=False))(small)
        how = f"refining style {entry.name!r}"
    bar: Any = None

    def report(step: int, total: int, loss: float) -> None:
        nonlocal bar
        if bar is None:
            bar = progress_bar(total, "optimising", "steps", enabled=config.progress)
        bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        bar.update(1)

    started = time.perf_counter()
    result = optimiser.stylize(small, init=init, progress=report)
    if bar is not None:
        bar.close()
    gatys = optimiser.config
    steps = f"{gatys.steps} steps at full size"
    if init is None and gatys.scales > 1:  # a given start is refined at full size
        steps += f" after {gatys.scales - 1} coarser of {gatys.scales} scales"
    output = process.output_size or (source.shape[1], source.shape[0])
    result = resize(result, output)
    target = resize(source, output)
    for stage in stages:
        result = stage(result, target)
    seconds = time.perf_counter() - started
    return result, f"Gatys {how} at {width}x{height}, {steps}, {seconds:.1f} s"


def video_processor(
    info: Any, config: RunConfig
) -> tuple[FrameProcessor, str, str, Callable[[], None]]:
    """The frame processor of the two video modes, with the expected time said up front.

    Returns (processor, device description, what is done, a function closing the progress).
    """
    from models.gatys_video import GatysVideoStylizer, KeyframeRefiner, expected_seconds
    from models.optimise import seconds_per_step

    optimise = config.optimise
    process = optimise_process(config.process, info.width, info.height)
    width, height = processing_size(info.width, info.height, process)
    alone = optimise.keyframes == "none"
    optimiser = load_optimiser(config, process.preserve_color and alone, (width, height))
    per_step = seconds_per_step(optimiser, np.full((height, width, 3), 128, np.uint8))
    frames = info.frame_count
    bar = progress_bar(frames, "optimising", "frames", enabled=config.progress)

    def report(frame: Any) -> None:
        bar.set_postfix(
            last=f"{frame.kind}:{frame.reason}", steps=frame.steps, loss=f"{frame.loss:.4g}",
            refresh=False,
        )  # fmt: skip
        bar.update(1)

    network = None
    if alone:
        stylize = GatysVideoStylizer(
            optimiser,
            optimise.keyframe_interval,
            optimise.frame_steps,
            report=report,
            keyframe_start=optimise.keyframe_start,
        )
        # Alone, colour preservation is luminance-only transfer inside the optimisation.
        look = dataclasses.replace(process, preserve_color=False)
        processor = build_processor(stylize, look)
        what = f"Gatys (no network) towards {optimise.style_image.name}"
    else:
        network, entry = stylizer_for(config, pth_exporter())
        refiner = KeyframeRefiner(optimiser, optimise.keyframe_interval, report=report)
        processor = build_processor(
            network, process, source_size=(info.width, info.height), refiners=[refiner]
        )
        what = f"{entry.name!r} with Gatys keyframes towards {optimise.style_image.name}"
    gatys = optimiser.config
    # In full-size steps: each coarser level has a quarter of the pixels of the next.
    coarse = sum(gatys.coarse_steps / 4**level for level in range(1, gatys.scales))
    keyframe_steps = gatys.steps + (coarse if alone else 0)
    if frames:
        estimate = expected_seconds(
            per_step, frames, optimise.keyframe_interval, keyframe_steps, optimise.frame_steps,
            network_mode=not alone,
        )  # fmt: skip
        expected = f"expected about {format_duration(estimate)} (more with scene cuts)"
    else:
        expected = "the container does not say how many frames, so no time estimate"
    log.info(
        "%s frames at %dx%d, %.2f s per optimisation step; keyframes every %d frames and at "
        "cuts (%d steps)%s: %s",
        frames or "unknown number of", width, height, per_step, optimise.keyframe_interval,
        gatys.steps, f", {optimise.frame_steps} steps between" if alone else "", expected,
    )  # fmt: skip
    provider = f"torch {optimiser.device.type}" + (
        f" + {network.provider}" if network is not None else ""
    )
    return processor, provider, what, bar.close
