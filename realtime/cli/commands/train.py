"""``realtime train``: train a TransformerNet for one style image or several (needs torch).

The defaults are ``models.train_config.TrainConfig``'s, stated there once; that module
imports no torch, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from models.train_config import (
    ARCH_NAMES,
    CONTENT_LOSS_KINDS,
    DEFAULTS,
    LR_SCHEDULES,
    RESUME_LATEST,
)
from realtime.core.errors import UserError

if TYPE_CHECKING:
    from models.train_config import TrainConfig


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
    """Comma-separated numbers (counts and signs: the trainer checks them, in one place)."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not comma-separated numbers, e.g. 1,1,1,1"
        ) from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


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
            "(state_dict), NAME.json (model card), NAME.checkpoints/ and NAME.previews/ "
            "beside --out."
        ),
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
        default=[],
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
        metavar="MULTI.pth",
        help="with --add-style: the trained multi-style network to extend; --out gets it "
        "with the new style last",
    )
    group.add_argument(
        "--dataset", type=Path, required=True, metavar="DIR", help="folder of training photos"
    )
    group.add_argument("--out", type=Path, required=True, metavar="NAME.pth")
    group.add_argument(
        "--image-size",
        type=int,
        default=d.image_size,
        help="training crop side in pixels (default %(default)s)",
    )
    group.add_argument(
        "--style-size",
        type=_style_size,
        default=d.style_size,
        metavar="N|original",
        help="long side every style image is matched at (default %(default)s)",
    )
    group.add_argument(
        "--scale-jitter",
        type=float,
        default=d.jitter_max,
        metavar="MAX",
        help="short side = image-size * U(1, MAX) before cropping (default %(default)s)",
    )


def _add_loss_options(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    group = parser.add_argument_group("loss")
    group.add_argument(
        "--content-loss",
        choices=CONTENT_LOSS_KINDS,
        default=d.content_loss,
        help="cosine: keep each position's kind of feature (structure); weighted-cosine: "
        "the same, weighted by the photo's feature strength, so dark flat regions give way "
        "to the painting; mse: Johnson et al.'s feature mse; pixel: reproduce the input "
        "(default %(default)s)",
    )
    group.add_argument(
        "--content-layers",
        type=_names,
        default=d.content_layers,
        metavar="L1,L2",
        help=f"VGG-16 layers of the content loss (default {_joined(d.content_layers)})",
    )
    group.add_argument(
        "--content-weight",
        type=float,
        default=d.content_weight,
        help="weight of the content loss (default %(default)s)",
    )
    group.add_argument(
        "--style-weight",
        type=_numbers,
        default=d.style_weight,
        metavar="W|W1,W2,...",
        help=f"weight of the normalised style loss, one for all styles or one per "
        f"--style-image (default {_joined(d.style_weight)})",
    )
    group.add_argument(
        "--content-strength",
        type=_numbers,
        default=d.content_strength,
        metavar="P|P1,P2,...",
        help="with --content-loss weighted-cosine: how strongly each position is weighted by "
        "the photo's feature strength (the power it is raised to: 0 is plain cosine, above 1 "
        "weak regions give way more); one for all styles or one per "
        f"--style-image (default {_joined(d.content_strength)})",
    )
    group.add_argument(
        "--style-layer-weights",
        type=_numbers,
        default=d.style_layer_weights,
        metavar="W1,W2,W3,W4",
        help="relative weights of relu1_2,relu2_2,relu3_3,relu4_3 in the style loss "
        f"(default {_joined(d.style_layer_weights)})",
    )
    group.add_argument(
        "--tv-weight",
        type=float,
        default=d.tv_weight,
        help="weight of total variation on [0,1] pixels (default %(default)s)",
    )
    group.add_argument(
        "--laplacian-weight",
        type=float,
        default=d.laplacian_weight,
        help="weight of Li et al.'s Laplacian term: the photo's light-dark outlines kept in "
        "the grey output at a coarse scale (default %(default)s: off)",
    )
    group.add_argument(
        "--laplacian-pool",
        type=int,
        default=d.laplacian_pool,
        metavar="K",
        help="the Laplacian term compares K x K block averages (default %(default)s)",
    )


def _add_optimiser_options(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    group = parser.add_argument_group("optimisation")
    group.add_argument("--steps", type=int, default=d.steps, help="default %(default)s")
    group.add_argument("--batch-size", type=int, default=d.batch_size, help="default %(default)s")
    group.add_argument("--lr", type=float, default=d.lr, help="Adam (default %(default)s)")
    group.add_argument(
        "--style-lr-scale",
        type=float,
        default=d.style_lr_scale,
        metavar="F",
        help="a multi-style network: its per-style norm parameters learn F times faster than "
        "the shared weights (default %(default)s)",
    )
    group.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default=d.lr_schedule,
        help="constant, or cosine decay to 0 at --steps (default %(default)s)",
    )
    group.add_argument(
        "--arch",
        choices=ARCH_NAMES,
        default=d.arch,
        help="full: Johnson et al.'s TransformerNet; lite: the smaller network for CPUs "
        "(default %(default)s)",
    )
    group.add_argument(
        "--init",
        type=Path,
        metavar="PATH.pth",
        help="start from these weights instead of random ones (a network of the same "
        "architecture; a single-style one may start every style of a multi-style one)",
    )
    group.add_argument(
        "--init-style",
        metavar="NAME",
        help="with a multi-style --init and one --style-image: start from --init's style "
        "NAME, to train that style on alone",
    )
    group.add_argument(
        "--teacher",
        type=Path,
        metavar="NET.pth",
        help="distil this trained network: its output on each crop is the content target "
        "(with --style-weight 0 and no --style-image, or with each style's painting, in the "
        "teacher's order, for a style term too); a multi-style one is distilled whole, into "
        "a student with its styles and their names (its card NAME.json lists them)",
    )
    group.add_argument(
        "--teacher-style",
        metavar="NAME",
        help="with a multi-style --teacher: distil only this one of its styles, into a "
        "single-style student (default: all of them)",
    )
    group.add_argument(
        "--teacher-row",
        action="append",
        type=_teacher_row,
        default=[],
        metavar="NAME=NET.pth",
        help="with a multi-style --teacher distilled whole: NAME's crops are painted by "
        "NET.pth's NAME instead (a single-style network, or a multi-style one with that "
        "style), for styles that ship from another network; repeatable",
    )
    group.add_argument(
        "--pixel-weight",
        type=float,
        default=d.pixel_weight,
        help="a pixel term against the content target, added to the content loss "
        "(default %(default)s)",
    )
    group.add_argument("--seed", type=int, default=d.seed, help="default %(default)s")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    group = parser.add_argument_group("running")
    group.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=d.device,
        help="auto: cuda when available (default %(default)s)",
    )
    group.add_argument(
        "--no-amp", action="store_true", help="train in float32 on CUDA too (default: float16)"
    )
    group.add_argument("--threads", type=int, help="torch CPU threads (default: one per core)")
    group.add_argument(
        "--vgg-weights",
        type=Path,
        metavar="PATH",
        help="VGG-16 features state_dict (default: $REALTIME_VGG_WEIGHTS, else torchvision's)",
    )
    for flag, default, text in (
        ("--checkpoint-every", d.checkpoint_every, "steps between checkpoints, 0 = never"),
        ("--keep-checkpoints", d.keep_checkpoints, "newest checkpoints kept"),
        ("--preview-every", d.preview_every, "steps between previews, 0 = only at the end"),
        ("--preview-size", d.preview_size, "long side of previews"),
        ("--log-every", d.log_every, "steps between log lines, 0 = none"),
        ("--num-workers", d.num_workers, "data loading processes, 0 = in-process"),
    ):
        group.add_argument(flag, type=int, default=default, metavar="N", help=f"{text} "
                           "(default %(default)s)")  # fmt: skip
    group.add_argument(
        "--preview-image",
        type=Path,
        metavar="IMAGE",
        help="content image for previews (default: first dataset image)",
    )
    group.add_argument(
        "--resume",
        nargs="?",
        const=RESUME_LATEST,
        metavar="PATH",
        help="continue from the newest checkpoint in NAME.checkpoints, or from PATH",
    )
    group.add_argument("--no-progress", action="store_true", help="print nothing while training")


def _style_images(args: argparse.Namespace) -> tuple[Path, ...]:
    if args.add_style is None:
        if args.base is not None:
            raise UserError("--base goes with --add-style IMAGE, the painting to add to it")
        return tuple(args.style_images)
    if args.base is None:
        raise UserError("--add-style needs --base MULTI.pth, the multi-style network to extend")
    if args.style_images:
        raise UserError("--add-style replaces --style-image; give one or the other")
    return (args.add_style,)


def _teacher_row(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not (sep and name and path):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=NET.pth; e.g. --teacher-row udnie=runs/udnie.pth"
        )
    return name, Path(path)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    from models.train_config import TrainConfig

    return TrainConfig(
        style_images=_style_images(args),
        base=args.base,
        dataset=args.dataset,
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        image_size=args.image_size,
        style_size=args.style_size,
        content_weight=args.content_weight,
        content_strength=args.content_strength,
        content_loss=args.content_loss,
        content_layers=tuple(args.content_layers),
        style_weight=tuple(args.style_weight),
        tv_weight=args.tv_weight,
        laplacian_weight=args.laplacian_weight,
        laplacian_pool=args.laplacian_pool,
        style_layer_weights=tuple(args.style_layer_weights),
        lr=args.lr,
        style_lr_scale=args.style_lr_scale,
        lr_schedule=args.lr_schedule,
        arch=args.arch,
        init=args.init,
        init_style=args.init_style,
        teacher=args.teacher,
        teacher_style=args.teacher_style,
        teacher_rows=tuple(args.teacher_row),
        pixel_weight=args.pixel_weight,
        seed=args.seed,
        device=args.device,
        amp=not args.no_amp,
        vgg_weights=args.vgg_weights,
        jitter_max=args.scale_jitter,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        preview_every=args.preview_every,
        preview_image=args.preview_image,
        preview_size=args.preview_size,
        resume=args.resume,
        log_every=args.log_every,
        num_workers=args.num_workers,
        threads=args.threads,
        progress=not args.no_progress,
    )


def run(args: argparse.Namespace) -> int:
    try:
        from models.train import train
    except ModuleNotFoundError as exc:
        if exc.name not in ("torch", "torchvision", "PIL"):
            raise
        raise UserError(
            f"'realtime train' needs {exc.name}, which is not installed; "
            "install torch and torchvision (pip install torch torchvision)"
        ) from exc
    result = train(config_from_args(args))
    losses = " ".join(f"{k}={v:.4g}" for k, v in result.final_losses.items())
    timing = (
        f", {result.seconds_per_step:.3f} s/step" if result.seconds_per_step is not None else ""
    )
    print(
        f"wrote {result.model_path} and {result.card_path.name}: {result.steps} steps"
        f"{timing}, final losses {losses}"
    )
    return 0
