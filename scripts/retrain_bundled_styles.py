"""Retrain, export, evaluate and install the bundled styles from ../shared: one command.

    python scripts/retrain_bundled_styles.py --shared ../shared            # everything
    python scripts/retrain_bundled_styles.py --shared ../shared --train-only  # just train
    python scripts/retrain_bundled_styles.py --shared ../shared --no-install  # leave the package

It runs the user-facing commands, so what ships is exactly what a user can reproduce:

1. A training folder of ``data/content/train`` without the ``HOLDOUT`` photos (links in
   ``--work``, default ``runs/bundled``): they are kept for checking that a recipe is not
   tuned to the photos it saw.
2. ``realtime train --content-loss pixel --style-weight 0``: a TransformerNet that reproduces
   its input (``identity.pth``), the starting point of the style training. Cheap: no VGG.
3. ``realtime train`` with the four paintings, ``--init identity.pth``: one multi-style
   network whose styles share every convolution (``RECIPES``), in two phases: the paintings
   at a long side of ``style_size`` (``multi.pth``, kept as ``multi-<coarse_steps>.pth``),
   then, from that run's checkpoint, at ``fine_style_size`` (``multi-<fine_style_size>.pth``),
   then a last phase from that one's last checkpoint with the content loss weighted by the
   photo's feature strength (``multi-weighted.pth``: ``paintings`` and the styles in
   ``finish_styles``), and a fourth from its last checkpoint with larger crops and Li et
   al.'s Laplacian term (``multi-laplacian.pth``: the styles in ``polish_styles``); the
   others ship from the second phase. Last, ``alone_style`` trains on its own from its row
   of that network (``--init-style``), in the steps of ``alone_phases``
   (``candy-alone*.pth``; the last one ships it). Interrupted or extended runs continue
   from their newest checkpoint (``--resume``); a finished run is not retrained.
4. ``realtime export --fp16 --style NAME``: each style as its own single-style network.
5. ``realtime image`` on ``samples/amber.jpg`` at full size and ``realtime eval style`` of
   that output and of the PyTorch examples' reference output: the numbers in each card's
   ``evaluation`` and in docs/STYLES.md.
6. Unless ``--no-install``: copies ``NAME.onnx`` and its card into
   ``realtime/bundled_styles/`` and redraws ``docs/styles-grid.jpg``
   (painting | photo | reference | ours | ours, lite).

``--lite`` builds ``NAME-lite`` instead: the lite network distilled from the multi-style
network's NAME (``realtime train --arch lite --teacher multi.pth --teacher-style NAME``),
exported, scored like the others and also against the full network's output.

``--lite-multi`` builds ``paintings-lite``: the lite network distilled from the whole
four-painting network at once (``realtime train --arch lite --teacher multi.pth``: every crop
in its own style), started from ``mosaic-lite`` (built first if missing), so its shared
convolutions already paint; after ``lite_multi_teacher_steps`` it goes on with each
painting's Gram term added (``--style-image`` with ``--teacher``), which gives back the
strokes a pixel-matched student softens. Those two phases learn from the first phase's
network; a third continues them with the second phase's network as teacher and the
paintings at ``fine_style_size`` (``paintings-lite-<fine_style_size>.pth``), and a last
one with each style's shipped network as its teacher (``paintings-lite-final.pth``:
``--teacher`` the last phase's, ``--teacher-row NAME=NET.pth`` for a style that ships from
another; candy's is the Laplacian phase's: the lite networks were distilled before candy
had a network of its own). Each ``NAME-lite`` is then exported from it (``--style NAME``),
as the full styles are from the shipped multi-style network. ``--lite-steps N`` ships the
checkpoint of step N (of the phase it falls in).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "realtime" / "bundled_styles"
# The order is the multi-style network's style input.
STYLES = ("mosaic", "candy", "udnie", "rain-princess")
# Training photos kept out of training, to check the networks on photos they never saw.
HOLDOUT = (
    "curban100-img_010.jpg",
    "csun_hays80-street_sun_bkgpqbvgorkjqzgp.jpg",
    "csun_hays80-lighthouse_sun_akeqnxvbhbktajfl.jpg",
    "bsds-val-101085.jpg",
)
STYLE_SOURCE = (
    "the PyTorch examples' fast_neural_style images (BSD-3-Clause), "
    "as copied into ../shared/data/styles"
)


@dataclass(frozen=True)
class Recipe:
    """``realtime train`` options of a recipe's two runs (docs/STYLES.md says why)."""

    identity_steps: int
    # The multi-style network: ``coarse_steps`` with the paintings at ``style_size``, then on
    # to ``steps`` with them at ``fine_style_size``, then to ``finish_steps`` with the
    # weighted-cosine content loss (``finish_content_strength`` per style) and per-style
    # ``finish_style_weights``. ``finish_styles`` ship from that last phase (and the
    # four-painting network), the others from the second.
    coarse_steps: int
    steps: int
    image_size: int
    batch_size: int
    style_size: int
    fine_style_size: int
    finish_steps: int
    finish_style_weights: tuple[float, ...]
    finish_content_strength: tuple[float, ...]
    finish_styles: tuple[str, ...]
    # Then on to ``polish_steps`` with ``polish_image_size`` crops against the paintings at
    # ``polish_style_size`` (scale jitter ``polish_scale_jitter``), ``polish_style_weights``
    # and Li et al.'s Laplacian term (``polish_laplacian_weight``): ``polish_styles`` ship
    # from it (``multi-laplacian.pth``).
    polish_steps: int
    polish_image_size: int
    polish_style_size: int
    polish_scale_jitter: float
    polish_style_weights: tuple[float, ...]
    polish_laplacian_weight: float
    polish_styles: tuple[str, ...]
    # Then ``alone_style`` on its own (every crop of a batch its own) from its row of the
    # Laplacian phase, at that phase's geometry and style weight, weighted cosine at the
    # power ``alone_content_strength``, ``alone_style_layer_weights``: one run per entry of
    # ``alone_phases`` (to step, options added), each from the last one's last checkpoint.
    alone_style: str
    alone_content_strength: float
    alone_style_layer_weights: tuple[float, ...]
    alone_phases: tuple[tuple[int, tuple[str, ...]], ...]
    scale_jitter: float
    content_weight: float
    style_weight: float
    lr: float
    checkpoint_every: int
    # NAME-lite, distilled from the multi-style network's NAME.
    lite_steps: int
    lite_content_weight: float
    lite_pixel_weight: float
    # paintings-lite, the four styles distilled at once (started from mosaic-lite): first
    # the teacher's picture alone, then (resumed from that run's last checkpoint) with each
    # painting's Gram term too, one weight per style in STYLES' order, to lite_multi_steps.
    lite_multi_teacher_steps: int
    lite_multi_steps: int
    lite_style_weights: tuple[float, ...]
    # Then on to lite_fine_steps with the second phase's network as teacher, its paintings'
    # scale, and on to lite_final_steps with each style's shipped network as its teacher.
    lite_fine_steps: int
    lite_final_steps: int

    def common(self) -> list[str]:
        return [
            "--image-size", str(self.image_size),
            "--batch-size", str(self.batch_size),
            "--scale-jitter", str(self.scale_jitter),
            "--lr", str(self.lr),
            "--checkpoint-every", str(self.checkpoint_every),
            "--preview-every", str(self.checkpoint_every),
        ]  # fmt: skip


RECIPES = {
    # The 2-core development CPU: 128 px crops (a step of the four styles takes about 1.3 s),
    # the cosine content loss over relu1_2..relu4_3, started from a network that reproduces
    # its input. The paintings are matched at a long side of 1024 for 2000 steps, then of
    # 512: a 128 px crop against the painting at 512 is the references' geometry (256 px
    # against 1024), and it brought every style closer to its painting (B5, docs/STYLES.md).
    "cpu": Recipe(
        identity_steps=1000,
        coarse_steps=2000,
        steps=3000,
        image_size=128,
        batch_size=4,
        style_size=1024,
        fine_style_size=512,
        # Step 3000 on: dark and flat regions take the painting (candy's red door,
        # rain-princess's ochre blocks) where plain cosine kept the photo's dark wood; udnie
        # trains on plain cosine and still loses edges there, so it ships from step 3000
        # (B9-B12, docs/STYLES.md).
        finish_steps=3500,
        finish_style_weights=(4.0, 5.0, 5.0, 5.0),
        finish_content_strength=(1.0, 1.0, 0.0, 1.0),
        finish_styles=("mosaic",),
        # Step 3500 on: the Laplacian term keeps the photo's coarse outlines while the
        # styles take more paint at a geometry nearer the references': rain-princess meets
        # its reference, candy comes closer on all three numbers; mosaic's style and udnie's
        # look are better where they are (B31, docs/STYLES.md).
        polish_steps=3750,
        polish_image_size=192,
        polish_style_size=768,
        polish_scale_jitter=2.0,
        polish_style_weights=(4.0, 12.0, 5.0, 5.0),
        polish_laplacian_weight=1.0,
        polish_styles=("candy", "rain-princess"),
        # Then candy alone, freed to paint: no Laplacian term, weak regions giving way more,
        # relu2_2 weighted up and relu4_3 down, 500 steps at 1e-3 (C4, docs/STYLES.md);
        # settled by a rate decayed to 0 at 600 (C5), then once more to 0 at 750 with the
        # Laplacian term back at 0.5 (C6), which keeps the photos' outlines.
        alone_style="candy",
        alone_content_strength=2.0,
        alone_style_layer_weights=(1.0, 2.0, 1.0, 0.5),
        alone_phases=(
            (500, ()),
            # A cosine schedule over N steps at rate r is 1e-3 at the phase's first step.
            (600, ("--lr", "0.0149", "--lr-schedule", "cosine")),
            (750, ("--lr", "0.01047", "--lr-schedule", "cosine", "--laplacian-weight", "0.5")),
        ),
        scale_jitter=3.0,
        content_weight=5.0,
        style_weight=5.0,
        lr=1e-3,
        checkpoint_every=500,
        lite_steps=1500,
        lite_content_weight=1.0,
        lite_pixel_weight=20.0,
        lite_multi_teacher_steps=3000,
        lite_multi_steps=4500,
        lite_style_weights=(0.4, 0.2, 0.3, 0.4),
        lite_fine_steps=5500,
        lite_final_steps=7000,
    ),
}


def realtime(*args: str) -> str:
    """Run ``python -m realtime ARGS`` (stderr shown live); stdout is returned."""
    command = [sys.executable, "-m", "realtime", *args]
    print("$ realtime " + " ".join(args), flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        raise SystemExit(f"retrain: 'realtime {args[0]}' failed with exit code {done.returncode}")
    return done.stdout


def training_folder(shared: Path, work: Path) -> Path:
    """``data/content/train`` without the held-out photos, as links."""
    folder = work / "dataset"
    folder.mkdir(parents=True, exist_ok=True)
    for photo in sorted((shared / "data/content/train").iterdir()):
        link = folder / photo.name
        if photo.name not in HOLDOUT and not link.exists():
            link.symlink_to(photo.resolve())
    return folder


def painting_args(shared: Path) -> list[str]:
    """``--style-image`` for each painting, in STYLES' order (the multi-style input's)."""
    return [arg for s in STYLES for arg in ("--style-image", str(shared / f"data/styles/{s}.jpg"))]


def trained_steps(card_path: Path) -> int:
    if not card_path.is_file():
        return 0
    return int(json.loads(card_path.read_text(encoding="utf-8")).get("steps", 0))


def _train(out: Path, steps: int, args: list[str]) -> Path:
    if out.is_file() and trained_steps(out.with_suffix(".json")) >= steps:
        print(f"{out.name}: already trained to {steps} steps", flush=True)
        return out
    resume = ["--resume"] if out.with_name(out.stem + ".checkpoints").is_dir() else []
    realtime("train", *args, "--out", str(out), "--steps", str(steps), *resume)
    return out


def _continue_from(out: Path, source: Path, step: int) -> None:
    """Start ``out``'s run from ``source``'s checkpoint of ``step`` (Adam's state included),
    unless ``out`` has checkpoints of its own. Its resume warns that the recipe changed: on
    purpose, a new phase."""
    checkpoints = out.with_name(out.stem + ".checkpoints")
    if not checkpoints.is_dir():
        checkpoints.mkdir(parents=True)
        name = f"step_{step:06d}.pt"
        shutil.copyfile(source.with_name(source.stem + ".checkpoints") / name, checkpoints / name)


def _snapshot(out: Path, steps: int, args: list[str]) -> Path | None:
    """``out``'s run as it was at ``steps``, when that checkpoint exists: written out with
    its card (as ``<stem>-<steps>.pth``) by resuming it with nothing left to train."""
    checkpoint = out.with_name(out.stem + ".checkpoints") / f"step_{steps:06d}.pt"
    if not checkpoint.is_file():
        return None
    snapshot = out.with_name(f"{out.stem}-{steps}.pth")
    if not (snapshot.is_file() and trained_steps(snapshot.with_suffix(".json")) == steps):
        realtime("train", *args, "--out", str(snapshot), "--steps", str(steps),
                 "--resume", str(checkpoint))  # fmt: skip
    return snapshot


class Networks(NamedTuple):
    """The multi-style network's phases that ship or teach: the first (the lite networks'
    first teacher), the second, the weighted one (``paintings``) and the Laplacian one."""

    coarse: Path
    fine: Path
    finish: Path
    polish: Path
    alone: Path | None = None  # recipe.alone_style's network of its own

    def shipped(self, style: str, recipe: Recipe) -> Path:
        if self.alone is not None and style == recipe.alone_style:
            return self.alone
        if style in recipe.polish_styles:
            return self.polish
        return self.finish if style in recipe.finish_styles else self.fine

    def teacher_args(self, recipe: Recipe) -> list[str]:
        """``realtime train`` options that make each style's shipped network its teacher:
        the last phase's, with ``--teacher-row`` for the styles that ship from another. Not
        ``alone``: the lite networks were distilled before it (a 500-step continuation with
        it as candy's teacher is in docs/STYLES.md, C7, and did not ship)."""
        shared = self._replace(alone=None)
        rows = [f"{style}={shared.shipped(style, recipe)}" for style in STYLES
                if shared.shipped(style, recipe) != self.finish]  # fmt: skip
        return ["--teacher", str(self.finish), *(a for r in rows for a in ("--teacher-row", r))]


def train(recipe: Recipe, shared: Path, work: Path, steps: int | None = None) -> Networks:
    """Every phase of the multi-style network; ``steps``: ship a checkpoint of that step
    (of the second phase below ``recipe.steps``, else of the last) instead of the last."""
    dataset = training_folder(shared, work)
    preview = ["--preview-image", str(shared / "data/samples/amber.jpg"), "--num-workers", "1"]
    identity = _train(
        work / "identity.pth",
        recipe.identity_steps,
        ["--dataset", str(dataset), "--content-loss", "pixel", "--style-weight", "0",
         *recipe.common(), *preview],
    )  # fmt: skip
    multi_args = [*painting_args(shared), "--dataset", str(dataset), "--init", str(identity),
         "--vgg-weights", str(shared / "weights/vgg16-imagenet-features.pth"),
         "--content-loss", "cosine", "--content-layers", "relu1_2,relu2_2,relu3_3,relu4_3",
         "--content-weight", str(recipe.content_weight),
         "--style-weight", str(recipe.style_weight),
         "--keep-checkpoints", "100", *recipe.common(), *preview]  # fmt: skip
    main = work / "multi.pth"
    coarse_args = [*multi_args, "--style-size", str(recipe.style_size)]
    coarse = _snapshot(main, recipe.coarse_steps, coarse_args)
    if coarse is None:
        _train(main, recipe.coarse_steps, coarse_args)
        coarse = _snapshot(main, recipe.coarse_steps, coarse_args)
    if coarse is None:  # the second phase starts from this checkpoint
        raise SystemExit(
            f"retrain: {main.stem}.checkpoints has no step {recipe.coarse_steps}; "
            "coarse_steps must be a multiple of checkpoint_every"
        )
    fine = work / f"multi-{recipe.fine_style_size}.pth"
    _continue_from(fine, main, recipe.coarse_steps)
    fine_args = [*multi_args, "--style-size", str(recipe.fine_style_size)]
    if steps is not None and steps < recipe.steps:
        snapshot = _snapshot_or_exit(fine, steps, fine_args)
        return Networks(coarse, snapshot, snapshot, snapshot)
    _train(fine, recipe.steps, fine_args)
    finish = work / "multi-weighted.pth"
    _continue_from(finish, fine, recipe.steps)
    # Later options win: the last phase's loss, weights and rate replace the earlier ones.
    finish_args = [*fine_args, "--content-loss", "weighted-cosine",
        "--content-strength", ",".join(map(str, recipe.finish_content_strength)),
        "--style-weight", ",".join(map(str, recipe.finish_style_weights))]  # fmt: skip
    if steps is not None and steps < recipe.finish_steps:
        snapshot = _snapshot_or_exit(finish, steps, finish_args)
        return Networks(coarse, fine, snapshot, snapshot)
    _train(finish, recipe.finish_steps, finish_args)
    if steps == recipe.finish_steps:
        return Networks(coarse, fine, finish, finish)
    polish = work / "multi-laplacian.pth"
    _continue_from(polish, finish, recipe.finish_steps)
    polish_args = [*finish_args, "--image-size", str(recipe.polish_image_size),
        "--style-size", str(recipe.polish_style_size),
        "--scale-jitter", str(recipe.polish_scale_jitter),
        "--style-weight", ",".join(map(str, recipe.polish_style_weights)),
        "--laplacian-weight", str(recipe.polish_laplacian_weight)]  # fmt: skip
    if steps is not None and steps != recipe.polish_steps:
        return Networks(coarse, fine, finish, _snapshot_or_exit(polish, steps, polish_args))
    _train(polish, recipe.polish_steps, polish_args)
    if steps is not None:
        return Networks(coarse, fine, finish, polish)
    return Networks(coarse, fine, finish, polish, train_alone(recipe, shared, work, polish))


def train_alone(recipe: Recipe, shared: Path, work: Path, polish: Path) -> Path:
    """``recipe.alone_style`` trained on its own from its row of ``polish``, phase by phase
    (``recipe.alone_phases``); the last phase's network."""
    style = recipe.alone_style
    args = ["--style-image", str(shared / f"data/styles/{style}.jpg"),
        "--init", str(polish), "--init-style", style,
        "--dataset", str(training_folder(shared, work)),
        "--vgg-weights", str(shared / "weights/vgg16-imagenet-features.pth"),
        "--content-loss", "weighted-cosine", "--content-layers", "relu1_2,relu2_2,relu3_3,relu4_3",
        "--content-weight", str(recipe.content_weight),
        "--content-strength", str(recipe.alone_content_strength),
        "--style-weight", str(recipe.polish_style_weights[STYLES.index(style)]),
        "--style-layer-weights", ",".join(map(str, recipe.alone_style_layer_weights)),
        "--keep-checkpoints", "100", *recipe.common(),
        "--image-size", str(recipe.polish_image_size),
        "--style-size", str(recipe.polish_style_size),
        "--scale-jitter", str(recipe.polish_scale_jitter),
        # Each phase continues from the last one's final step.
        "--checkpoint-every", "50",
        "--preview-image", str(shared / "data/samples/amber.jpg"),
        "--num-workers", "1"]  # fmt: skip
    previous: tuple[Path, int] | None = None
    last = len(recipe.alone_phases) - 1
    for index, (steps, options) in enumerate(recipe.alone_phases):
        # The one that ships is NAME-alone.pth, the teacher its lite row names.
        out = work / (f"{style}-alone.pth" if index == last else f"{style}-alone-{steps}.pth")
        if previous is not None:
            _continue_from(out, *previous)
        _train(out, steps, [*args, *options])
        previous = (out, steps)
    assert previous is not None, "alone_phases is empty"
    return previous[0]


def _snapshot_or_exit(out: Path, steps: int, args: list[str]) -> Path:
    snapshot = _snapshot(out, steps, args)
    if snapshot is None:
        raise SystemExit(f"retrain: no checkpoint of step {steps} in {out.stem}.checkpoints")
    return snapshot


def evaluate(image: Path, style: str, shared: Path, photo: Path | None = None) -> dict[str, float]:
    scores = json.loads(
        realtime(
            "eval",
            "style",
            str(image),
            str(shared / "data/styles" / f"{style}.jpg"),
            str(photo or shared / "data/samples/amber.jpg"),
            "--vgg-weights",
            str(shared / "weights/vgg16-imagenet-features.pth"),
            "--json",
        )  # fmt: skip
    )
    return {
        k: round(scores[k], 4) for k in ("style_distance", "content_distance", "edge_correlation")
    }


def build(
    style: str,
    multi: Path,
    recipe_name: str,
    shared: Path,
    work: Path,
    steps: int | None = None,
    student: Path | None = None,
    lite_steps: int | None = None,
) -> dict:
    """Export, evaluate and card ``style``: from the multi-style network ``multi``, or the
    lite ``student`` distilled from it (then named NAME-lite and also scored against the
    full network's own output, which is what it learned)."""
    name = f"{style}-lite" if student else style
    onnx_path = work / f"{name}.onnx"
    if student and _styles_of(student):  # a style of paintings-lite
        realtime("export", "--fp16", "--style", style, str(student), str(onnx_path))
    elif student:
        realtime("export", "--fp16", str(student), str(onnx_path))
    elif _styles_of(multi):
        realtime("export", "--fp16", "--style", style, str(multi), str(onnx_path))
    else:  # a style's network of its own
        realtime("export", "--fp16", str(multi), str(onnx_path))
    amber_in = shared / "data/samples/amber.jpg"
    amber = work / f"{name}-amber.jpg"
    realtime("image", str(amber_in), str(amber), "--style", str(onnx_path), "--device", "cpu")
    held_out = []
    for photo_name in HOLDOUT:
        photo = shared / "data/content/train" / photo_name
        out = work / f"{name}-{Path(photo_name).stem}.jpg"
        realtime("image", str(photo), str(out), "--style", str(onnx_path), "--device", "cpu")
        held_out.append(evaluate(out, style, shared, photo))
    reference = shared / "data/samples" / f"amber-{style}.reference.jpg"
    multi_card = json.loads(multi.with_suffix(".json").read_text(encoding="utf-8"))
    source = student or multi
    card = json.loads(source.with_suffix(".json").read_text(encoding="utf-8"))
    card = {k: v for k, v in card.items() if k != "styles"} | {"name": name}
    if "styles" in multi_card:
        card["style_image"] = next(
            {k: v for k, v in s.items() if k != "name"}
            for s in multi_card["styles"]
            if s["name"] == style
        ) | {"source": STYLE_SOURCE}
        card["multi_style"] = {"network": multi.name, "styles": list(STYLES)}
    else:  # a style's network of its own
        card["style_image"] = multi_card["style_image"] | {"source": STYLE_SOURCE}
    card["evaluation"] = {
        "content_image": "samples/amber.jpg (1080x1080), stylized at full size",
        "command": f"realtime eval style OUT {style}.jpg amber.jpg",
        "ours": evaluate(amber, style, shared),
        "reference": evaluate(reference, style, shared),
        "reference_is": "the PyTorch examples' pretrained model (COCO, torchvision VGG-16)",
        "held_out_mean": {
            k: round(float(np.mean([h[k] for h in held_out])), 4) for k in held_out[0]
        },
        "held_out_photos": list(HOLDOUT),
    }
    if student:
        card["evaluation"]["full_network"] = evaluate(work / f"{style}-amber.jpg", style, shared)
    card["retrain"] = {
        "recipe": recipe_name,
        "command": "python scripts/retrain_bundled_styles.py --shared ../shared "
        f"--recipe {recipe_name}" + (f" --steps {steps}" if steps else "")
        + _lite_flags(student, lite_steps) + f" --styles {style}",
    }  # fmt: skip
    if student and _styles_of(student):
        exported = f"{student.name} --style {style}, distilled from {multi.name}"
    elif student:
        exported = f"{student.name}, distilled from {multi.name} --style {style}"
    elif "styles" in multi_card:
        exported = f"{multi.name} --style {style}"
    else:
        exported = multi.name
    card["shipped"] = {"precision": "fp16", "exported_from": exported}
    (work / f"{name}.card.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return card


def _styles_of(network: Path) -> list[str]:
    card = network.with_suffix(".json")
    if not card.is_file():
        return []
    return [s["name"] for s in json.loads(card.read_text(encoding="utf-8")).get("styles", [])]


def _lite_flags(student: Path | None, lite_steps: int | None) -> str:
    if student is None:
        return ""
    if not _styles_of(student):
        return " --lite"
    return " --lite-multi" + (f" --lite-steps {lite_steps}" if lite_steps else "")


def build_paintings(
    multi: Path, recipe_name: str, work: Path, steps: int | None, name: str = "paintings",
    flags: str = "",
) -> dict:  # fmt: skip
    """``paintings`` (or ``paintings-lite``): a multi-style network itself, its style mix an
    input of the graph, so ``--style mosaic:0.7,candy:0.3`` works out of the box."""
    onnx_path = work / f"{name}.onnx"
    realtime("export", "--fp16", "--style-name", name, str(multi), str(onnx_path))
    card = json.loads(onnx_path.with_suffix(".json").read_text(encoding="utf-8"))
    card["retrain"] = {
        "recipe": recipe_name,
        "command": "python scripts/retrain_bundled_styles.py --shared ../shared "
        f"--recipe {recipe_name}" + (f" --steps {steps}" if steps else "") + flags,
    }
    card["shipped"] = {"precision": "fp16", "exported_from": multi.name}
    (work / f"{name}.card.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return card


def distil(style: str, multi: Path, recipe: Recipe, shared: Path, work: Path) -> Path:
    """NAME-lite: the lite network trained to reproduce ``multi``'s ``style`` (the teacher's
    output is the content target: a pixel term and a light perceptual one, no Gram)."""
    dataset = training_folder(shared, work)
    return _train(
        work / "lite" / f"{style}-lite.pth",
        recipe.lite_steps,
        ["--arch", "lite", "--teacher", str(multi), "--teacher-style", style,
         "--style-weight", "0", "--content-loss", "cosine",
         "--content-layers", "relu1_2,relu2_2,relu3_3,relu4_3",
         "--content-weight", str(recipe.lite_content_weight),
         "--pixel-weight", str(recipe.lite_pixel_weight),
         "--dataset", str(dataset),
         "--vgg-weights", str(shared / "weights/vgg16-imagenet-features.pth"),
         *recipe.common(), "--preview-image", str(shared / "data/samples/amber.jpg"),
         "--num-workers", "1"],
    )  # fmt: skip


def distil_all(
    nets: Networks, recipe: Recipe, shared: Path, work: Path, steps: int | None = None
) -> Path:
    """paintings-lite: the lite network trained to reproduce every style of ``nets.coarse``
    (each crop in its own style), started from mosaic-lite, then also to match each
    painting's Gram statistics, then on with ``nets.fine`` as teacher, and last with each
    style's shipped network. ``steps``: the checkpoint of that step (of the phase it falls
    in)."""
    coarse = nets.coarse
    start = distil("mosaic", coarse, recipe, shared, work)
    args = ["--arch", "lite", "--init", str(start),
            "--content-loss", "cosine",
            "--content-layers", "relu1_2,relu2_2,relu3_3,relu4_3",
            "--content-weight", str(recipe.lite_content_weight),
            "--pixel-weight", str(recipe.lite_pixel_weight),
            "--dataset", str(training_folder(shared, work)),
            "--vgg-weights", str(shared / "weights/vgg16-imagenet-features.pth"),
            "--keep-checkpoints", "100",
            *recipe.common(), "--preview-image", str(shared / "data/samples/amber.jpg"),
            "--num-workers", "1"]  # fmt: skip
    # The teacher's picture alone: the student first learns to paint as its teacher does.
    first = _train(
        work / "lite" / "paintings-lite-teacher.pth",
        recipe.lite_multi_teacher_steps,
        [*args, "--teacher", str(coarse), "--style-weight", "0"],
    )
    # Then the paintings' Gram term as well: a pixel-matched student is a softer copy of
    # its teacher, and the Gram term gives the strokes back (the A/B in docs/STYLES.md).
    # The run continues the first one's last checkpoint (Adam's state included).
    second = work / "lite" / "paintings-lite.pth"
    _continue_from(second, first, recipe.lite_multi_teacher_steps)
    args += [*painting_args(shared),
             "--style-weight", ",".join(map(str, recipe.lite_style_weights))]  # fmt: skip
    _train(second, recipe.lite_multi_steps,
           [*args, "--teacher", str(coarse), "--style-size", str(recipe.style_size)])  # fmt: skip
    # Then the second phase's network as teacher, and its paintings' scale.
    fine = work / "lite" / f"paintings-lite-{recipe.fine_style_size}.pth"
    _continue_from(fine, second, recipe.lite_multi_steps)
    fine_args = [*args, "--teacher", str(nets.fine), "--style-size", str(recipe.fine_style_size)]
    if steps is not None and steps <= recipe.lite_fine_steps:
        return _snapshot_or_exit(fine, steps, fine_args)
    _train(fine, recipe.lite_fine_steps, fine_args)
    # Last, each style's shipped network as its teacher: the student follows the network it
    # stands in for on a CPU (mosaic's, candy's and rain-princess's painted doors).
    out = work / "lite" / "paintings-lite-final.pth"
    _continue_from(out, fine, recipe.lite_fine_steps)
    final_args = [*args, *nets.teacher_args(recipe), "--style-size", str(recipe.fine_style_size)]
    if steps is not None and steps != recipe.lite_final_steps:
        return _snapshot_or_exit(out, steps, final_args)
    return _train(out, recipe.lite_final_steps, final_args)


def install(style: str, card: dict, work: Path) -> None:
    shutil.copyfile(work / f"{style}.onnx", BUNDLED / f"{style}.onnx")
    # The card names this checkout's files relative to its root: the package ships to
    # machines where this machine's absolute paths mean nothing.
    text = json.dumps(card, indent=1).replace(json.dumps(f"{ROOT}/")[1:-1], "")
    (BUNDLED / f"{style}.json").write_text(text + "\n", encoding="utf-8")
    print(f"installed {style} into {BUNDLED}", flush=True)


def draw_grid(shared: Path, work: Path, path: Path, cell: int = 320) -> None:
    """painting | photo | reference | ours (| ours, lite), one row per style."""
    rows = []
    lite = any((work / f"{style}-lite-amber.jpg").is_file() for style in STYLES)
    for style in STYLES:
        files = [
            shared / "data/styles" / f"{style}.jpg",
            shared / "data/samples/amber.jpg",
            shared / "data/samples" / f"amber-{style}.reference.jpg",
            work / f"{style}-amber.jpg",
        ]
        if not files[-1].is_file():
            continue
        if lite:
            files.append(work / f"{style}-lite-amber.jpg")
        cells = []
        for file in files:
            if not file.is_file():  # no lite network for this style yet
                cells.append(np.full((cell, cell, 3), 255, np.uint8))
                continue
            with Image.open(file) as img:
                img = img.convert("RGB")
                img.thumbnail((cell, cell), Image.LANCZOS)
                canvas = Image.new("RGB", (cell, cell), (255, 255, 255))
                canvas.paste(img, ((cell - img.width) // 2, (cell - img.height) // 2))
                cells.append(np.asarray(canvas))
        rows.append(np.concatenate(cells, axis=1))
    if rows:
        Image.fromarray(np.concatenate(rows, axis=0)).save(path, quality=90)
        print(f"wrote {path}", flush=True)


def table(cards: dict[str, dict]) -> str:
    lines = [
        "| style | ours: style / content / edges | reference | held out (ours) |",
        "|---|---|---|---|",
    ]
    for name, card in cards.items():
        evaluation = card["evaluation"]

        def three(scores: dict[str, float]) -> str:
            return " / ".join(f"{scores[k]:.3f}" for k in scores)

        lines.append(
            f"| {name} | {three(evaluation['ours'])} | {three(evaluation['reference'])} "
            f"| {three(evaluation['held_out_mean'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="cpu")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bundled")
    parser.add_argument("--train-only", action="store_true", help="stop after training")
    parser.add_argument("--no-install", action="store_true", help="leave the package alone")
    parser.add_argument(
        "--steps",
        type=int,
        help="ship the multi-style network at this step (the checkpoint of that step of the "
        "phase it falls in) instead of the recipe's last",
    )
    parser.add_argument(
        "--lite",
        action="store_true",
        help="build NAME-lite for each style instead: the lite network distilled from the "
        "multi-style network's NAME, which must be built already (its amber output is compared)",
    )
    parser.add_argument(
        "--lite-multi",
        action="store_true",
        help="build paintings-lite (the four styles distilled at once) and each NAME-lite "
        "from it; with --train-only, just train it",
    )
    parser.add_argument(
        "--lite-steps",
        type=int,
        help="with --lite-multi: ship paintings-lite's checkpoint of this step (of the phase "
        "it falls in)",
    )
    parser.add_argument(
        "--styles",
        default=",".join(STYLES),
        help="build and install only these (comma-separated); default: all four",
    )
    args = parser.parse_args()
    missing = [
        p
        for p in ("data/styles", "data/content/train", "weights")
        if not (args.shared / p).exists()
    ]
    if missing:
        parser.error(f"{args.shared} lacks {', '.join(missing)}; give --shared PATH")
    args.work.mkdir(parents=True, exist_ok=True)
    styles = args.styles.split(",")
    unknown = sorted(set(styles) - set(STYLES))
    if unknown:
        parser.error(f"unknown style(s) {', '.join(unknown)}; the bundled ones are {STYLES}")
    if args.lite and args.lite_multi:
        parser.error("--lite and --lite-multi are two ways to build NAME-lite; give one")
    recipe = RECIPES[args.recipe]
    nets = train(recipe, args.shared, args.work, args.steps)
    lite_multi = None
    if args.lite_multi:
        lite_multi = distil_all(nets, recipe, args.shared, args.work, args.lite_steps)
    if args.train_only:
        return
    lite = args.lite or args.lite_multi

    def student(style: str) -> Path | None:
        if args.lite:
            return distil(style, nets.coarse, recipe, args.shared, args.work)
        return lite_multi

    cards = {
        (f"{style}-lite" if lite else style): build(
            # A lite network is carded against the network it was distilled from.
            style, nets.coarse if args.lite else nets.shipped(style, recipe), args.recipe,
            args.shared, args.work, args.steps,
            student(style), args.lite_steps,
        )
        for style in styles
    }  # fmt: skip
    if lite_multi is not None:
        cards_to_install = {**cards, "paintings-lite": build_paintings(
            lite_multi, args.recipe, args.work, args.steps, "paintings-lite",
            _lite_flags(lite_multi, args.lite_steps))}  # fmt: skip
    elif not lite:
        cards_to_install = {**cards, "paintings": build_paintings(
            nets.finish, args.recipe, args.work, args.steps)}  # fmt: skip
    else:
        cards_to_install = cards
    if not args.no_install:
        for name, card in cards_to_install.items():
            install(name, card, args.work)
        draw_grid(args.shared, args.work, ROOT / "docs" / "styles-grid.jpg")
    print(table(cards))


if __name__ == "__main__":
    main()
