"""Options shared by the commands that stylize (image, video, webcam, bench, batch), and the one
place where parsed arguments become a ``RunConfig``.

Every option that sets a config field has the field's name as its ``dest`` and no default of
its own (``argparse.SUPPRESS``): an option the user did not give is simply absent, and the
config's dataclass default applies. The defaults are stated once, in ``realtime.core.config``,
and the help texts read them from there.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from realtime.core.config import (
    ARCH_CHOICES,
    DEFAULT_STYLE,
    DEVICES,
    ENGINE_PRECISIONS,
    KEYFRAME_STARTS,
    TEMPORAL_MODES,
    EncodeConfig,
    EngineConfig,
    OptimiseConfig,
    ProcessConfig,
    RunConfig,
)
from realtime.media.encoders import ENCODERS
from realtime.runtime.frames import MIN_PROCESS_SIDE

_UNSET = argparse.SUPPRESS
Config = TypeVar("Config")


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


def style_reference(text: str) -> str:
    """--style's text: an empty one (``--style ""``, an unset shell variable) is an error, not
    the default style painted without a word."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "is empty; give a style name, a mix (NAME:0.7,NAME:0.3) or an .onnx file "
            "('realtime styles' lists them), or leave --style out for "
            f"{DEFAULT_STYLE}"
        )
    return text


def add_style_options(parser: argparse.ArgumentParser) -> None:
    # Default None (not suppressed): a command tells an explicit --style (which must not be
    # silently ignored next to --style-image) from the default.
    parser.add_argument(
        "--style",
        "--model",
        dest="style",
        type=style_reference,
        default=None,
        metavar="NAME|FILE",
        help="a bundled or user style name, a mix of styles (NAME:0.7,NAME:0.3), an .onnx "
        "file, or a .pth checkpoint (exported on the fly; needs torch). 'realtime styles' "
        f"lists them. Default: {DEFAULT_STYLE}",
    )
    parser.add_argument(
        "--arch",
        choices=ARCH_CHOICES,
        default=_UNSET,
        help="the network that paints the style: full, lite (real time on a CPU), or auto: "
        "lite for live work without a usable NVIDIA GPU, full otherwise "
        f"(default: {RunConfig().arch})",
    )


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    d = EngineConfig()
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--device",
        choices=DEVICES,
        default=_UNSET,
        help="the engine: cpu (ONNX Runtime's CPU provider), openvino (OpenVINO, the faster "
        "engine on CPUs), cuda or tensorrt (ONNX Runtime on an NVIDIA GPU); auto tries CUDA, "
        f"then OpenVINO, then ONNX Runtime's CPU provider (default: {d.device})",
    )
    group.add_argument(
        "--precision",
        choices=ENGINE_PRECISIONS,
        default=_UNSET,
        help="OpenVINO's precision: auto is bf16 where the CPU computes it natively and the "
        "style's card records that bf16 keeps its scores, fp32 otherwise; also the Gatys "
        "optimiser's (auto: bf16 where the CPU computes it natively) "
        f"(default: {d.precision})",
    )
    group.add_argument(
        "--threads", type=int, default=_UNSET, help="CPU inference threads (default: one per core)"
    )
    group.add_argument(
        "--cache-dir",
        type=Path,
        default=_UNSET,
        metavar="DIR",
        help="TensorRT engines and models exported from .pth files "
        "(default: the user cache directory)",
    )


def add_process_options(parser: argparse.ArgumentParser) -> None:
    d = ProcessConfig()
    group = parser.add_argument_group("processing size and look")
    sizing = group.add_mutually_exclusive_group()
    sizing.add_argument(
        "--size",
        type=int,
        default=_UNSET,
        metavar="PX",
        help="stylize with the long side at PX pixels, then scale back (faster, coarser strokes)",
    )
    sizing.add_argument(
        "--scale", type=float, default=_UNSET, help="stylize at this fraction of the input size"
    )
    group.add_argument(
        "--output-size",
        type=parse_size,
        default=_UNSET,
        metavar="WxH",
        help="output width x height (default: the input size)",
    )
    group.add_argument(
        "--strength",
        type=float,
        default=_UNSET,
        help=f"0..1: blend of the stylized frame with the original (default: {d.strength:g})",
    )
    group.add_argument(
        "--preserve-color",
        action="store_true",
        default=_UNSET,
        help="keep the input's colours and take only the stylized luminance",
    )


def add_temporal_options(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """--temporal and --temporal-strength. ``default`` is what the help says, where a command
    decides otherwise in some mode (video by optimisation alone)."""
    d = ProcessConfig()
    group = parser.add_argument_group("temporal consistency")
    group.add_argument(
        "--temporal",
        choices=TEMPORAL_MODES,
        default=_UNSET,
        help="remove flicker: flow (blend the motion-compensated previous output where it is "
        "trusted), ema (plain running average: trails on motion), off "
        f"(default: {default or d.temporal})",
    )
    group.add_argument(
        "--temporal-strength",
        type=float,
        default=_UNSET,
        metavar="A",
        help="0..1: weight of the previous output where it is trusted "
        f"(default: {d.temporal_strength:g})",
    )


def add_encode_options(parser: argparse.ArgumentParser) -> None:
    d = EncodeConfig()
    group = parser.add_argument_group("encoding (H.264)")
    group.add_argument(
        "--encoder",
        choices=ENCODERS,
        default=_UNSET,
        help="auto: a hardware encoder that really works here (NVENC, Quick Sync, AMF, "
        f"VideoToolbox, V4L2), else libx264; or force one (default: {d.encoder})",
    )
    group.add_argument(
        "--crf",
        type=int,
        default=_UNSET,
        help=f"quality, 0 (lossless) .. 51 (worst); default {d.crf}",
    )
    group.add_argument(
        "--preset",
        default=_UNSET,
        help="x264 speed/size trade-off: ultrafast .. veryslow, or auto: superfast for a "
        "network faster than the encoder (lite on a CPU, any on a GPU), medium otherwise "
        f"(default: {d.preset})",
    )


def add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--queue-size",
        type=int,
        default=_UNSET,
        help=f"frames buffered between stages (default: {RunConfig().queue_size})",
    )
    add_quiet_option(parser)


def add_quiet_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str = "no progress line"
) -> None:
    """--quiet: the command's own progress or statistics lines off (``-q`` before the command
    is the notes)."""
    parser.add_argument("--quiet", action="store_true", help=what)


def add_optimise_options(parser: argparse.ArgumentParser, video: bool) -> None:
    """Gatys et al.'s optimisation: any painting without a trained network (needs torch)."""
    d = OptimiseConfig()
    group = parser.add_argument_group(
        "optimisation (Gatys et al.; any painting, slow; needs torch and VGG-16 weights)"
    )
    alone = "instead of using a network (alone), or "
    group.add_argument(
        "--style-image",
        type=Path,
        default=_UNSET,
        metavar="PAINTING",
        help=f"optimise towards this painting {alone}"
        + ("the painting of --style for --keyframes" if video else "with --method gatys"),
    )
    if video:
        _add_video_optimise_options(group, d)
    else:
        group.add_argument(
            "--method",
            choices=("network", "gatys"),
            default=_UNSET,
            help="gatys: refine the network's output by optimisation towards --style-image "
            f"(default: {d.method})",
        )
    defaults = "the optimiser's (models.gatys.GatysConfig)"
    group.add_argument(
        "--steps",
        type=int,
        default=_UNSET,
        metavar="N",
        help=f"optimisation steps at full size (coarser scales come first; default: {defaults})",
    )
    group.add_argument(
        "--style-weight",
        type=float,
        default=_UNSET,
        metavar="W",
        help="weight of the painting's style against the photo's content (1); higher paints "
        "more boldly (default: steered for each painting and photo so the result is as close "
        "to the painting as a trained network)",
    )
    group.add_argument(
        "--optimizer",
        choices=("lbfgs", "adam"),
        default=_UNSET,
        help="L-BFGS converges in fewer steps; Adam uses less memory (default: lbfgs)",
    )
    group.add_argument(
        "--scales",
        type=int,
        default=_UNSET,
        metavar="N",
        help="coarse-to-fine: optimise at N sizes, each twice the last, so large images take "
        f"fewer full-size steps (1: full size only; default: {defaults})",
    )
    add_vgg_weights_option(group)


def _add_video_optimise_options(group: argparse._ArgumentGroup, d: OptimiseConfig) -> None:
    group.add_argument(
        "--keyframes",
        choices=("none", "gatys"),
        default=_UNSET,
        help="with --style: refine keyframes (cuts and every --keyframe-interval frames) "
        f"by optimisation from the network's output (default: {d.keyframes})",
    )
    group.add_argument(
        "--keyframe-interval",
        type=int,
        default=_UNSET,
        metavar="N",
        help=f"a keyframe every N frames, and at each scene cut (default: {d.keyframe_interval})",
    )
    group.add_argument(
        "--frame-steps",
        type=int,
        default=_UNSET,
        metavar="N",
        help="--style-image alone: optimisation steps for each frame between keyframes, "
        f"started from the warped previous output (default: {d.frame_steps})",
    )
    group.add_argument(
        "--keyframe-start",
        choices=KEYFRAME_STARTS,
        default=_UNSET,
        help="--style-image alone: interval keyframes continue from the warped previous "
        "output (no pop) or start from the content (with --keyframe-interval 1: each frame "
        "on its own); the first frame and cuts always start from the content "
        f"(default: {d.keyframe_start})",
    )
    group.add_argument(
        "--temporal-weight",
        type=float,
        default=_UNSET,
        metavar="W",
        help="--style-image alone: weight of the temporal loss that ties each frame to the "
        "warped previous output (0: none; default: models.gatys.GatysConfig's)",
    )


def config_from_args(
    config_type: type[Config], args: argparse.Namespace, **overrides: Any
) -> Config:
    """``config_type`` with the fields the user gave (absent ones keep their defaults)."""
    names = {f.name for f in dataclasses.fields(config_type)}
    values = {name: getattr(args, name) for name in names if hasattr(args, name)}
    return config_type(**(values | overrides))


def _temporal_mode(args: argparse.Namespace) -> str:
    """--temporal, or its default: flow, except for video --style-image alone, whose
    optimisation carries its own temporal loss (a blend after it would only soften it)."""
    if hasattr(args, "temporal"):
        return args.temporal
    optimising = getattr(args, "style_image", None) is not None
    alone = getattr(args, "keyframes", OptimiseConfig.keyframes) == "none"
    return "off" if optimising and alone else ProcessConfig.temporal


def run_config(args: argparse.Namespace) -> RunConfig:
    """The one typed configuration, from parsed arguments: built once, here."""
    return config_from_args(
        RunConfig,
        args,
        engine=config_from_args(EngineConfig, args),
        process=config_from_args(ProcessConfig, args, temporal=_temporal_mode(args)),
        encode=config_from_args(EncodeConfig, args),
        optimise=config_from_args(OptimiseConfig, args),
        progress=not getattr(args, "quiet", False),
    )


def add_vgg_weights_option(
    group: argparse._ActionsContainer, default: Any = _UNSET, use: str = ""
) -> None:
    """--vgg-weights, for every command that loads VGG-16 (optimisation, training, scoring):
    one definition, so the option reads and resolves the same everywhere. ``default``: None
    where a command reads ``args.vgg_weights`` itself, else absent like every config option;
    ``use``: what the weights are for, where a command uses them only sometimes."""
    group.add_argument(
        "--vgg-weights",
        type=Path,
        default=default,
        metavar="FILE",
        help=f"VGG-16 features state_dict{use} (default: $REALTIME_VGG_WEIGHTS, then "
        "torchvision's download)",
    )
