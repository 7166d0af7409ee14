"""``realtime train``: train a TransformerNet for one style image or several (needs torch).

Every option that sets a ``models.train_config.TrainConfig`` field has the field's name as its
``dest`` and no default of its own (``argparse.SUPPRESS``), as in ``realtime.cli.options``: an
option the user did not give is absent, so a recipe file (``--config``) or the dataclass
default applies. The defaults are stated once, in TrainConfig, and the help texts read them
from there; that module imports no torch, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from models.train_config import (
    ARCH_NAMES,
    CONTENT_LOSS_KINDS,
    DEFAULTS,
    DEVICE_NAMES,
    LR_SCHEDULES,
    RESUME_LATEST,
    TrainConfig,
    config_path_for,
    read_recipe,
)
from realtime.cli.options import add_vgg_weights_option
from realtime.core.config import EngineConfig
from realtime.core.errors import UserError

_UNSET = argparse.SUPPRESS


def _style_size(text: str) -> int | None:
    if text == "original":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of pixels or 'original', got {text!r}"
        ) from None


def _numbers(text: str) -> tuple[float, ...]:
    """Comma-separated numbers (counts and signs: TrainConfig checks them, in one place)."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not comma-separated numbers, e.g. 1,1,1,1"
        ) from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _teacher_row(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not (sep and name and path):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=NET.pth; e.g. --teacher-row udnie=runs/udnie.pth"
        )
    return name, Path(path)


def _joined(values: tuple[object, ...]) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a style network from one or several style images and a folder of photos",
        description=(
            "Train Johnson et al.'s TransformerNet (or its lite variant) with a VGG-16 "
            "perceptual loss. One --style-image trains a single-style network; several train "
            "one multi-style network (conditional instance norm) whose styles can be mixed; "
            "--teacher distils a trained network instead. Writes NAME.pth "
            "(state_dict), NAME.json (model card), NAME.config.toml (the resolved options, "
            "a recipe for --config), NAME.checkpoints/ and NAME.previews/ beside --out."
        ),
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="RECIPE.toml",
        help="read the options from this TOML file, with the keys of the NAME.config.toml "
        "every run writes (a wrong key lists them) and paths relative to its folder; "
        "options given here override it",
    )
    _add_data_options(parser)
    _add_loss_options(parser)
    _add_optimiser_options(parser)
    _add_run_options(parser)
    parser.set_defaults(run=run)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    group = parser.add_argument_group("data")
    group.add_argument(
        "--style-image",
        dest="style_images",
        type=Path,
        action="append",
        default=_UNSET,
        metavar="IMAGE",
        help="a painting; repeat for a multi-style network (none with --style-weight 0: a "
        "network that reproduces its input)",
    )
    group.add_argument(
        "--add-style",
        type=Path,
        metavar="IMAGE",
        help="a painting to add as one more style to the multi-style network --base (--arch "
        "full only): only its norm parameters train (instead of --style-image)",
    )
    group.add_argument(
        "--base",
        type=Path,
        default=_UNSET,
        metavar="MULTI.pth",
        help="with --add-style: the trained multi-style network to extend; --out gets it "
        "with the new style last",
    )
    group.add_argument(
        "--dataset", type=Path, default=_UNSET, metavar="DIR", help="folder of training photos"
    )
    group.add_argument("--out", type=Path, default=_UNSET, metavar="NAME.pth")
    group.add_argument(
        "--image-size",
        type=int,
        default=_UNSET,
        help=f"training crop side in pixels (default {d.image_size})",
    )
    group.add_argument(
        "--style-size",
        type=_style_size,
        default=_UNSET,
        metavar="N|original",
        help=f"long side every style image is matched at (default {d.style_size})",
    )
    group.add_argument(
        "--scale-jitter",
        dest="jitter_max",
        type=float,
        default=_UNSET,
        metavar="MAX",
        help=f"short side = image-size * U(1, MAX) before cropping (default {d.jitter_max})",
    )


def _add_loss_options(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    group = parser.add_argument_group("loss")
    group.add_argument(
        "--content-loss",
        choices=CONTENT_LOSS_KINDS,
        default=_UNSET,
        help="cosine: keep each position's kind of feature (structure); weighted-cosine: "
        "the same, weighted by the photo's feature strength, so dark flat regions give way "
        "to the painting; mse: Johnson et al.'s feature mse; pixel: reproduce the input "
        f"(default {d.content_loss})",
    )
    group.add_argument(
        "--content-layers",
        type=_names,
        default=_UNSET,
        metavar="L1,L2",
        help=f"VGG-16 layers of the content loss (default {_joined(d.content_layers)})",
    )
    group.add_argument(
        "--content-weight",
        type=float,
        default=_UNSET,
        help=f"weight of the content loss (default {d.content_weight})",
    )
    group.add_argument(
        "--style-weight",
        type=_numbers,
        default=_UNSET,
        metavar="W|W1,W2,...",
        help=f"weight of the normalised style loss, one for all styles or one per "
        f"--style-image (default {_joined(d.style_weight)})",
    )
    group.add_argument(
        "--content-strength",
        type=_numbers,
        default=_UNSET,
        metavar="P|P1,P2,...",
        help="with --content-loss weighted-cosine: how strongly each position is weighted by "
        "the photo's feature strength (the power it is raised to: 0 is plain cosine, above 1 "
        "weak regions give way more); one for all styles or one per "
        f"--style-image (default {_joined(d.content_strength)})",
    )
    group.add_argument(
        "--style-layer-weights",
        type=_numbers,
        default=_UNSET,
        metavar="W1,W2,W3,W4",
        help="relative weights of relu1_2,relu2_2,relu3_3,relu4_3 in the style loss "
        f"(default {_joined(d.style_layer_weights)})",
    )
    group.add_argument(
        "--tv-weight",
        type=float,
        default=_UNSET,
        help=f"weight of total variation on [0,1] pixels (default {d.tv_weight})",
    )
    group.add_argument(
        "--laplacian-weight",
        type=float,
        default=_UNSET,
        help="weight of Li et al.'s Laplacian term: the photo's light-dark outlines kept in "
        f"the grey output at a coarse scale (default {d.laplacian_weight}: off)",
    )
    group.add_argument(
        "--laplacian-pool",
        type=int,
        default=_UNSET,
        metavar="K",
        help=f"the Laplacian term compares K x K block averages (default {d.laplacian_pool})",
    )
    group.add_argument(
        "--temporal-weight",
        type=float,
        default=_UNSET,
        help="weight of the temporal term: each crop is also moved a few pixels (a small "
        "random shift, rotation and zoom) and the output must move with it, so texture stays "
        "put on video instead of flickering; one more pass of the network a step, on [0,1] "
        f"pixels as --pixel-weight (default {d.temporal_weight}: off)",
    )
    group.add_argument(
        "--temporal-noise",
        type=float,
        default=_UNSET,
        metavar="STD",
        help="with --temporal-weight: Gaussian noise (grey levels of 0-255) added to the moved "
        f"crop, as a camera's noise between frames (default {d.temporal_noise})",
    )


def _add_optimiser_options(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    group = parser.add_argument_group("optimisation")
    group.add_argument("--steps", type=int, default=_UNSET, help=f"default {d.steps}")
    group.add_argument("--batch-size", type=int, default=_UNSET, help=f"default {d.batch_size}")
    group.add_argument("--lr", type=float, default=_UNSET, help=f"Adam (default {d.lr})")
    group.add_argument(
        "--style-lr-scale",
        type=float,
        default=_UNSET,
        metavar="F",
        help="a multi-style network: its per-style norm parameters learn F times faster than "
        f"the shared weights (default {d.style_lr_scale})",
    )
    group.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default=_UNSET,
        help=f"constant, or cosine decay to 0 at --steps (default {d.lr_schedule})",
    )
    group.add_argument(
        "--arch",
        choices=ARCH_NAMES,
        default=_UNSET,
        help="full: Johnson et al.'s TransformerNet; lite: the smaller network for CPUs "
        f"(default {d.arch})",
    )
    group.add_argument(
        "--init",
        type=Path,
        default=_UNSET,
        metavar="PATH.pth",
        help="start from these weights instead of random ones (a network of the same "
        "architecture; a single-style one may start every style of a multi-style one)",
    )
    group.add_argument(
        "--init-style",
        default=_UNSET,
        metavar="NAME",
        help="with a multi-style --init and one --style-image: start from --init's style "
        "NAME, to train that style on alone",
    )
    group.add_argument(
        "--teacher",
        type=Path,
        default=_UNSET,
        metavar="NET.pth",
        help="distil this trained network: its output on each crop is the content target "
        "(with --style-weight 0 and no --style-image, or with each style's painting, in the "
        "teacher's order, for a style term too); a multi-style one is distilled whole, into "
        "a student with its styles and their names (its card NAME.json lists them)",
    )
    group.add_argument(
        "--teacher-style",
        default=_UNSET,
        metavar="NAME",
        help="with a multi-style --teacher: distil only this one of its styles, into a "
        "single-style student (default: all of them)",
    )
    group.add_argument(
        "--teacher-row",
        dest="teacher_rows",
        action="append",
        type=_teacher_row,
        default=_UNSET,
        metavar="NAME=NET.pth",
        help="with a multi-style --teacher distilled whole: NAME's crops are painted by "
        "NET.pth's NAME instead (a single-style network, or a multi-style one with that "
        "style), for styles that ship from another network; repeatable",
    )
    group.add_argument(
        "--pixel-weight",
        type=float,
        default=_UNSET,
        help="a pixel term against the content target, added to the content loss "
        f"(default {d.pixel_weight})",
    )
    group.add_argument("--seed", type=int, default=_UNSET, help=f"default {d.seed}")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    group = parser.add_argument_group("running")
    group.add_argument(
        "--device",
        choices=DEVICE_NAMES,
        default=_UNSET,
        help=f"auto: cuda when available (default {d.device})",
    )
    group.add_argument(
        "--no-amp",
        dest="amp",
        action="store_false",
        default=_UNSET,
        help="train in float32 on CUDA too (default: float16)",
    )
    group.add_argument(
        "--threads", type=int, default=_UNSET, help="torch CPU threads (default: one per core)"
    )
    add_vgg_weights_option(group)
    for flag, default, text in (
        ("--checkpoint-every", d.checkpoint_every, "steps between checkpoints, 0 = never"),
        ("--keep-checkpoints", d.keep_checkpoints, "newest checkpoints kept"),
        ("--preview-every", d.preview_every, "steps between previews, 0 = only at the end"),
        ("--preview-size", d.preview_size, "long side of previews"),
        ("--log-every", d.log_every, "steps between log lines, 0 = none"),
        ("--num-workers", d.num_workers, "data loading processes, 0 = in-process"),
    ):
        group.add_argument(flag, type=int, default=_UNSET, metavar="N",
                           help=f"{text} (default {default})")  # fmt: skip
    group.add_argument(
        "--preview-image",
        type=Path,
        default=_UNSET,
        metavar="IMAGE",
        help="content image for previews (default: first dataset image)",
    )
    group.add_argument(
        "--resume",
        nargs="?",
        const=RESUME_LATEST,
        default=_UNSET,
        metavar="PATH",
        help="continue from the newest checkpoint in NAME.checkpoints, or from PATH",
    )
    group.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=_UNSET,
        help="print nothing while training",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's config: TrainConfig's defaults, then the recipe file's values, then the
    options given on the command line."""
    values: dict[str, Any] = read_recipe(args.config) if args.config is not None else {}
    for f in dataclasses.fields(TrainConfig):
        if hasattr(args, f.name):
            given = getattr(args, f.name)
            values[f.name] = tuple(given) if isinstance(given, list) else given
    # --add-style IMAGE --base MULTI.pth is one option in two parts; a recipe file says
    # the same with base and one style image.
    if args.add_style is None and hasattr(args, "base"):
        raise UserError("--base goes with --add-style IMAGE, the painting to add to it")
    if args.add_style is not None:
        if "base" not in values:
            raise UserError("--add-style needs --base MULTI.pth, the multi-style network to extend")
        if hasattr(args, "style_images"):
            raise UserError("--add-style replaces --style-image; give one or the other")
        values["style_images"] = (args.add_style,)
        values["base"] = _base_file(Path(values["base"]))
    missing = [flag for flag, name in (("--dataset DIR", "dataset"), ("--out NAME.pth", "out"))
               if name not in values]  # fmt: skip
    if missing:
        raise UserError(
            f"realtime train needs {' and '.join(missing)}, on the command line or in --config"
        )
    return TrainConfig(**{"style_images": (), **values})


def _base_file(ref: Path) -> Path:
    """``--base``: a file (.pth, or an exported .onnx with its card beside), or the name of
    an installed multi-style network (``paintings-lite``: the panel's live network)."""
    if ref.is_file() or ref.suffix or len(ref.parts) > 1:
        return ref  # a path: the trainer says so if it is not there
    from realtime.runtime.styles import resolve_style

    return resolve_style(str(ref), EngineConfig()).path


def run(args: argparse.Namespace) -> int:
    from realtime.cli.wiring import require_torch

    require_torch("realtime train", "torchvision", "PIL")
    config = config_from_args(args)
    from models.train import train

    result = train(config)
    losses = " ".join(f"{k}={v:.4g}" for k, v in result.final_losses.items())
    timing = (
        f", {result.seconds_per_step:.3f} s/step" if result.seconds_per_step is not None else ""
    )
    print(
        f"wrote {result.model_path}, {result.card_path.name} and "
        f"{config_path_for(result.model_path).name}: {result.steps} steps{timing}, "
        f"final losses {losses}"
    )
    return 0
