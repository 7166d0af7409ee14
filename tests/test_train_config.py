"""TrainConfig as data: its metadata, its checks and its recipe files (no training, no torch
needed by the code under test)."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from models.train_config import (
    DEFAULTS,
    FILE_KEYS,
    RECIPE_FIELDS,
    STYLE_LAYER_NAMES,
    TrainConfig,
    config_path_for,
    flag_of,
    read_recipe,
    recipe_options,
)
from realtime.cli.commands.train import config_from_args
from realtime.cli.main import build_parser, main
from realtime.core.errors import UserError


def _train_parser() -> argparse.ArgumentParser:
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    return subparsers.choices["train"]


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", *argv])


def _config(**changes: object) -> TrainConfig:
    base = TrainConfig(style_images=(Path("s.jpg"),), dataset=Path("d"), out=Path("o.pth"))
    return dataclasses.replace(base, **changes)


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("realtime: error: "), lines
    for text in expected:
        assert text in lines[0]
    return lines[0]


# ----------------------------------------------------------------------------- metadata


def test_every_option_field_has_its_command_line_option_and_no_other() -> None:
    by_dest = {a.dest: a for a in _train_parser()._actions}
    options = [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("option", True)]
    for f in options:
        action = by_dest.get(f.name)
        assert action is not None, f"no option sets {f.name}"
        # Given or absent, never a default of the parser's own: TrainConfig's applies.
        assert action.default is argparse.SUPPRESS, f.name
        assert flag_of(f) in action.option_strings, (f.name, action.option_strings)
    # -v and -q are every command's (realtime.cli.main), after the command as before it.
    cli_only = {"help", "config", "add_style", "verbose", "quiet_notes"}
    assert set(by_dest) - cli_only == {f.name for f in options}


def test_a_field_whose_default_is_not_none_names_its_none() -> None:
    # Else a recipe file could not say it: TOML has no null.
    for f in dataclasses.fields(TrainConfig):
        if "None" in str(f.type) and f.default is not None:
            assert f.metadata.get("none"), f.name


def test_the_recipe_fields_are_what_changes_the_network() -> None:
    for name in ("style_images", "lr", "content_loss", "teacher_rows", "amp", "init_style"):
        assert name in RECIPE_FIELDS
    for name in ("out", "steps", "device", "resume", "progress", "num_workers", "threads"):
        assert name not in RECIPE_FIELDS
    assert "resume" not in FILE_KEYS and "teacher_styles" not in FILE_KEYS


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"steps": 0}, "--steps must be at least 1, got 0"),
        ({"image_size": 8}, "--image-size must be at least 16, got 8"),
        ({"style_size": 8}, "--style-size must be at least 16"),
        ({"lr": 0.0}, "--lr must be positive"),
        ({"lr_schedule": "step"}, "unknown --lr-schedule 'step'; use one of constant, cosine"),
        ({"device": "tpu"}, "unknown --device 'tpu'; use one of auto, cpu, cuda"),
        ({"jitter_max": 0.5}, "--scale-jitter must be at least 1, got 0.5"),
        ({"laplacian_weight": float("nan")}, "--laplacian-weight must be 0 or more, got nan"),
        ({"threads": 0}, "--threads must be at least 1"),
        ({"num_workers": -1}, "--num-workers must be 0 or more"),
        ({"content_layers": ("relu9_9",)}, "unknown --content-layers relu9_9"),
        ({"teacher_style": "x"}, "--teacher-style goes with --teacher"),
        ({"out": Path("o.onnx")}, "--out must end in .pth"),
    ],
)
def test_checks_name_the_option_at_fault(changes: dict, expected: str) -> None:
    with pytest.raises(UserError, match="^" + re.escape(expected)):
        _config(**changes).check(STYLE_LAYER_NAMES)


def test_the_defaults_pass_their_own_checks() -> None:
    _config().check(STYLE_LAYER_NAMES)
    _config(style_size=None, threads=2, resume="latest").check(STYLE_LAYER_NAMES)


# ----------------------------------------------------------------------------- recipe files


def test_a_config_written_as_toml_reads_back_equal(tmp_path: Path) -> None:
    config = _config(
        style_images=(Path("a b.jpg"), Path("/abs/c.png")), style_size=None, lr=1e-5,
        style_weight=(4.0, 12.0), teacher=Path("t.pth"), teacher_rows=(("candy", Path("c.pth")),),
        content_layers=("relu2_2",), amp=False, threads=3, tv_weight=float("inf"),
    )  # fmt: skip
    file = tmp_path / "run.config.toml"
    file.write_text(config.to_toml(), encoding="utf-8")
    again = TrainConfig(**read_recipe(file))
    absolute = {
        "style_images": tuple(p.absolute() for p in config.style_images),
        "dataset": config.dataset.absolute(),
        "out": config.out.absolute(),
        "teacher": Path("t.pth").absolute(),
        "teacher_rows": (("candy", Path("c.pth").absolute()),),
    }
    assert again == dataclasses.replace(config, **absolute)
    # Every key a file may hold is written, but for a None that is its field's default.
    unset = {"init", "init_style", "base", "vgg_weights", "teacher_style", "preview_image"}
    assert set(read_recipe(file)) == set(FILE_KEYS) - unset
    assert config_path_for(Path("runs/mosaic.pth")) == Path("runs/mosaic.config.toml")


def test_a_recipe_file_types_its_values_and_reads_paths_from_its_folder(tmp_path: Path) -> None:
    table = {
        "dataset": "photos", "out": "/nets/m.pth", "style_images": "s.jpg", "style_weight": 5,
        "style_size": "original", "teacher_rows": {"udnie": "u.pth"}, "lr": 1,
    }  # fmt: skip
    options = recipe_options(table, "r.toml", tmp_path)
    assert options == {
        "dataset": tmp_path / "photos", "out": Path("/nets/m.pth"),
        "style_images": (tmp_path / "s.jpg",), "style_weight": (5.0,), "style_size": None,
        "teacher_rows": (("udnie", tmp_path / "u.pth"),), "lr": 1.0,
    }  # fmt: skip
    assert isinstance(options["lr"], float)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stpes = 3", ["unknown key 'stpes'; the keys are style_images, dataset, out, steps"]),
        ("resume = 'latest'", ["unknown key 'resume'"]),
        ("steps = '3'", ["steps must be a whole number, got '3'"]),
        ("steps = 2.5", ["steps must be a whole number"]),
        ("amp = 1", ["amp must be true or false, got 1"]),
        ("style_size = 'big'", ["style_size must be a whole number or 'original'"]),
        ("style_weight = ['x']", ["style_weight must be a list of numbers, or one"]),
        ("teacher_rows = ['u=x.pth']", ['teacher_rows must be a table of NAME = "NET.pth"']),
        ("steps = ", ["is not valid TOML"]),
    ],
)
def test_a_bad_recipe_file_is_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: list[str]
) -> None:
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(text + "\n", encoding="utf-8")
    _fails(["train", "--config", str(recipe)], capsys, str(recipe), *expected)


def test_a_missing_recipe_file_or_dataset_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fails(["train", "--config", str(tmp_path / "nope.toml")], capsys, "recipe file not found")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('out = "m.pth"\n', encoding="utf-8")
    _fails(["train", "--config", str(recipe)], capsys, "needs --dataset DIR, on the command line")


def test_command_line_options_override_the_recipe_file(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        'dataset = "photos"\nout = "m.pth"\nsteps = 100\nlr = 0.01\n'
        'style_images = ["a.jpg", "b.jpg"]\namp = false\n',
        encoding="utf-8",
    )
    config = config_from_args(_args("--config", str(recipe), "--steps", "7",
                                    "--style-image", "c.jpg"))  # fmt: skip
    assert config.steps == 7 and config.lr == 0.01 and not config.amp
    assert config.style_images == (Path("c.jpg"),)  # replaced, not added to
    assert config.dataset == tmp_path / "photos" and config.out == tmp_path / "m.pth"
    assert config.batch_size == DEFAULTS.batch_size
    # --add-style fills the data form of a recipe: base and its one style image.
    recipe.write_text('dataset = "photos"\nout = "m.pth"\nbase = "multi.pth"\n', "utf-8")
    config = config_from_args(_args("--config", str(recipe), "--add-style", "new.jpg"))
    assert config.base == tmp_path / "multi.pth" and config.style_images == (Path("new.jpg"),)


@pytest.mark.parametrize("arch", ["lite", "full"])
def test_the_packaged_add_style_recipes_load_by_name(arch: str) -> None:
    """The panel trains a new painting with ``--config add-style-ARCH``: a recipe that ships
    in the package, read by name from wherever the command runs."""
    config = config_from_args(_args(
        "--config", f"add-style-{arch}", "--add-style", "new.jpg", "--base", "multi.pth",
        "--dataset", "photos", "--out", "new.pth",
    ))  # fmt: skip
    assert config.arch == arch and config.base == Path("multi.pth")
    assert config.steps < DEFAULTS.steps  # minutes, not a full training


def test_an_unknown_recipe_name_is_one_line() -> None:
    with pytest.raises(UserError, match="recipe file not found: no-such-recipe"):
        config_from_args(_args("--config", "no-such-recipe", "--dataset", "d", "--out", "o.pth"))
