"""Options shared by the commands that stylize (image, video, webcam, bench), and the one
place where they become a RunConfig."""

from __future__ import annotations

import argparse
from pathlib import Path

from realtime.config import (
    DEVICES,
    KEYFRAME_STARTS,
    EncodeConfig,
    EngineConfig,
    OptimiseConfig,
    ProcessConfig,
    RunConfig,
)
from realtime.errors import UserError
from realtime.frames import MIN_PROCESS_SIDE


def parse_size(text: str) -> tuple[int, int]:
    """Parse 'WIDTHxHEIGHT' (e.g. 1280x720) for --output-size. argparse names the option in
    the message, and ``realtime.cli`` turns it into one line and exit code 2."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad size {text!r}: write it as WIDTHxHEIGHT, e.g. 1280x720"
        ) from None
    if width < MIN_PROCESS_SIDE or height < MIN_PROCESS_SIDE:
        raise argparse.ArgumentTypeError(
            f"size {text} is too small: each side must be at least {MIN_PROCESS_SIDE}"
        )
    return width, height


def add_style_options(parser: argparse.ArgumentParser) -> None:
    # The parser's default is None so a command can tell an explicit --style (which must not
    # be silently ignored next to --style-image) from the default; run_config fills it in.
    default_style = RunConfig.style
    parser.add_argument(
        "--style",
        "--model",
        dest="style",
        default=None,
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
    """--temporal and --temporal-strength. ``default`` is what the help says; the parser's
    default is None and ``_temporal_mode`` decides, since for video it depends on the mode."""
    # Lazy: realtime.temporal pulls in OpenCV's optical flow, which --help does not need.
    from realtime.temporal import DEFAULT_TEMPORAL_STRENGTH, TEMPORAL_MODES

    group = parser.add_argument_group("temporal consistency")
    group.add_argument(
        "--temporal",
        choices=TEMPORAL_MODES,
        default=None,
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


def add_optimise_options(parser: argparse.ArgumentParser, video: bool) -> None:
    """Gatys et al.'s optimisation: any painting without a trained network (needs torch)."""
    group = parser.add_argument_group(
        "optimisation (Gatys et al.; any painting, slow; needs torch and VGG-16 weights)"
    )
    group.add_argument(
        "--style-image",
        type=Path,
        default=None,
        metavar="PAINTING",
        help="optimise towards this painting"
        + (
            " instead of using a network (alone), or the painting of --style for --keyframes"
            if video
            else " instead of using a network (alone), or to refine --style with --method gatys"
        ),
    )
    if video:
        group.add_argument(
            "--keyframes",
            choices=("none", "gatys"),
            default="none",
            help="with --style: refine keyframes (cuts and every --keyframe-interval frames) "
            "by optimisation from the network's output (default: none)",
        )
        group.add_argument(
            "--keyframe-interval",
            type=int,
            default=OptimiseConfig.keyframe_interval,
            metavar="N",
            help=f"a keyframe every N frames, and at each scene cut "
            f"(default: {OptimiseConfig.keyframe_interval})",
        )
        group.add_argument(
            "--frame-steps",
            type=int,
            default=OptimiseConfig.frame_steps,
            metavar="N",
            help="--style-image alone: optimisation steps for each frame between keyframes, "
            f"started from the warped previous output (default: {OptimiseConfig.frame_steps})",
        )
        group.add_argument(
            "--keyframe-start",
            choices=KEYFRAME_STARTS,
            default=OptimiseConfig.keyframe_start,
            help="--style-image alone: interval keyframes continue from the warped previous "
            "output (no pop) or start from the content (with --keyframe-interval 1: each frame "
            "on its own); the first frame and cuts always start from the content "
            "(default: %(default)s)",
        )
        group.add_argument(
            "--temporal-weight",
            type=float,
            default=None,
            metavar="W",
            help="--style-image alone: weight of the temporal loss that ties each frame to the "
            "warped previous output (0: none; default: models.gatys.GatysConfig's)",
        )
    else:
        group.add_argument(
            "--method",
            choices=("network", "gatys"),
            default="network",
            help="gatys: refine the network's output by optimisation towards --style-image "
            "(default: network)",
        )
    group.add_argument(
        "--steps",
        type=int,
        default=None,
        metavar="N",
        help="optimisation steps at full size (coarser scales come first; default: "
        "models.gatys.GatysConfig's)",
    )
    group.add_argument(
        "--style-weight",
        type=float,
        default=None,
        metavar="W",
        help="weight of the painting's style against the photo's content (1); higher paints "
        "more boldly (default: models.gatys.GatysConfig's)",
    )
    group.add_argument(
        "--optimizer",
        choices=("lbfgs", "adam"),
        default=None,
        help="L-BFGS converges in fewer steps; Adam uses less memory (default: lbfgs)",
    )
    group.add_argument(
        "--scales",
        type=int,
        default=None,
        metavar="N",
        help="coarse-to-fine: optimise at N sizes, each twice the last, so large images take "
        "fewer full-size steps (default: 1, full size only)",
    )
    group.add_argument(
        "--vgg-weights",
        type=Path,
        default=None,
        metavar="FILE",
        help="VGG-16 features state_dict (default: $REALTIME_VGG_WEIGHTS, then torchvision's "
        "download)",
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


def check_optimise_options(optimise: OptimiseConfig) -> None:
    """An optimisation option that this run would ignore is an error, not a surprise after the
    work is done: the optimiser's settings need --style-image, and the settings of video
    without a network do nothing to --keyframes gatys."""
    if optimise.style_image is None:
        settings = {
            "--steps": optimise.steps,
            "--style-weight": optimise.style_weight,
            "--optimizer": optimise.optimizer,
            "--scales": optimise.scales,
            "--temporal-weight": optimise.temporal_weight,
        }
        for flag, value in settings.items():
            if value is not None:
                raise UserError(
                    f"{flag} sets up optimisation by Gatys et al., which runs only with "
                    f"--style-image PAINTING; add it or drop {flag}"
                )
    if optimise.keyframes == "gatys":
        if optimise.temporal_weight is not None:
            raise UserError(
                "--temporal-weight applies to --style-image without a network; with "
                "--keyframes gatys the temporal stage (--temporal) carries keyframes instead"
            )
        if optimise.keyframe_start != OptimiseConfig.keyframe_start:
            raise UserError(
                "--keyframe-start applies to --style-image without a network; with "
                "--keyframes gatys every keyframe starts from the network's output"
            )


def _temporal_mode(args: argparse.Namespace) -> str:
    """--temporal, or its default: flow, except for video --style-image alone, whose
    optimisation carries its own temporal loss (a blend after it would only soften it)."""
    if not hasattr(args, "temporal"):
        return ProcessConfig.temporal
    if args.temporal is not None:
        return args.temporal
    optimising = getattr(args, "style_image", None) is not None
    return "off" if optimising and getattr(args, "keyframes", "") == "none" else "flow"


def run_config(args: argparse.Namespace) -> RunConfig:
    """Build the one typed configuration from parsed arguments."""
    return RunConfig(
        style=args.style or RunConfig.style,
        engine=EngineConfig(device=args.device, threads=args.threads),
        process=ProcessConfig(
            size=args.size,
            scale=args.scale,
            output_size=args.output_size,
            strength=args.strength,
            preserve_color=args.preserve_color,
            temporal=_temporal_mode(args),
            temporal_strength=getattr(args, "temporal_strength", ProcessConfig.temporal_strength),
        ),
        encode=EncodeConfig(
            crf=getattr(args, "crf", EncodeConfig.crf),
            preset=getattr(args, "preset", EncodeConfig.preset),
        ),
        queue_size=getattr(args, "queue_size", RunConfig.queue_size),
        progress=not getattr(args, "quiet", False),
        optimise=OptimiseConfig(
            style_image=getattr(args, "style_image", None),
            method=getattr(args, "method", OptimiseConfig.method),
            keyframes=getattr(args, "keyframes", OptimiseConfig.keyframes),
            keyframe_interval=getattr(args, "keyframe_interval", OptimiseConfig.keyframe_interval),
            steps=getattr(args, "steps", None),
            frame_steps=getattr(args, "frame_steps", OptimiseConfig.frame_steps),
            keyframe_start=getattr(args, "keyframe_start", OptimiseConfig.keyframe_start),
            temporal_weight=getattr(args, "temporal_weight", None),
            style_weight=getattr(args, "style_weight", None),
            optimizer=getattr(args, "optimizer", None),
            scales=getattr(args, "scales", None),
            vgg_weights=getattr(args, "vgg_weights", None),
        ),
    )
