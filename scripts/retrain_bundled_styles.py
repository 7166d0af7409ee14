"""Retrain, export, evaluate and install the bundled styles from ../shared: one command.

    python scripts/retrain_bundled_styles.py --shared ../shared            # everything
    python scripts/retrain_bundled_styles.py --shared ../shared --train-only  # just train
    python scripts/retrain_bundled_styles.py --shared ../shared --no-install  # leave the package

The recipe is data: ``recipes/bundled-RECIPE.toml`` (``--recipe``, default ``cpu``), one table
per ``realtime train`` run (a phase); its header says how phases refer to each other. This
script runs it with the user-facing commands, so what ships is exactly what a user can
reproduce:

1. A training folder of ``data/content/train`` without the ``HOLDOUT`` photos (links in
   ``--work``, default ``runs/bundled``): they are kept for checking that a recipe is not
   tuned to the photos it saw.
2. Each phase that a shipped network needs, once, in the order they need each other: its
   options resolved into ``WORK/recipes/PHASE.toml``, then ``realtime train --config`` on
   that file. A phase with ``after`` first gets the checkpoint it goes on from. Interrupted
   or extended runs continue from their newest checkpoint (``--resume``); a finished run is
   not retrained.
3. ``realtime export --fp16 --style NAME``: each style as its own single-style network.
4. ``realtime image`` on ``samples/amber.jpg`` at full size and ``realtime eval style`` of
   that output and of the PyTorch examples' reference output: the numbers in each card's
   ``evaluation`` and in docs/STYLES.md.
5. Unless ``--no-install``: copies ``NAME.onnx`` and its card into
   ``realtime/bundled_styles/`` and redraws ``docs/styles-grid.jpg``
   (painting | photo | reference | ours | ours, lite).

``--lite`` builds ``NAME-lite`` instead: the recipe's per-style ``lite`` phase (the lite
network distilled from one style of a full network), exported, scored like the others and
also against the full network's output.

``--lite-multi`` builds ``paintings-lite`` (``[ship]``'s phase: the lite network distilled
from the whole four-painting network, phase by phase, the last one with each style's shipped
full network as its teacher) and exports each ``NAME-lite`` from it (``--style NAME``).
``--lite-steps N`` ships its checkpoint of step N (of the phase it falls in).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's packages, installed or not

from models.train_config import (  # noqa: E402
    RECIPE_FIELDS,
    TrainConfig,
    config_path_for,
    read_recipe,
    recipe_options,
)
from realtime.core.errors import UserError  # noqa: E402

BUNDLED = ROOT / "realtime" / "bundled_styles"
RECIPES = ROOT / "recipes"
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
# A network named in a recipe: @PHASE, @PHASE:STYLE (a per-style phase) or @ship:NAME.
_REFERENCE = re.compile(r"@([\w-]+)(?::([\w-]+))?")


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


def trained_steps(card_path: Path) -> int:
    if not card_path.is_file():
        return 0
    return int(json.loads(card_path.read_text(encoding="utf-8")).get("steps", 0))


def _checkpoints(out: Path) -> Path:
    return out.with_name(out.stem + ".checkpoints")


def _checkpoint(out: Path, step: int) -> Path:
    return _checkpoints(out) / f"step_{step:06d}.pt"


def _train(config: TrainConfig, file: Path) -> Path:
    """``config``'s network (its options in ``file``), trained unless it is."""
    out = config.out
    if out.is_file() and trained_steps(out.with_suffix(".json")) >= config.steps:
        changed = _changed(config)
        note = (
            f" with another recipe ({', '.join(changed)}); delete it to retrain" if changed else ""
        )
        print(f"{out.name}: already trained to {config.steps} steps{note}", flush=True)
        return out
    resume = ["--resume"] if _checkpoints(out).is_dir() else []
    realtime("train", "--config", str(file), *resume)
    return out


def _changed(config: TrainConfig) -> list[str]:
    """What ``config`` would train differently from the last run that wrote its network, as
    that run's NAME.config.toml says (nothing is known of a run from before those files)."""
    written = config_path_for(config.out)
    if not written.is_file():
        return []
    ran = TrainConfig(**read_recipe(written))
    return [name for name in RECIPE_FIELDS if getattr(ran, name) != getattr(config, name)]


def _continue_from(out: Path, source: Path, step: int) -> None:
    """Start ``out``'s run from ``source``'s checkpoint of ``step`` (Adam's state included),
    unless ``out`` has checkpoints of its own. Its resume warns that the recipe changed: on
    purpose, a new phase."""
    if not _checkpoints(out).is_dir():
        if not _checkpoint(source, step).is_file():
            raise SystemExit(
                f"retrain: {source.stem}.checkpoints has no step {step} to go on from; make "
                "each phase's steps a multiple of its checkpoint_every"
            )
        _checkpoints(out).mkdir(parents=True)
        shutil.copyfile(_checkpoint(source, step), _checkpoint(out, step))


def _snapshot(out: Path, steps: int, config: Path) -> Path:
    """``out``'s run as it was at ``steps``, written out with its card (as
    ``<stem>-<steps>.pth``) by resuming that checkpoint with nothing left to train."""
    checkpoint = _checkpoint(out, steps)
    if not checkpoint.is_file():
        raise SystemExit(f"retrain: no checkpoint of step {steps} in {out.stem}.checkpoints")
    snapshot = out.with_name(f"{out.stem}-{steps}.pth")
    if not (snapshot.is_file() and trained_steps(snapshot.with_suffix(".json")) == steps):
        realtime("train", "--config", str(config), "--out", str(snapshot),
                 "--steps", str(steps), "--resume", str(checkpoint))  # fmt: skip
    return snapshot


class Recipe:
    """A recipe file's phases, and the runs that make the networks they name: each phase is
    trained once, when a network first needs it. ``cuts``: the step each of the file's [cut]
    chains ships at, where one is given (--steps, --lite-steps)."""

    def __init__(self, path: Path, shared: Path, work: Path, cuts: dict[str, int | None]) -> None:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        self.path = path
        self.defaults: dict[str, Any] = data.get("defaults", {})
        self.ship: dict[str, str] = data["ship"]
        self.phases: dict[str, dict[str, Any]] = data["phase"]
        self.places = {"shared": shared.absolute(), "work": work.absolute()}
        # Each [cut] chain, first phase first, and the step it ships at (None: its last).
        self.chains = {
            key: (self._chain(last), cuts.get(key)) for key, last in data.get("cut", {}).items()
        }
        self.built: dict[str, Path] = {}
        self.configs: dict[str, TrainConfig] = {}

    def _chain(self, last: str) -> list[str]:
        chain = [last]
        while "after" in self.phases[chain[0]]:
            chain.insert(0, self.phases[chain[0]]["after"])
        return chain

    def network(self, reference: str) -> Path:
        """The network ``reference`` names (``@PHASE``, ``@PHASE:STYLE``, ``@ship:NAME``)."""
        match = _REFERENCE.fullmatch(reference)
        if match is None:
            raise SystemExit(f"retrain: {reference!r} names no network; write @PHASE")
        phase, style = match.groups()
        if phase == "ship":
            if style not in self.ship:
                raise SystemExit(f"retrain: {reference}: [ship] has no {style}")
            phase, style = self.ship[style], None
            # With --steps, a network from outside every chain (a style trained on alone
            # after the shared network) ships from the cut instead.
            steps_chain, step = self.chains.get("steps", ([], None))
            if step is not None and not any(phase in c for c, _ in self.chains.values()):
                phase = steps_chain[-1]
        if phase not in self.phases:
            raise SystemExit(f"retrain: {reference}: {self.path.name} has no [phase.{phase}]")
        for chain, step in self.chains.values():
            if step is not None and phase in chain:
                cut = next((p for p in chain if self.phases[p]["steps"] >= step), None)
                if cut is None:
                    raise SystemExit(f"retrain: no phase of {chain[-1]}'s chain reaches {step}")
                if chain.index(phase) >= chain.index(cut):
                    return self.train(cut, snapshot=step)
        return self.train(phase, style)

    def train(self, phase: str, style: str | None = None, snapshot: int | None = None) -> Path:
        """``phase``'s network (for ``style``, a per-style phase's), trained unless it is;
        ``snapshot``: its checkpoint of that step instead, from an earlier run."""
        key = f"{phase}-{style}" if style else phase
        if key not in self.built:
            config = self._config(phase, style)
            file = self.places["work"] / "recipes" / f"{key}.toml"
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(config.to_toml(), encoding="utf-8")
            after = self.phases[phase].get("after")
            if after is not None:
                _continue_from(config.out, self.train(after), self.phases[after]["steps"])
            self.configs[key] = config
            self.built[key] = (
                _snapshot(config.out, snapshot, file)
                if snapshot is not None and snapshot != config.steps
                else _train(config, file)
            )
        return self.built[key]

    def _table(self, phase: str) -> dict[str, Any]:
        """``phase``'s own keys over those it starts from: [defaults] or its ``after``'s."""
        table = dict(self.phases[phase])
        after = table.pop("after", None)
        return (self.defaults if after is None else self._table(after)) | table

    def _config(self, phase: str, style: str | None) -> TrainConfig:
        """``phase``'s options, names filled in and the networks they name trained, checked
        as ``realtime train --config`` will check them."""
        places = self.places | ({"style": style} if style else {})

        def filled(value: Any) -> Any:
            if isinstance(value, list):
                return [filled(v) for v in value]
            if isinstance(value, dict):
                return {k: filled(v) for k, v in value.items()}
            if not isinstance(value, str):
                return value
            try:
                text = value.format_map(places)
            except KeyError as exc:
                raise SystemExit(f"retrain: phase {phase} names {{{exc.args[0]}}}") from None
            return str(self.network(text)) if text.startswith("@") else text

        table = {key: filled(value) for key, value in self._table(phase).items()}
        # A row painted by the teacher itself is the teacher's own painting: no row.
        rows = table.get("teacher_rows", {})
        table["teacher_rows"] = {k: v for k, v in rows.items() if v != table.get("teacher")}
        source = f"{self.path.name} [phase.{phase}]"
        return TrainConfig(**{"style_images": (), **recipe_options(table, source, RECIPES)})


def _recipe_names() -> list[str]:
    return sorted(p.stem.removeprefix("bundled-") for p in RECIPES.glob("bundled-*.toml"))


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
    parser.add_argument("--recipe", choices=_recipe_names(), default="cpu",
                        help="recipes/bundled-RECIPE.toml (default cpu)")  # fmt: skip
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
        help="build NAME-lite for each style instead: the recipe's lite phase, distilled from "
        "a full network's NAME (its amber output is compared)",
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
    try:
        run(args, styles)
    except UserError as exc:  # a recipe that realtime train would refuse, before any run
        raise SystemExit(f"retrain: {exc}") from None


def run(args: argparse.Namespace, styles: list[str]) -> None:
    training_folder(args.shared, args.work)
    cuts = {"steps": args.steps, "lite_steps": args.lite_steps}
    recipe = Recipe(RECIPES / f"bundled-{args.recipe}.toml", args.shared, args.work, cuts)
    for name in (*STYLES, "paintings"):  # every full network, whatever is built from them
        recipe.network(f"@ship:{name}")
    lite_multi = recipe.network("@ship:paintings-lite") if args.lite_multi else None
    if args.train_only:
        return

    def sources(style: str) -> tuple[Path, Path | None]:
        """The full network a style is carded against (a lite one's: what it learned
        from), and the lite student, if any."""
        if args.lite:
            student = recipe.network(f"@lite:{style}")
            return recipe.configs[f"lite-{style}"].teacher, student
        return recipe.network(f"@ship:{style}"), lite_multi

    lite = args.lite or args.lite_multi
    cards = {}
    for style in styles:
        full, student = sources(style)
        cards[f"{style}-lite" if lite else style] = build(
            style, full, args.recipe, args.shared, args.work, args.steps, student,
            args.lite_steps,
        )  # fmt: skip
    if lite_multi is not None:
        cards_to_install = {**cards, "paintings-lite": build_paintings(
            lite_multi, args.recipe, args.work, args.steps, "paintings-lite",
            _lite_flags(lite_multi, args.lite_steps))}  # fmt: skip
    elif not lite:
        cards_to_install = {**cards, "paintings": build_paintings(
            recipe.network("@ship:paintings"), args.recipe, args.work, args.steps)}  # fmt: skip
    else:
        cards_to_install = cards
    if not args.no_install:
        for name, card in cards_to_install.items():
            install(name, card, args.work)
        draw_grid(args.shared, args.work, ROOT / "docs" / "styles-grid.jpg")
    print(table(cards))


if __name__ == "__main__":
    main()
