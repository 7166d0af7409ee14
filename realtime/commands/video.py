"""``realtime video IN OUT``: stylize a whole file, every frame, with its sound."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realtime.commands.options import (
    add_encode_options,
    add_engine_options,
    add_process_options,
    add_style_options,
    add_temporal_options,
    run_config,
)
from realtime.errors import EXIT_DAMAGED_INPUT, EXIT_INTERRUPTED, EXIT_OK


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
    add_temporal_options(parser)
    add_encode_options(parser)
    parser.add_argument(
        "--queue-size", type=int, default=8, help="frames buffered between stages (default: 8)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from realtime.engine import OnnxStylizer
    from realtime.frames import FrameProcessor, output_stages
    from realtime.pipeline import check_paths, stylize_video
    from realtime.style_registry import resolve_style
    from realtime.temporal import temporal_stage
    from realtime.video_sink import check_encode_config

    config = run_config(args)
    # Cheap checks first: a typo in a path should not wait for a model to load.
    check_paths(args.input, args.output)
    check_encode_config(config.encode)
    stages = output_stages(config.process)
    # Validated before the model loads; one stage per file, since it keeps state.
    temporal = temporal_stage(config.process.temporal, config.process.temporal_strength)
    style = resolve_style(config.style, config.engine)
    stylizer = OnnxStylizer(style.path, config.engine, style_name=style.name)
    processor = FrameProcessor(
        stylizer,
        config.process,
        at_process_size=[temporal] if temporal else [],
        at_output_size=stages,
    )
    result = stylize_video(
        args.input,
        args.output,
        processor,
        lambda w, h: processor.sizes(w, h)[1],
        config.encode,
        queue_size=config.queue_size,
        show_progress=config.progress,
    )
    for notice in result.notices:
        print(f"realtime: note: {notice}", file=sys.stderr)
    info = result.info
    where = result.output if result.output else "no output (no frame was finished)"
    print(
        f"{result.frames_written} frames"
        + (f" of {info.frame_count}" if info and info.frame_count else "")
        + f" in {result.seconds:.1f} s ({result.fps:.2f} fps) with style {style.name!r} "
        f"on {stylizer.provider} -> {where}",
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
