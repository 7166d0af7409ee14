"""Retrain, re-export, evaluate and install the bundled styles from ../shared: one command.

    python scripts/retrain_bundled_styles.py --shared ../shared                 # all, CPU recipe
    python scripts/retrain_bundled_styles.py --shared ../shared --styles candy --arch lite
    python scripts/retrain_bundled_styles.py --shared ../shared --recipe gpu    # on a CUDA GPU

For each style (``NAME`` for ``--arch full``, ``NAME-lite`` for ``--arch lite``) it runs the
user-facing commands, so what ships is exactly what a user can reproduce:

1. ``realtime train`` into ``--work`` (default ``runs/bundled``). Interrupted or extended runs
   continue from their newest checkpoint (``--resume``); a finished run is not retrained.
2. ``realtime export --fp16`` (parity against torch is part of the export).
3. ``realtime image`` on ``samples/amber.jpg`` at its full size and ``realtime eval style
   --size 512`` of that output and of the PyTorch examples' reference output, both against the
   style image: the numbers in the card's ``evaluation`` and in docs/STYLES.md.
4. Unless ``--no-install``: copies ``NAME.onnx`` and the card ``NAME.json`` into
   ``realtime/bundled_styles/``.

Finally it redraws ``docs/styles-grid.jpg`` (amber | ours | reference, one row per style that
has a full model) and prints the quality table for docs/STYLES.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "realtime" / "bundled_styles"
STYLES = ("mosaic", "candy", "udnie", "rain-princess")
EVAL_SIZE = 512
STYLE_SOURCE = (
    "the PyTorch examples' fast_neural_style images (BSD-3-Clause), "
    "as copied into ../shared/data/styles"
)


@dataclass(frozen=True)
class Recipe:
    """``realtime train`` options shared by every style of a recipe."""

    steps: int
    image_size: int
    batch_size: int
    style_size: int | None  # long side of the painting; None: its own size
    scale_jitter: float
    lr: float
    lr_schedule: str
    checkpoint_every: int
    # Styles that stop earlier than ``steps``: the CPU recipe's budget goes where it is needed.
    style_steps: dict[str, int] = field(default_factory=dict)
    # Styles whose painting is matched at another long side than ``style_size``.
    style_sizes: dict[str, int] = field(default_factory=dict)

    def steps_for(self, name: str) -> int:
        return self.style_steps.get(name, self.steps)

    def style_size_for(self, name: str) -> int | None:
        return self.style_sizes.get(name, self.style_size)


RECIPES = {
    # What the 2-core development CPU can do in well under an hour a style (2-4 s a step):
    # 128 px crops instead of 256 px, at most 1500 steps instead of 20k+. The painting is
    # matched at its own size, as the PyTorch examples' reference networks were trained: at
    # 256 px the strokes came out smaller than those of the painting the scorer compares
    # against (docs/STYLES.md). Scale jitter 3 keeps more of the photo at the same style
    # distance. Each style stops where its checkpoints' scores stopped improving (mosaic:
    # past its target, where the session's time ran out), not at a fixed count.
    "cpu": Recipe(
        steps=1500,
        image_size=128,
        batch_size=4,
        style_size=None,
        scale_jitter=3.0,
        lr=1e-3,
        lr_schedule="constant",
        checkpoint_every=250,
        style_steps={"mosaic": 1250, "candy": 750, "udnie": 250, "rain-princess": 500},
        # mosaic.jpg is 470 px, half the size of candy's and rain-princess's paintings: matched
        # at that size, its tiles came out half as large as the scorer's (a 1080 px photo seen
        # at 512 px) and the tiling washed out to a pale texture. 990 px = 470 x 1080 / 512.
        style_sizes={"mosaic": 990},
    ),
    # Johnson et al.'s scale (256 px, batch 4, 40k steps is their 2 epochs of COCO), with our
    # normalised losses. Written for a CUDA GPU; not yet run.
    "gpu": Recipe(
        steps=40_000,
        image_size=256,
        batch_size=4,
        style_size=None,
        scale_jitter=1.5,
        lr=1e-3,
        lr_schedule="cosine",
        checkpoint_every=2000,
    ),
}

# Per-style loss weights (normalised units, see models/train.py), per architecture. The style
# weight moves the content distance far more than the style distance (docs/STYLES.md): udnie,
# whose reference keeps the photo closely, needs 0.4 to meet its content target. The lite
# network keeps less of the photo at the same weight, so it gets a lower one (measured on
# mosaic-lite: docs/BENCHMARKS.md).
STYLE_WEIGHTS = {
    "full": {"mosaic": 5.0, "candy": 5.0, "udnie": 0.4, "rain-princess": 5.0},
    "lite": {"mosaic": 2.0, "candy": 2.0, "udnie": 2.0, "rain-princess": 2.0},
}

# Per-style weights of relu1_2, relu2_2, relu3_3, relu4_3 inside the style loss (default
# equal). mosaic's are the PyTorch examples' in effect: their raw Gram losses weigh each
# layer by the painting's mean squared Gram entry, 13/73/14/0 % for mosaic.jpg (times 4, so
# the sum stays that of equal weights). With relu4_3 in, the network painted a content-blind
# diagonal hatching over the whole photo; without it, it keeps the door's panels (docs/STYLES.md).
STYLE_LAYER_WEIGHTS = {"mosaic": (0.54, 2.92, 0.54, 0.0)}


def realtime(*args: str) -> str:
    """Run ``python -m realtime ARGS`` (output shown live); stdout is returned."""
    command = [sys.executable, "-m", "realtime", *args]
    print("$ realtime " + " ".join(args), flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        raise SystemExit(f"retrain: 'realtime {args[0]}' failed with exit code {done.returncode}")
    return done.stdout


def trained_steps(card_path: Path) -> int:
    if not card_path.is_file():
        return 0
    return int(json.loads(card_path.read_text(encoding="utf-8")).get("steps", 0))


def train(style: str, name: str, arch: str, recipe: Recipe, shared: Path, work: Path) -> Path:
    out = work / f"{name}.pth"
    steps = recipe.steps_for(name)
    style_size = recipe.style_size_for(name)
    if trained_steps(out.with_suffix(".json")) >= steps and out.is_file():
        print(f"{name}: already trained to {steps} steps in {out}", flush=True)
        return out
    args = [
        "train",
        "--arch", arch,
        "--style-image", str(shared / "data/styles" / f"{style}.jpg"),
        "--dataset", str(shared / "data/content/train"),
        "--vgg-weights", str(shared / "weights/vgg16-imagenet-features.pth"),
        "--out", str(out),
        "--steps", str(steps),
        "--image-size", str(recipe.image_size),
        "--batch-size", str(recipe.batch_size),
        "--style-size", "original" if style_size is None else str(style_size),
        "--style-weight", str(STYLE_WEIGHTS[arch][style]),
        "--style-layer-weights", ",".join(map(str, STYLE_LAYER_WEIGHTS.get(style, (1, 1, 1, 1)))),
        "--scale-jitter", str(recipe.scale_jitter),
        "--lr", str(recipe.lr),
        "--lr-schedule", recipe.lr_schedule,
        "--checkpoint-every", str(recipe.checkpoint_every),
        "--preview-every", str(recipe.checkpoint_every),
        "--preview-image", str(shared / "data/samples/amber.jpg"),
        "--num-workers", "1",
    ]  # fmt: skip
    if (work / f"{name}.checkpoints").is_dir():
        args.append("--resume")
    realtime(*args)
    return out


def evaluate(image: Path, style: str, shared: Path) -> dict[str, float]:
    scores = json.loads(
        realtime(
            "eval",
            "style",
            str(image),
            str(shared / "data/styles" / f"{style}.jpg"),
            str(shared / "data/samples/amber.jpg"),
            "--size",
            str(EVAL_SIZE),
            "--vgg-weights",
            str(shared / "weights/vgg16-imagenet-features.pth"),
            "--json",
        )  # fmt: skip
    )
    return {k: round(scores[k], 4) for k in ("style_distance", "content_distance")}


def build(style: str, arch: str, recipe_name: str, shared: Path, work: Path, install: bool) -> dict:
    name = style if arch == "full" else f"{style}-lite"
    pth = train(style, name, arch, RECIPES[recipe_name], shared, work)
    onnx_path = work / f"{name}.onnx"
    realtime("export", "--fp16", "--style-name", name, str(pth), str(onnx_path))
    amber = work / f"{name}-amber.jpg"
    amber_in = shared / "data/samples/amber.jpg"
    realtime("image", str(amber_in), str(amber), "--style", str(onnx_path), "--device", "cpu")
    reference = shared / "data/samples" / f"amber-{style}.reference.jpg"
    card = json.loads(pth.with_suffix(".json").read_text(encoding="utf-8"))
    card["evaluation"] = {
        "content_image": "samples/amber.jpg (1080x1080), stylized at full size",
        "command": f"realtime eval style OUT {style}.jpg amber.jpg --size {EVAL_SIZE}",
        "ours": evaluate(amber, style, shared),
        "reference": evaluate(reference, style, shared),
        "reference_is": "the PyTorch examples' pretrained model (COCO, torchvision VGG-16)",
    }
    card["style_image"]["source"] = STYLE_SOURCE
    lite = " --arch lite" if arch == "lite" else ""
    card["retrain"] = {
        "recipe": recipe_name,
        "command": "python scripts/retrain_bundled_styles.py --shared ../shared "
        f"--styles {style}{lite} --recipe {recipe_name}",
    }
    card["shipped"] = {"precision": "fp16", "exported_from": pth.name}
    (work / f"{name}.card.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    if install:
        shutil.copyfile(onnx_path, BUNDLED / f"{name}.onnx")
        (BUNDLED / f"{name}.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
        print(f"installed {name} into {BUNDLED}", flush=True)
    return card


def draw_grid(shared: Path, work: Path, styles: list[str], path: Path, cell: int = 320) -> None:
    """amber | ours | reference | the painting, one row per style."""
    rows = []
    for style in styles:
        ours = work / f"{style}-amber.jpg"
        if not ours.is_file():
            continue
        files = [
            shared / "data/samples/amber.jpg",
            ours,
            shared / "data/samples" / f"amber-{style}.reference.jpg",
            shared / "data/styles" / f"{style}.jpg",
        ]
        cells = []
        for file in files:
            with Image.open(file) as img:
                img = img.convert("RGB")
                img.thumbnail((cell, cell), Image.LANCZOS)
                canvas = Image.new("RGB", (cell, cell), (255, 255, 255))
                canvas.paste(img, ((cell - img.width) // 2, (cell - img.height) // 2))
                cells.append(np.asarray(canvas))
        rows.append(np.concatenate(cells, axis=1))
    if rows:
        Image.fromarray(np.concatenate(rows, axis=0)).save(path, quality=88)
        print(f"wrote {path}", flush=True)


def table(cards: dict[str, dict]) -> str:
    lines = [
        "| style | steps | style distance, ours / reference | content distance, ours / reference |",
        "|---|---|---|---|",
    ]
    for name, card in cards.items():
        ours, ref = card["evaluation"]["ours"], card["evaluation"]["reference"]
        lines.append(
            f"| {name} | {card['steps']} | {ours['style_distance']:.3f} / "
            f"{ref['style_distance']:.3f} | {ours['content_distance']:.3f} / "
            f"{ref['content_distance']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--arch", choices=("full", "lite"), default="full")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="cpu")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bundled")
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument(
        "--grid-only",
        action="store_true",
        help="only redraw docs/styles-grid.jpg from the NAME-amber.jpg outputs in --work",
    )
    args = parser.parse_args()
    styles = [s for s in args.styles.split(",") if s]
    unknown = sorted(set(styles) - set(STYLES))
    if unknown:
        parser.error(f"unknown style(s) {', '.join(unknown)}; use {', '.join(STYLES)}")
    missing = [
        p
        for p in ("data/styles", "data/content/train", "weights")
        if not (args.shared / p).exists()
    ]
    if missing:
        parser.error(f"{args.shared} lacks {', '.join(missing)}; give --shared PATH")
    args.work.mkdir(parents=True, exist_ok=True)
    if args.grid_only:
        draw_grid(args.shared, args.work, styles, ROOT / "docs" / "styles-grid.jpg")
        return
    cards = {}
    for style in styles:
        card = build(style, args.arch, args.recipe, args.shared, args.work, not args.no_install)
        cards[card["name"]] = card
    if args.arch == "full" and not args.no_install:  # --no-install leaves the checkout alone
        draw_grid(args.shared, args.work, list(STYLES), ROOT / "docs" / "styles-grid.jpg")
    print(table(cards))


if __name__ == "__main__":
    main()
