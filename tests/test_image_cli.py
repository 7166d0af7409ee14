"""``realtime image``: the same engine and options as video, on one picture."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.cli import main
from realtime.errors import EXIT_USAGE


@pytest.fixture()
def photo(tmp_path):
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 256, (61, 83, 3), dtype=np.uint8), (0, 0), 2)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), image)
    return path


def read_rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_image_stylizes_at_input_size(photo, style_onnx, tmp_path) -> None:
    out = tmp_path / "out.png"
    assert main(["image", str(photo), str(out), "--model", str(style_onnx)]) == 0
    result, source = read_rgb(out), read_rgb(photo)
    assert result.shape == source.shape == (61, 83, 3)
    assert np.mean(np.abs(result.astype(int) - source.astype(int))) > 20


def test_image_matches_the_engine_directly(photo, style_onnx, tmp_path) -> None:
    from realtime.config import EngineConfig
    from realtime.engine import OnnxStylizer

    out = tmp_path / "out.png"
    assert main(["image", str(photo), str(out), "--style", str(style_onnx)]) == 0
    expected = OnnxStylizer(style_onnx, EngineConfig(device="cpu"))(read_rgb(photo))
    assert np.array_equal(read_rgb(out), expected)


def test_strength_zero_gives_back_the_photo(photo, style_onnx, tmp_path) -> None:
    out = tmp_path / "same.png"
    assert main(["image", str(photo), str(out), "--style", str(style_onnx), "--strength", "0"]) == 0
    assert np.array_equal(read_rgb(out), read_rgb(photo))


def test_pth_checkpoint_is_accepted(photo, style_pth, tmp_path) -> None:
    out = tmp_path / "from-pth.jpg"
    assert main(["image", str(photo), str(out), "--style", str(style_pth)]) == 0
    assert read_rgb(out).shape == (61, 83, 3)


@pytest.mark.parametrize(
    ("case", "message"),
    [("missing", "not found"), ("not_image", "cannot read"), ("suffix", "unknown image type")],
)
def test_bad_image_input(case, message, photo, style_onnx, tmp_path, capsys) -> None:
    src, out = photo, tmp_path / "out.png"
    if case == "missing":
        src = tmp_path / "nope.png"
    elif case == "not_image":
        src = tmp_path / "text.png"
        src.write_text("hello")
    elif case == "suffix":
        out = tmp_path / "out.xyz"
    assert main(["image", str(src), str(out), "--style", str(style_onnx)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def optimise(photo, out, weights, painting, *extra) -> int:
    args = ["image", photo, out, "--style-image", painting, "--vgg-weights", weights, *extra]
    return main([str(arg) for arg in args])


def test_style_image_optimises_from_the_content(
    photo, random_vgg_weights, painting_file, tmp_path, capsys
) -> None:
    out = tmp_path / "gatys.png"
    assert optimise(photo, out, random_vgg_weights, painting_file, "--steps", "4") == 0
    result, source = read_rgb(out), read_rgb(photo)
    assert result.shape == source.shape
    assert np.mean(np.abs(result.astype(int) - source.astype(int))) > 1
    assert "Gatys from the content at 83x61, 4 steps" in capsys.readouterr().err


def test_method_gatys_starts_from_the_networks_output(
    photo, style_onnx, random_vgg_weights, painting_file, tmp_path
) -> None:
    network, refined = tmp_path / "network.png", tmp_path / "refined.png"
    assert main(["image", str(photo), str(network), "--style", str(style_onnx)]) == 0
    # No steps: the result is the start, which must be the network's output exactly.
    common = ["--style", style_onnx, "--method", "gatys"]
    assert optimise(photo, refined, random_vgg_weights, painting_file, *common, "--steps", "0") == 0
    assert np.array_equal(read_rgb(refined), read_rgb(network))
    assert optimise(photo, refined, random_vgg_weights, painting_file, *common, "--steps", "3") == 0
    assert not np.array_equal(read_rgb(refined), read_rgb(network))


def test_style_image_preserve_color_keeps_the_chroma(
    photo, random_vgg_weights, painting_file, tmp_path
) -> None:
    out = tmp_path / "luma.png"
    code = optimise(
        photo, out, random_vgg_weights, painting_file, "--steps", "12", "--preserve-color"
    )
    assert code == 0
    ycc = [cv2.cvtColor(read_rgb(p), cv2.COLOR_RGB2YCrCb).astype(int) for p in (out, photo)]
    luma_change = np.abs(ycc[0][..., 0] - ycc[1][..., 0]).mean()
    chroma_change = np.abs(ycc[0][..., 1:] - ycc[1][..., 1:]).mean()
    assert luma_change > 1.5 and chroma_change < luma_change / 3


def test_style_weight_optimizer_and_scales_reach_the_optimiser(
    photo, random_vgg_weights, painting_file, tmp_path, capsys
) -> None:
    def change(*extra: str) -> float:
        out = tmp_path / "out.png"
        assert optimise(photo, out, random_vgg_weights, painting_file, "--steps", "4", *extra) == 0
        return float(np.mean(np.abs(read_rgb(out).astype(int) - read_rgb(photo).astype(int))))

    # Without the style term only total variation moves the photo: much less change.
    assert change("--style-weight", "0") < change("--style-weight", "5") / 2
    capsys.readouterr()
    assert change("--optimizer", "adam", "--scales", "2") > 1
    assert "after 1 coarser of 2 scales" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "gatys"], "give it with --style-image"),
        (["--style-image", "PAINTING", "--style", "mosaic"], "add --method gatys"),
        (["--style-image", "missing.png"], "style image not found"),
        (["--style-image", "PAINTING", "--steps", "-2"], "steps"),
        (["--style-image", "PAINTING", "--scales", "0"], "scales"),
        (["--style-image", "PAINTING", "--style-weight", "-1"], "style_weight"),
        (["--steps", "50"], "--steps sets up optimisation"),
        (["--scales", "2"], "add it or drop --scales"),
    ],
)
def test_bad_optimisation_options_are_one_line_errors(
    extra, message, photo, painting_file, tmp_path, capsys
) -> None:
    extra = [str(painting_file) if arg == "PAINTING" else arg for arg in extra]
    out = tmp_path / "out.png"
    assert main(["image", str(photo), str(out), *extra]) == EXIT_USAGE
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], errors
    assert not out.exists()
