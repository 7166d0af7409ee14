"""``realtime train``: train a TransformerNet for one style image (needs torch)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from realtime.errors import UserError

if TYPE_CHECKING:
    from models.train import TrainConfig

# The defaults are repeated here (this module must not import torch to build --help);
# tests/test_train.py checks they equal TrainConfig's.
_DEFAULTS = {
    "steps": 20_000,
    "batch_size": 4,
    "image_size": 256,
    "style_size": 256,
    "content_weight": 1.0,
    "style_weight": 10.0,
    "tv_weight": 0.1,
    "style_layer_weights": "1,1,1,1",
    "lr": 1e-3,
    "lr_schedule": "constant",
    "arch": "full",
    "seed": 0,
    "device": "auto",
    "scale_jitter": 1.5,
    "checkpoint_every": 1000,
    "keep_checkpoints": 3,
    "preview_every": 1000,
    "preview_size": 512,
    "log_every": 100,
    "num_workers": 2,
}


def _style_size(text: str) -> int | None:
    if text == "original":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of pixels or 'original', got {text!r}"
        ) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    d = _DEFAULTS
    parser = subparsers.add_parser(
        "train",
        help="train a style network from a style image and a folder of photos",
        description=(
            "Train Johnson et al.'s TransformerNet for one style image with a VGG-16 "
            "perceptual loss. Writes NAME.pth (state_dict), NAME.json (model card), "
            "NAME.checkpoints/ and NAME.previews/ beside --out."
        ),
    )
    parser.add_argument("--style-image", type=Path, required=True, metavar="IMAGE")
    parser.add_argument(
        "--dataset",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder of training photos (searched recursively)",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="NAME.pth")
    parser.add_argument("--steps", type=int, default=d["steps"], help="default %(default)s")
    parser.add_argument(
        "--batch-size", type=int, default=d["batch_size"], help="default %(default)s"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=d["image_size"],
        help="training crop side in pixels (default %(default)s)",
    )
    parser.add_argument(
        "--style-size",
        type=_style_size,
        default=d["style_size"],
        metavar="N|original",
        help="long side the style image is matched at (default %(default)s)",
    )
    parser.add_argument(
        "--content-weight",
        type=float,
        default=d["content_weight"],
        help="weight of the normalised content loss (default %(default)s)",
    )
    parser.add_argument(
        "--style-weight",
        type=float,
        default=d["style_weight"],
        help="weight of the normalised style loss (default %(default)s)",
    )
    parser.add_argument(
        "--tv-weight",
        type=float,
        default=d["tv_weight"],
        help="weight of total variation on [0,1] pixels (default %(default)s)",
    )
    parser.add_argument(
        "--style-layer-weights",
        type=_layer_weights,
        default=_layer_weights(d["style_layer_weights"]),
        metavar="W1,W2,W3,W4",
        help="relative weights of relu1_2,relu2_2,relu3_3,relu4_3 in the style loss "
        f"(default {d['style_layer_weights']})",
    )
    parser.add_argument("--lr", type=float, default=d["lr"], help="Adam (default %(default)s)")
    parser.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine"),
        default=d["lr_schedule"],
        help="constant, or cosine decay to 0 at --steps (default %(default)s)",
    )
    parser.add_argument(
        "--arch",
        choices=("full", "lite"),
        default=d["arch"],
        help="full: Johnson et al.'s TransformerNet; lite: the smaller network for CPUs "
        "(default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=d["seed"], help="default %(default)s")
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=d["device"],
        help="auto: cuda when available (default %(default)s)",
    )
    parser.add_argument(
        "--no-amp",
        action="store_true",
        help="train in float32 on CUDA too (default: float16 autocast)",
    )
    parser.add_argument(
        "--vgg-weights",
        type=Path,
        metavar="PATH",
        help="VGG-16 features state_dict (default: $REALTIME_VGG_WEIGHTS, else torchvision's)",
    )
    parser.add_argument(
        "--scale-jitter",
        type=float,
        default=d["scale_jitter"],
        metavar="MAX",
        help="short side = image-size * U(1, MAX) before cropping (default %(default)s)",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=d["checkpoint_every"],
        metavar="N",
        help="steps, 0 = never (default %(default)s)",
    )
    parser.add_argument(
        "--keep-checkpoints",
        type=int,
        default=d["keep_checkpoints"],
        metavar="N",
        help="newest checkpoints kept (default %(default)s)",
    )
    parser.add_argument(
        "--preview-every",
        type=int,
        default=d["preview_every"],
        metavar="N",
        help="steps, 0 = only at the end (default %(default)s)",
    )
    parser.add_argument(
        "--preview-image",
        type=Path,
        metavar="IMAGE",
        help="content image for previews (default: first dataset image)",
    )
    parser.add_argument(
        "--preview-size",
        type=int,
        default=d["preview_size"],
        metavar="N",
        help="long side of previews (default %(default)s)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="PATH",
        help="continue from the newest checkpoint in NAME.checkpoints, or from PATH",
    )
    parser.add_argument(
        "--log-every",
        type=int,
        default=d["log_every"],
        metavar="N",
        help="steps between log lines, 0 = none (default %(default)s)",
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        default=d["num_workers"],
        metavar="N",
        help="data loading processes, 0 = in-process (default %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="print nothing while training")
    parser.set_defaults(run=run)


def _layer_weights(text: str) -> tuple[float, ...]:
    """``--style-layer-weights``: comma-separated numbers (count and sign: the trainer checks)."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not comma-separated numbers, e.g. 1,1,1,1"
        ) from None


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    from models.train import TrainConfig

    return TrainConfig(
        style_image=args.style_image,
        dataset=args.dataset,
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        image_size=args.image_size,
        style_size=args.style_size,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        style_layer_weights=args.style_layer_weights,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        arch=args.arch,
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
