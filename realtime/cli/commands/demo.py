"""``realtime demo [OUT]``: the main job on a clip that ships with the program (needs nothing
beside the installation): ``realtime video`` on the bundled ``realshort.mp4``."""

from __future__ import annotations

import argparse
from pathlib import Path

from realtime.cli.commands import video
from realtime.cli.options import (
    add_encode_options,
    add_engine_options,
    add_pipeline_options,
    add_process_options,
    add_style_options,
    add_temporal_options,
)

DEFAULT_OUTPUT = Path("realtime-demo.mp4")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="stylize the short clip that ships with realtime (sound kept)",
        description="Stylize the bundled demo clip (36 frames of ImageIO's public-domain "
        "'realshort.mp4', with its sound) exactly as 'realtime video' would, into OUT.",
    )
    parser.add_argument(
        "output",
        type=Path,
        nargs="?",
        default=DEFAULT_OUTPUT,
        help=f"where to write the stylized clip (default: {DEFAULT_OUTPUT})",
    )
    add_style_options(parser)
    add_engine_options(parser)
    add_process_options(parser)
    add_temporal_options(parser)
    add_encode_options(parser)
    add_pipeline_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from realtime.demo import demo_clip

    args.input = demo_clip()
    return video.run(args)
