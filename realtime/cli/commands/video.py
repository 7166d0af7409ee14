"""``realtime video IN OUT``: stylize a whole file, every frame, with its sound."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from realtime.cli.options import (
    add_encode_options,
    add_engine_options,
    add_optimise_options,
    add_pipeline_options,
    add_process_options,
    add_style_options,
    add_temporal_options,
    run_config,
)
from realtime.core.config import RunConfig
from realtime.core.errors import EXIT_DAMAGED_INPUT, EXIT_INTERRUPTED, EXIT_OK
from realtime.core.files import disk_full_error, human_bytes


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "video",
        help="stylize a video file (every frame, audio kept)",
        description="Stylize every frame of a video file. Frame count, frame rate, timestamps "
        "and audio are kept. Exit codes: 0 done; 2 bad input; 3 done, but the input had "
        "damage (every decodable frame was written); 4 the disk filled (the frames done are "
        "in NAME.partial.EXT); 130 interrupted (the frames done so far are in "
        "NAME.partial.EXT).",
    )
    parser.add_argument("input", type=Path, help="input video (any container FFmpeg reads)")
    parser.add_argument("output", type=Path, help="output video, e.g. out.mp4 or out.mkv")
    add_style_options(parser)
    add_engine_options(parser)
    add_process_options(parser)
    add_temporal_options(parser, default="flow; off for --style-image alone")
    add_encode_options(parser)
    add_optimise_options(parser, video=True)
    add_pipeline_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from realtime.app.build import apply_plan, throughput_plan
    from realtime.cli.optimising import check_optimise_choice
    from realtime.media.video_file import check_paths, stylize_video
    from realtime.media.video_sink import check_encode_config
    from realtime.media.video_source import probe_video

    plan = throughput_plan(run_config(args))
    config = apply_plan(run_config(args), plan)
    # Cheap checks first: a typo in a path should not wait for a model to load.
    check_paths(args.input, args.output)
    check_encode_config(config.encode)
    check_optimise_choice(config.optimise, args.style, video=True)
    info = probe_video(args.input)
    if config.optimise.style_image is not None:
        from realtime.cli.optimising import video_processor

        processor, provider, what, close_progress = video_processor(info, config)
        workers = 1
    else:
        processor, provider, what, workers, encode = _network_processor(info, config, plan)
        config = dataclasses.replace(config, encode=encode)
        close_progress = None
    result = stylize_video(
        args.input,
        args.output,
        processor,
        lambda w, h: processor.sizes(w, h)[1],
        config.encode,
        queue_size=config.queue_size,
        # Optimisation reports each frame itself, with its steps and loss.
        show_progress=config.progress and close_progress is None,
        decode_threads=plan.decode_threads,
        workers=workers,
    )
    if close_progress is not None:
        close_progress()
    return _report(args, result, provider, what)


def _network_processor(info, config: RunConfig, plan):
    from realtime.app.build import (
        build_processor,
        encode_for,
        stylizer_for,
        workers_for,
    )
    from realtime.cli.wiring import pth_exporter

    stylizer, entry = stylizer_for(config, pth_exporter())
    workers = workers_for(plan, stylizer)
    processor = build_processor(
        stylizer, config.process, source_size=(info.width, info.height), workers=workers
    )
    encode = encode_for(config.encode, stylizer)
    return processor, stylizer.provider, f"style {entry.name!r}", workers, encode


def _report(args: argparse.Namespace, result, provider: str, what: str) -> int:
    for notice in result.notices:
        print(f"realtime: note: {notice}", file=sys.stderr)
    info = result.info
    of = f" of {info.frame_count}" if info and info.frame_count else ""
    if result.disk_full:
        kept = (
            f"{result.frames_written}{of} frames ({human_bytes(result.bytes_written)}) "
            f"finalised in {result.output}"
            if result.output
            else "no frame could be kept"
        )
        raise disk_full_error(args.output, kept)
    where = result.output if result.output else "no output (no frame was finished)"
    print(
        f"{result.frames_written} frames{of} in {result.seconds:.1f} s ({result.fps:.2f} fps) "
        f"with {what} on {provider} -> {where}",
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
