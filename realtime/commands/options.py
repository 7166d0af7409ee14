"""Options shared by the commands that stylize (image, video, webcam, bench), and the one
place where they become a RunConfig."""

from __future__ import annotations

import argparse

from realtime.config import DEVICES, EncodeConfig, EngineConfig, ProcessConfig, RunConfig
from realtime.frames import parse_size


def add_style_options(
    parser: argparse.ArgumentParser, default_style: str | None = "mosaic"
) -> None:
    parser.add_argument(
        "--style",
        "--model",
        dest="style",
        default=default_style,
        metavar="NAME|FILE",
        help="a bundled or user style name, an .onnx file, or a .pth checkpoint "
        "(exported on the fly; needs torch). 'realtime styles' lists the names. "
        f"Default: {default_style}",
    )


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="ONNX Runtime execution provider: auto tries CUDA, then CPU (default: auto)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU inference threads (default: one per core)"
    )


def add_process_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("processing size and look")
    sizing = group.add_mutually_exclusive_group()
    sizing.add_argument(
        "--size",
        type=int,
        default=None,
        metavar="PX",
        help="stylize with the long side at PX pixels, then scale back (faster, coarser strokes)",
    )
    sizing.add_argument(
        "--scale", type=float, default=None, help="stylize at this fraction of the input size"
    )
    group.add_argument(
        "--output-size",
        type=parse_size,
        default=None,
        metavar="WxH",
        help="output width x height (default: the input size)",
    )
    group.add_argument(
        "--strength",
        type=float,
        default=1.0,
        help="0..1: blend of the stylized frame with the original (default: 1)",
    )
    group.add_argument(
        "--preserve-color",
        action="store_true",
        help="keep the input's colours and take only the stylized luminance",
    )


def add_temporal_options(parser: argparse.ArgumentParser, default: str = "flow") -> None:
    # Lazy: realtime.temporal pulls in OpenCV's optical flow, which --help does not need.
    from realtime.temporal import DEFAULT_TEMPORAL_STRENGTH, TEMPORAL_MODES

    group = parser.add_argument_group("temporal consistency")
    group.add_argument(
        "--temporal",
        choices=TEMPORAL_MODES,
        default=default,
        help="remove flicker: flow (blend the motion-compensated previous output where it is "
        "trusted), ema (plain running average: trails on motion), off "
        f"(default: {default})",
    )
    group.add_argument(
        "--temporal-strength",
        type=float,
        default=DEFAULT_TEMPORAL_STRENGTH,
        metavar="A",
        help="0..1: weight of the previous output where it is trusted "
        f"(default: {DEFAULT_TEMPORAL_STRENGTH})",
    )


def add_encode_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("encoding (H.264)")
    group.add_argument(
        "--crf", type=int, default=18, help="quality, 0 (lossless) .. 51 (worst); default 18"
    )
    group.add_argument(
        "--preset",
        default="medium",
        help="x264 speed/size trade-off: ultrafast .. veryslow (default: medium)",
    )


def run_config(args: argparse.Namespace) -> RunConfig:
    """Build the one typed configuration from parsed arguments."""
    return RunConfig(
        style=args.style,
        engine=EngineConfig(device=args.device, threads=args.threads),
        process=ProcessConfig(
            size=args.size,
            scale=args.scale,
            output_size=args.output_size,
            strength=args.strength,
            preserve_color=args.preserve_color,
            temporal=getattr(args, "temporal", ProcessConfig.temporal),
            temporal_strength=getattr(args, "temporal_strength", ProcessConfig.temporal_strength),
        ),
        encode=EncodeConfig(
            crf=getattr(args, "crf", EncodeConfig.crf),
            preset=getattr(args, "preset", EncodeConfig.preset),
        ),
        queue_size=getattr(args, "queue_size", RunConfig.queue_size),
        progress=not getattr(args, "quiet", False),
    )
