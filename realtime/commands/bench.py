"""``realtime bench``: per-stage milliseconds and end-to-end fps, against PyTorch eager."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from realtime.commands.options import add_encode_options, add_engine_options, add_style_options
from realtime.config import EngineConfig, ProcessConfig, RunConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure decode/inference/encode per frame and end-to-end fps",
        description="Benchmark the stages and the whole video pipeline on synthetic clips, "
        "side by side with a PyTorch eager TransformerNet baseline.",
    )
    add_style_options(parser)
    add_engine_options(parser)
    add_encode_options(parser)
    parser.add_argument(
        "--resolutions",
        default="360p,720p,1080p",
        help="comma-separated, from 360p, 720p, 1080p (default: all three)",
    )
    parser.add_argument("--frames", type=int, default=20, help="frames per resolution")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the PyTorch eager baseline"
    )
    parser.add_argument(
        "--markdown", type=Path, default=None, help="append the result table to this file"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from realtime.bench import format_table, machine_description, run_bench, versions

    config = RunConfig(
        style=args.style or RunConfig.style,
        engine=EngineConfig(device=args.device, threads=args.threads),
        process=ProcessConfig(),
    )
    resolutions = [r.strip() for r in args.resolutions.split(",") if r.strip()]
    rows, provider = run_bench(
        config,
        resolutions,
        args.frames,
        baseline=not args.no_baseline,
        log=lambda line: print(line, file=sys.stderr),
    )
    command = "realtime bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "realtime bench"
    table = format_table(rows, provider)
    report = (
        f"### {date.today().isoformat()}: {machine_description()}\n\n"
        f"Style `{config.style}`, {versions()}. Command: `{command}`\n\n{table}"
    )
    print(report)
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as handle:
            handle.write("\n" + report)
    return 0
