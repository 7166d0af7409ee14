"""``realtime batch INPUT... --out-dir DIR``: many files, and long videos in segments, in
parallel on Ray (a local one by default, or a cluster with --address). Needs ray:
the ``[cluster]`` extra."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realtime.cli.options import (
    add_encode_options,
    add_engine_options,
    add_process_options,
    add_quiet_option,
    add_style_options,
    add_temporal_options,
    run_config,
)
from realtime.core.errors import (
    EXIT_DAMAGED_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UserError,
)
from realtime.core.files import check_output_dir
from realtime.core.signals import stop_cause


def register(subparsers: argparse._SubParsersAction) -> None:
    from realtime.app.batch.plan import DEFAULT_WARMUP_FRAMES
    from realtime.app.batch.run import DEFAULT_SEGMENT_SECONDS

    parser = subparsers.add_parser(
        "batch",
        help="stylize many files, and long videos in segments, in parallel on Ray",
        description="Stylize files, folders (searched for videos and images) and globs into "
        "--out-dir, keeping each input's relative path and extension. Videos get what "
        "'realtime video' gives them, images what 'realtime image' gives them, with the same "
        "options. Long videos are cut into segments at keyframes and stylized in parallel, "
        "then joined without re-encoding. A rerun skips what is finished. Exit codes: 0 all "
        "done; 2 some inputs failed (each said why); 3 all done, but some inputs were damaged "
        "(every decodable frame was written); 130 interrupted, 143 terminated (SIGTERM): "
        "finished outputs stay.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    parser.add_argument("--out-dir", type=Path, required=True, metavar="DIR")
    add_style_options(parser)
    add_engine_options(parser)
    add_process_options(parser)
    add_temporal_options(parser)
    add_encode_options(parser)
    group = parser.add_argument_group("batch")
    group.add_argument(
        "--segment-seconds",
        type=float,
        default=DEFAULT_SEGMENT_SECONDS,
        metavar="S",
        help="cut videos into segments of about S seconds at keyframes (default %(default)g)",
    )
    group.add_argument(
        "--warmup-frames",
        type=int,
        default=DEFAULT_WARMUP_FRAMES,
        metavar="N",
        help="frames before a segment run through the temporal stage first, so segments "
        "join without a seam (default %(default)s)",
    )
    group.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="an existing Ray cluster (default: $RAY_ADDRESS, else a local Ray in this "
        "command using this machine's cores and GPUs)",
    )
    group.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="workers, each with the network loaded once (default: one per CPU, or per GPU)",
    )
    add_quiet_option(group)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from realtime.app.batch.inputs import find_inputs
    from realtime.app.batch.run import BatchOptions, import_ray, run_batch
    from realtime.app.build import choose_style
    from realtime.cli.wiring import pth_exporter
    from realtime.media.video_sink import check_encode_config
    from realtime.runtime.styles import resolve_style
    from realtime.temporal.stage import check_temporal

    config = run_config(args)
    import_ray()  # one line, before any work, where ray is missing
    check_encode_config(config.encode)
    check_temporal(config.process.temporal, config.process.temporal_strength)
    if args.segment_seconds <= 0:
        raise UserError(f"--segment-seconds must be positive, got {args.segment_seconds}")
    if args.warmup_frames < 0:
        raise UserError(f"--warmup-frames must be 0 or more, got {args.warmup_frames}")
    check_output_dir(args.out_dir, "--out-dir")
    items, problems = find_inputs(args.inputs, args.out_dir)
    for problem in problems:
        print(f"realtime: error: {problem}", file=sys.stderr)
    # A .pth is exported once, here: the workers load the same .onnx.
    name, lite = choose_style(config)
    style = resolve_style(name, config.engine, pth_exporter(), lite)
    options = BatchOptions(
        mix=style.mix,
        segment_seconds=args.segment_seconds,
        warmup_frames=args.warmup_frames,
        address=args.address,
        workers=args.workers,
        progress=config.progress,
    )
    summary = run_batch(items, args.out_dir, config, style.path, options)
    failed = len(summary.failed) + len(problems)
    if failed:
        names = ", ".join([*(str(s) for s in summary.failed), *(p.split(":")[0] for p in problems)])
        print(f"realtime: failed: {names} (each said why above)", file=sys.stderr)
    damaged = f", {len(summary.damaged)} from damaged inputs" if summary.damaged else ""
    print(
        f"batch: {len(summary.done)} done, {len(summary.skipped)} already done, {failed} failed"
        f"{damaged}; {summary.frames} frames in {summary.seconds:.1f} s with style "
        f"{style.name!r} -> {args.out_dir}",
        file=sys.stderr,
    )
    if summary.damaged:
        names = ", ".join(str(s) for s in summary.damaged)
        print(f"realtime: warning: damaged inputs: {names} (each said what above)", file=sys.stderr)
    if summary.interrupted:
        print(f"realtime: {stop_cause()}: finished outputs are kept", file=sys.stderr)
        return EXIT_INTERRUPTED  # 143 after SIGTERM (realtime.cli.main)
    if failed:
        return EXIT_USAGE
    if summary.damaged:
        return EXIT_DAMAGED_INPUT
    return EXIT_OK
