"""``realtime image IN OUT``: stylize one image with the same engine and options as video."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realtime.cli.options import (
    add_engine_options,
    add_optimise_options,
    add_process_options,
    add_style_options,
    run_config,
)
from realtime.core.errors import EXIT_OK, UserError
from realtime.media.images import (
    IMAGE_SUFFIXES,
    check_output_image,
    read_image_with_alpha,
    write_image,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "image",
        help="stylize one image",
        description="Stylize one image (EXIF orientation is applied, transparency kept).",
    )
    parser.add_argument("input", type=Path, help="input image")
    parser.add_argument("output", type=Path, help=f"output image ({', '.join(IMAGE_SUFFIXES)})")
    add_style_options(parser)
    add_engine_options(parser)
    add_process_options(parser)
    add_optimise_options(parser, video=False)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from realtime.app.image import check_image_options, stylize_still
    from realtime.cli.wiring import TorchWiring

    config = run_config(args)
    if args.output.resolve() == args.input.resolve():
        raise UserError(f"output {args.output} is the input file; choose another output path")
    check_output_image(args.output)
    check_image_options(config, args.style)
    source, alpha = read_image_with_alpha(args.input)
    result, what = stylize_still(config, source, TorchWiring())
    write_image(args.output, result, alpha)
    height, width = result.shape[:2]
    print(f"wrote {args.output} ({width}x{height}) {what}", file=sys.stderr)
    return EXIT_OK
