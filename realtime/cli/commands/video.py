"""``realtime video IN OUT``: stylize a whole file, every frame, with its sound."""

from __future__ import annotations

import argparse
import logging
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
from realtime.core.errors import EXIT_DAMAGED_INPUT, EXIT_INTERRUPTED, EXIT_OK
from realtime.core.files import disk_full_error, human_bytes
from realtime.core.signals import stop_cause

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "video",
        help="stylize a video file (every frame, audio kept)",
        description="Stylize every frame of a video file. Frame count, frame rate, timestamps "
        "and audio are kept. Exit codes: 0 done; 2 bad input; 3 done, but the input had "
        "damage (every decodable frame was written); 4 the disk filled (the frames done are "
        "in NAME.partial.EXT); 130 interrupted, 143 terminated (SIGTERM): the frames done "
        "so far are in NAME.partial.EXT.",
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
    from realtime.app.video import prepare_video, run_video
    from realtime.cli.wiring import TorchWiring

    job = prepare_video(run_config(args), args.input, args.output, TorchWiring(), args.style)
    outcome = run_video(job)
    return _report(args, outcome.result, outcome.provider, outcome.what)


def _report(args: argparse.Namespace, result, provider: str, what: str) -> int:
    for notice in result.notices:  # notes, as every other: -q keeps them off
        log.info("note: %s", notice)
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
    if result.interrupted:
        # One line: what was kept and where; the run's speed is not news to someone who
        # stopped it (or to the service manager that did).
        kept = (
            f"{result.frames_written}{of} frames finalised in {result.output}"
            if result.output
            else "no frame was finished, nothing kept"
        )
        print(f"realtime: {stop_cause()}: {kept}", file=sys.stderr)
        return EXIT_INTERRUPTED  # 143 after SIGTERM (realtime.cli.main)
    where = result.output if result.output else "no output (no frame was finished)"
    print(
        f"{result.frames_written} frames{of} in {result.seconds:.1f} s ({result.fps:.2f} fps) "
        f"with {what} on {provider} -> {where}",
        file=sys.stderr,
    )
    if result.damaged:
        print(
            f"realtime: warning: input damaged ({result.damaged}); every decodable frame "
            "was written",
            file=sys.stderr,
        )
        return EXIT_DAMAGED_INPUT
    return EXIT_OK
