"""``realtime eval style OUTPUT STYLE CONTENT``: the three numbers of ``models.metrics`` from
the command line, with a random-weight VGG (the metric's arithmetic needs no ImageNet), and
against the project's own scorer (``shared/tools/score_style.py``) where it is present."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from realtime.cli.main import main
from realtime.core.errors import EXIT_USAGE


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(1)
    photo = cv2.GaussianBlur(rng.integers(0, 256, (60, 90, 3), dtype=np.uint8), (0, 0), 2)
    paths = {"photo": tmp_path / "photo.png", "half": tmp_path / "half.png"}
    cv2.imwrite(str(paths["photo"]), photo)
    cv2.imwrite(str(paths["half"]), cv2.resize(photo, (45, 30), interpolation=cv2.INTER_AREA))
    return paths


def scores(capsys, *args) -> dict:
    assert main(["eval", "style", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_identical_images_score_zero(images, painting_file, random_vgg_weights, capsys) -> None:
    photo, weights = images["photo"], random_vgg_weights
    same = scores(capsys, photo, photo, photo, "--vgg-weights", weights)
    assert same["content_distance"] == pytest.approx(0, abs=1e-6)
    assert same["style_distance"] == pytest.approx(0, abs=1e-6)
    assert same["edge_correlation"] == pytest.approx(1, abs=1e-6)
    assert same["size"] == 512
    other = scores(capsys, photo, painting_file, photo, "--vgg-weights", weights)
    assert other["style_distance"] > 0.1


@pytest.mark.slow
def test_content_is_scored_at_the_outputs_scaled_size(images, random_vgg_weights, capsys) -> None:
    # A half-size output of the photo: both are brought to the same long side, so little
    # distance remains, whatever the sizes they came in.
    half = scores(capsys, images["half"], images["photo"], images["photo"], "--vgg-weights",
                  random_vgg_weights)  # fmt: skip
    assert half["content_distance"] < 0.1 and half["edge_correlation"] > 0.5
    sized = scores(capsys, images["half"], images["photo"], images["photo"], "--size", "60",
                   "--vgg-weights", random_vgg_weights)  # fmt: skip
    assert sized["size"] == 60


@pytest.mark.slow
def test_agrees_with_the_projects_scorer(shared_dir, vgg_weights, capsys) -> None:
    import subprocess
    import sys

    samples, styles = shared_dir / "data" / "samples", shared_dir / "data" / "styles"
    scorer = shared_dir / "tools" / "score_style.py"
    for style in ("candy", "udnie"):
        args = [samples / f"amber-{style}.reference.jpg", styles / f"{style}.jpg",
                samples / "amber.jpg"]  # fmt: skip
        ours = scores(capsys, *args, "--vgg-weights", vgg_weights)
        done = subprocess.run(
            [sys.executable, str(scorer), *map(str, args), "--json"],
            capture_output=True, text=True, check=True,
            env={**__import__("os").environ, "REALTIME_VGG_WEIGHTS": str(vgg_weights)},
        )  # fmt: skip
        theirs = json.loads(done.stdout)
        for key in ("style_distance", "content_distance", "edge_correlation"):
            assert round(ours[key], 3) == round(theirs[key], 3), (style, key, ours, theirs)


@pytest.mark.slow
def test_text_output_names_both(images, painting_file, random_vgg_weights, capsys) -> None:
    args = [images["photo"], painting_file, images["photo"], "--vgg-weights", random_vgg_weights]
    assert main(["eval", "style", *map(str, args)]) == 0
    out = capsys.readouterr().out
    assert "style distance" in out and "content distance" in out and "edge correlation" in out
    assert "stripes.png" in out


def test_bad_inputs_are_one_line_errors(
    images, painting_file, random_vgg_weights, tmp_path, capsys
) -> None:
    square = tmp_path / "square.png"
    cv2.imwrite(str(square), np.zeros((50, 50, 3), np.uint8))
    cases = [
        ([tmp_path / "missing.png", painting_file, images["photo"]], "not found"),
        ([square, painting_file, images["photo"]], "proportions"),
        ([images["photo"], painting_file, images["photo"], "--size", "4"], "too small"),
    ]
    for args, message in cases:
        code = main(["eval", "style", *map(str, args), "--vgg-weights", str(random_vgg_weights)])
        assert code == EXIT_USAGE
        errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
        assert len(errors) == 1 and message in errors[0], errors


def test_style_layers_separates_a_grams_size_from_its_shape() -> None:
    import importlib.util
    from pathlib import Path

    import torch

    path = Path(__file__).resolve().parent.parent / "scripts" / "style_layers.py"
    spec = importlib.util.spec_from_file_location("style_layers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    feats = torch.rand(1, 8, 36)
    ref = feats @ feats.transpose(-1, -2)
    # Half the painting's Gram: off by half, with half the energy, and the right shape.
    distance, energy, at_best = module.layer_numbers(0.5 * ref, ref)
    assert distance == pytest.approx(0.5) and energy == pytest.approx(0.5)
    assert at_best == pytest.approx(0.0, abs=1e-6)
    # A different shape stays off at any scale.
    other = torch.rand(1, 8, 8)
    other = other @ other.transpose(-1, -2)
    assert module.layer_numbers(other, ref)[2] > 0.01
