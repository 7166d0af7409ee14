"""``realtime bench``: per-stage milliseconds, model-only and end-to-end fps, against PyTorch
eager on the same network."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import date
from pathlib import Path

from realtime.cli.options import (
    add_encode_options,
    add_engine_options,
    add_style_options,
    run_config,
)
from realtime.core.model_io import ARCH_LITE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure decode/inference/encode per frame and end-to-end fps",
        description="Benchmark the stages and the whole video pipeline on synthetic clips, "
        "side by side with the same network in PyTorch eager (model-only against model-only).",
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
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (every row) instead"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from realtime.app.bench import (
        engine_variants,
        format_table,
        machine_description,
        rows_as_dicts,
        run_bench,
        versions,
    )
    from realtime.app.build import stylizer_for
    from realtime.cli.wiring import TorchWiring

    torch = TorchWiring()
    config = run_config(args)
    # One stylizer per engine: with --device auto, every engine this machine has.
    stylizers, entry = [], None
    for engine in engine_variants(config.engine):
        stylizer, entry = stylizer_for(dataclasses.replace(config, engine=engine), torch.exporter)
        stylizers.append(stylizer)
    style = config.style or entry.name
    checkpoint = Path(style) if style.endswith((".pth", ".pt")) else None
    arch = "lite" if stylizers[0].info.arch == ARCH_LITE else "full"
    baseline = (
        None if args.no_baseline else torch.eager_baseline(checkpoint, config.engine.threads, arch)
    )
    resolutions = [r.strip() for r in args.resolutions.split(",") if r.strip()]
    rows = run_bench(
        config,
        stylizers,
        resolutions,
        args.frames,
        baseline=baseline,
        log=lambda line: print(line, file=sys.stderr),
    )
    command = "realtime bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "realtime bench"
    if args.json:
        print(
            json.dumps(
                {
                    "style": style,
                    "versions": versions(),
                    "command": command,
                    "machine": machine_description(),
                    "rows": rows_as_dicts(rows),
                }
            )
        )
        return 0  # fmt: skip
    report = (
        f"### {date.today().isoformat()}: {machine_description()}\n\n"
        f"Style `{style}`, {versions()}, x264 preset {config.encode.preset} crf "
        f"{config.encode.crf}. Command: `{command}`\n\n{format_table(rows)}"
    )
    print(report)
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as handle:
            handle.write("\n" + report)
    return 0
