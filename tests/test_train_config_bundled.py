"""The bundled styles' recipe (recipes/bundled-cpu.toml) and its runner
(scripts/retrain_bundled_styles.py), with ``realtime train`` replaced by a stand-in that
parses each command as the real one does and writes what a finished run would: the phases,
their order, their options and the networks that ship, without training."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from models.train_config import STYLE_LAYER_NAMES, TrainConfig, config_path_for, read_recipe
from realtime.cli.commands.train import config_from_args
from realtime.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class Run:
    config: TrainConfig
    argv: list[str]


def _runner() -> ModuleType:
    path = ROOT / "scripts" / "retrain_bundled_styles.py"
    spec = importlib.util.spec_from_file_location("retrain_bundled_styles", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def _stand_in(runs: list[Run]):
    def realtime(*argv: str) -> str:
        assert argv[0] == "train", argv
        config = config_from_args(build_parser().parse_args(list(argv)))
        config.check(STYLE_LAYER_NAMES)  # as the trainer checks it (a subset of VGG's layers)
        runs.append(Run(config, list(argv)))
        out = config.out
        out.parent.mkdir(parents=True, exist_ok=True)  # as the trainer makes it
        out.write_bytes(b"weights")
        out.with_suffix(".json").write_text(json.dumps({"steps": config.steps}))
        config_path_for(out).write_text(config.to_toml())
        checkpoints = out.with_name(out.stem + ".checkpoints")
        checkpoints.mkdir(exist_ok=True)
        for step in range(config.checkpoint_every, config.steps + 1, config.checkpoint_every):
            (checkpoints / f"step_{step:06d}.pt").write_bytes(b"checkpoint")
        return ""

    return realtime


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    module = _runner()
    runs: list[Run] = []
    monkeypatch.setattr(module, "realtime", _stand_in(runs))
    shared = tmp_path / "shared"
    (shared / "data/content/train").mkdir(parents=True)
    (shared / "data/content/train/photo.jpg").write_bytes(b"jpeg")
    work = tmp_path / "work"
    module.training_folder(shared, work)

    def recipe(**cuts: int) -> object:
        return module.Recipe(module.RECIPES / "bundled-cpu.toml", shared, work, cuts)

    return module, recipe, runs, work


def _ships(module: ModuleType, recipe: object) -> dict[str, str]:
    names = (*module.STYLES, "paintings", "paintings-lite")
    return {name: recipe.network(f"@ship:{name}").name for name in names}


def test_the_runner_trains_every_phase_once_in_the_order_they_need_each_other(
    runner, capsys: pytest.CaptureFixture[str]
) -> None:
    module, recipe, runs, work = runner
    ships = _ships(module, recipe())
    assert ships == {
        "mosaic": "multi-weighted.pth", "candy": "candy-alone.pth", "udnie": "multi-512.pth",
        "rain-princess": "multi-laplacian.pth", "paintings": "multi-weighted.pth",
        "paintings-lite": "paintings-lite-final.pth",
    }  # fmt: skip
    assert [r.config.out.name for r in runs] == [
        "identity.pth", "multi-2000.pth", "multi-512.pth", "multi-weighted.pth",
        "multi-laplacian.pth", "candy-alone-500.pth", "candy-alone-600.pth", "candy-alone.pth",
        "mosaic-lite.pth", "paintings-lite-teacher.pth", "paintings-lite.pth",
        "paintings-lite-512.pth", "paintings-lite-final.pth",
    ]  # fmt: skip
    by_name = {r.config.out.stem: r for r in runs}
    # A phase with `after` goes on from its parent's last checkpoint (copied), with --resume.
    fine = by_name["multi-512"]
    assert fine.argv[-1] == "--resume" and fine.config.style_size == 512
    assert (work / "multi-512.checkpoints/step_002000.pt").is_file()
    # ... and keeps its parent's options but for what it changes.
    weighted = by_name["multi-weighted"].config
    assert weighted.style_size == 512 and weighted.content_loss == "weighted-cosine"
    assert weighted.style_weight == (4.0, 5.0, 5.0, 5.0) and weighted.image_size == 128
    assert by_name["candy-alone"].config.lr_schedule == "cosine"  # from candy-alone-600
    # Each run's options are a recipe file of their own, the one it was trained with.
    assert by_name["identity"].argv == ["train", "--config", str(work / "recipes/identity.toml")]
    for run in runs:
        file = Path(run.argv[2])
        assert TrainConfig(**read_recipe(file)) == dataclasses.replace(run.config, resume=None)
    # A finished run is not trained again, but a recipe changed since is pointed out.
    written = work / "identity.config.toml"
    written.write_text(written.read_text().replace("lr = 0.001", "lr = 0.002"))
    runs.clear()
    capsys.readouterr()
    _ships(module, recipe())
    assert runs == []
    out = capsys.readouterr().out
    assert "identity.pth: already trained to 1000 steps with another recipe (lr)" in out
    assert "multi-512.pth: already trained to 3000 steps\n" in out


def test_the_lite_networks_last_teachers_are_the_shipped_full_networks(runner) -> None:
    module, recipe, runs, work = runner
    bundle = recipe()
    ships = {name: bundle.network(f"@ship:{name}") for name in (*module.STYLES, "paintings")}
    bundle.network("@ship:paintings-lite")
    final = next(r.config for r in runs if r.config.out.stem == "paintings-lite-final")
    rows = dict(final.teacher_rows)
    assert final.teacher == ships["paintings"]
    for style in module.STYLES:
        assert rows.get(style, final.teacher) == ships[style], style
    # candy's is its own network (issue 36), not the shared one's row it started from.
    assert rows["candy"] == work / "candy-alone.pth"
    assert "mosaic" not in rows  # painted by the teacher itself
    # The earlier lite phases learn from the first and second phases, as before.
    teachers = {r.config.out.stem: r.config.teacher for r in runs if r.config.arch == "lite"}
    assert teachers["mosaic-lite"] == teachers["paintings-lite"] == work / "multi-2000.pth"
    assert teachers["paintings-lite-512"] == work / "multi-512.pth"


def test_steps_ship_the_checkpoint_of_the_phase_they_fall_in(runner) -> None:
    module, recipe, runs, work = runner
    _ships(module, recipe())  # an earlier full run: the checkpoints exist
    runs.clear()
    ships = _ships(module, recipe(steps=2500))
    assert {ships[s] for s in (*module.STYLES, "paintings")} == {"multi-512-2500.pth"}
    [snapshot] = runs
    assert snapshot.argv[-6:] == [
        "--out", str(work / "multi-512-2500.pth"), "--steps", "2500",
        "--resume", str(work / "multi-512.checkpoints/step_002500.pt"),
    ]  # fmt: skip
    # At a phase's last step: that phase, and what ships from later ones (or from candy's
    # own network, outside the chain) ships from it.
    ships = _ships(module, recipe(steps=3500))
    assert ships["udnie"] == "multi-512.pth"
    assert {ships[s] for s in ("mosaic", "candy", "rain-princess")} == {"multi-weighted.pth"}
    assert _ships(module, recipe(lite_steps=5000))["paintings-lite"] == (
        "paintings-lite-512-5000.pth"
    )
    assert _ships(module, recipe(lite_steps=5000))["candy"] == "candy-alone.pth"
    with pytest.raises(SystemExit, match="no checkpoint of step 3200"):
        recipe(steps=3200).network("@ship:mosaic")
