"""``realtime video IN OUT``: stylize a whole file, every frame, with its sound."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from realtime.commands.options import (
    add_encode_options,
    add_engine_options,
    add_optimise_options,
    add_process_options,
    add_style_options,
    add_temporal_options,
    check_optimise_options,
    run_config,
)
from realtime.config import RunConfig
from realtime.errors import EXIT_DAMAGED_INPUT, EXIT_INTERRUPTED, EXIT_OK, UserError
from realtime.files import disk_full_error, human_bytes
from realtime.progress import Progress

if TYPE_CHECKING:
    from realtime.frames import FrameProcessor


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "video",
        help="stylize a video file (every frame, audio kept)",
        description="Stylize every frame of a video file. Frame count, frame rate, timestamps "
        "and audio are kept. Exit codes: 0 done; 2 bad input; 3 done, but the input had a "
        "corrupt or truncated tail (every decodable frame was written); 130 interrupted "
        "(the frames done so far are in NAME.partial.EXT).",
    )
    parser.add_argument("input", type=Path, help="input video (any container FFmpeg reads)")
    parser.add_argument("output", type=Path, help="output video, e.g. out.mp4 or out.mkv")
    add_style_options(parser)
    add_engine_options(parser)
    add_process_options(parser)
    add_temporal_options(parser, default="flow; off for --style-image alone")
    add_encode_options(parser)
    add_optimise_options(parser, video=True)
    parser.add_argument(
        "--queue-size", type=int, default=8, help="frames buffered between stages (default: 8)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from realtime.frames import FrameProcessor, output_stages
    from realtime.pipeline import check_paths, stylize_video
    from realtime.temporal import temporal_stage
    from realtime.video_sink import check_encode_config

    config = run_config(args)
    # Cheap checks first: a typo in a path should not wait for a model to load.
    check_paths(args.input, args.output)
    check_encode_config(config.encode)
    optimise = config.optimise
    _check_optimise_choice(args, config)
    if optimise.style_image is not None:
        processor, provider, style_name, progress = _optimising_processor(args.input, config)
    else:
        from realtime.engine import OnnxStylizer
        from realtime.style_registry import resolve_style

        stages = output_stages(config.process)
        # Validated before the model loads; one stage per file, since it keeps state.
        temporal = temporal_stage(config.process.temporal, config.process.temporal_strength)
        style = resolve_style(config.style, config.engine)
        stylizer = OnnxStylizer(style.path, config.engine, style_name=style.name)
        stylizer.check_memory(*_processing_size_of(args.input, config))
        processor = FrameProcessor(
            stylizer,
            config.process,
            at_process_size=[temporal] if temporal else [],
            at_output_size=stages,
        )
        provider, style_name, progress = stylizer.provider, repr(style.name), None
    result = stylize_video(
        args.input,
        args.output,
        processor,
        lambda w, h: processor.sizes(w, h)[1],
        config.encode,
        queue_size=config.queue_size,
        # Optimisation reports each frame itself, with its steps and loss.
        show_progress=config.progress and progress is None,
    )
    if progress is not None:
        progress.close()
    for notice in result.notices:
        print(f"realtime: note: {notice}", file=sys.stderr)
    info = result.info
    if result.disk_full:
        of = f" of {info.frame_count}" if info and info.frame_count else ""
        kept = (
            f"{result.frames_written}{of} frames ({human_bytes(result.bytes_written)}) "
            f"finalised in {result.output}"
            if result.output
            else "no frame could be kept"
        )
        raise disk_full_error(args.output, kept)
    where = result.output if result.output else "no output (no frame was finished)"
    print(
        f"{result.frames_written} frames"
        + (f" of {info.frame_count}" if info and info.frame_count else "")
        + f" in {result.seconds:.1f} s ({result.fps:.2f} fps) with style {style_name} "
        f"on {provider} -> {where}",
        file=sys.stderr,
    )
    if result.interrupted:
        print("realtime: interrupted: the frames done so far were finalised", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.damaged:
        print(
            f"realtime: warning: input damaged ({result.damaged}); every decodable frame "
            "was written",
            file=sys.stderr,
        )
        return EXIT_DAMAGED_INPUT
    return EXIT_OK


def _processing_size_of(path: Path, config: RunConfig) -> tuple[int, int]:
    """The size the network sees for this file's frames (from its header, not decoded)."""
    from realtime.frames import processing_size
    from realtime.video_source import VideoFileSource

    source = VideoFileSource(path)
    try:
        return processing_size(source.info.width, source.info.height, config.process)
    finally:
        source.close()


def _check_optimise_choice(args: argparse.Namespace, config: RunConfig) -> None:
    """The optimisation options must say one mode; an option that would be ignored is an
    error, not a surprise after hours of work."""
    optimise = config.optimise
    check_optimise_options(optimise)
    if optimise.keyframes == "gatys" and optimise.style_image is None:
        raise UserError(
            "--keyframes gatys refines keyframes towards a painting; give it with "
            "--style-image PAINTING"
        )
    if optimise.style_image is not None and optimise.keyframes == "none" and args.style:
        raise UserError(
            f"--style {args.style} and --style-image: to refine the network's keyframes add "
            "--keyframes gatys; to optimise every frame without a network drop --style"
        )
    if optimise.keyframe_interval < 1:
        raise UserError(f"--keyframe-interval must be at least 1, got {optimise.keyframe_interval}")
    if optimise.frame_steps < 1:
        raise UserError(f"--frame-steps must be at least 1, got {optimise.frame_steps}")
    if optimise.style_image is not None and not optimise.style_image.is_file():
        raise UserError(f"style image not found: {optimise.style_image}")


def _optimising_processor(
    input_path: Path, config: RunConfig
) -> tuple[FrameProcessor, str, str, Progress]:
    """The frame processor of the two Gatys modes, with the expected time said up front.

    Returns (processor, device description, style description, per-frame progress)."""
    import dataclasses

    import numpy as np

    from models.gatys_video import (
        FrameReport,
        GatysVideoStylizer,
        KeyframeRefiner,
        expected_seconds,
    )
    from models.optimise import load_optimiser, seconds_per_step
    from realtime.commands.image import OPTIMISE_SIZE
    from realtime.frames import FrameProcessor, output_stages, processing_size
    from realtime.images import read_image
    from realtime.progress import format_duration
    from realtime.temporal import temporal_stage
    from realtime.video_source import VideoFileSource

    optimise = config.optimise
    source = VideoFileSource(input_path)
    info = source.info
    source.close()
    process = config.process
    if process.size is None and process.scale is None:
        # Optimisation at a full HD size takes minutes per step on a CPU; see the image command.
        long_side = max(info.width, info.height)
        process = dataclasses.replace(process, size=min(OPTIMISE_SIZE, long_side))
    width, height = processing_size(info.width, info.height, process)
    alone = optimise.keyframes == "none"
    # Alone, colour preservation is luminance-only transfer inside the optimisation; with a
    # network it is the usual output stage, applied to network and refined frames alike.
    stages = output_stages(dataclasses.replace(process, preserve_color=False) if alone else process)
    temporal = temporal_stage(process.temporal, process.temporal_strength)
    painting = read_image(optimise.style_image)
    optimiser = load_optimiser(
        optimise, process.preserve_color and alone, config.engine.device, painting
    )
    per_step = seconds_per_step(optimiser, np.full((height, width, 3), 128, np.uint8))
    gatys = optimiser.config
    # In full-size steps: each coarser level has a quarter of the pixels of the next.
    coarse = sum(gatys.coarse_steps / 4**level for level in range(1, gatys.scales))
    keyframe_steps = gatys.steps + (coarse if alone else 0)
    frames = info.frame_count
    progress = Progress(frames, "optimising", "frames", enabled=config.progress)

    def report(frame: FrameReport) -> None:
        progress.update(
            1,
            last=f"{frame.kind}:{frame.reason}",
            steps=frame.steps,
            loss=frame.loss,
            s=round(frame.seconds, 1),
        )

    if alone:
        stylize = GatysVideoStylizer(
            optimiser,
            optimise.keyframe_interval,
            optimise.frame_steps,
            report=report,
            keyframe_start=optimise.keyframe_start,
        )
        processor = FrameProcessor(
            stylize, process, at_process_size=[temporal] if temporal else [], at_output_size=stages
        )
        what = f"Gatys (no network) towards {optimise.style_image.name}"
        network = None
    else:
        from realtime.engine import OnnxStylizer
        from realtime.style_registry import resolve_style

        style = resolve_style(config.style, config.engine)
        network = OnnxStylizer(style.path, config.engine, style_name=style.name)
        refiner = KeyframeRefiner(optimiser, optimise.keyframe_interval, report=report)
        processor = FrameProcessor(
            network,
            process,
            at_process_size=[refiner, temporal] if temporal else [refiner],
            at_output_size=stages,
        )
        what = f"{style.name!r} with Gatys keyframes towards {optimise.style_image.name}"
    if frames:
        estimate = expected_seconds(
            per_step,
            frames,
            optimise.keyframe_interval,
            keyframe_steps,
            optimise.frame_steps,
            network_mode=not alone,
        )
        expected = f"expected about {format_duration(estimate)} (more with scene cuts)"
    else:
        expected = "the container does not say how many frames, so no time estimate"
    print(
        f"realtime: {frames or 'unknown number of'} frames at {width}x{height}, "
        f"{per_step:.2f} s per optimisation step; keyframes every "
        f"{optimise.keyframe_interval} frames and at cuts ({gatys.steps} steps)"
        + (f", {optimise.frame_steps} steps between" if alone else "")
        + f": {expected}",
        file=sys.stderr,
    )
    provider = f"torch {optimiser.device.type}" + (
        f" + {network.provider}" if network is not None else ""
    )
    return processor, provider, what, progress
