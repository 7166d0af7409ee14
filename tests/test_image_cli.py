"""``realtime image``: the same engine and options as video, on one picture."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.cli.main import main
from realtime.core.errors import EXIT_USAGE


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
    from realtime.core.config import EngineConfig
    from realtime.runtime.engine import OnnxStylizer

    out = tmp_path / "out.png"
    assert main(["image", str(photo), str(out), "--style", str(style_onnx)]) == 0
    expected = OnnxStylizer(style_onnx, EngineConfig())(read_rgb(photo))  # the default engine
    assert np.array_equal(read_rgb(out), expected)


def test_strength_zero_gives_back_the_photo(photo, style_onnx, tmp_path) -> None:
    out = tmp_path / "same.png"
    assert main(["image", str(photo), str(out), "--style", str(style_onnx), "--strength", "0"]) == 0
    assert np.array_equal(read_rgb(out), read_rgb(photo))


@pytest.mark.slow
def test_pth_checkpoint_is_accepted(photo, style_pth, tmp_path) -> None:
    out = tmp_path / "from-pth.jpg"
    assert main(["image", str(photo), str(out), "--style", str(style_pth)]) == 0
    assert read_rgb(out).shape == (61, 83, 3)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "not found"),
        ("not_image", "cannot read"),
        ("suffix", "cannot write an image as .xyz"),
    ],
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


# -- transparency, folders, memory ------------------------------------------------------------


@pytest.fixture()
def rgba_photo(tmp_path):
    rng = np.random.default_rng(4)
    bgra = cv2.GaussianBlur(rng.integers(0, 256, (48, 72, 4), dtype=np.uint8), (0, 0), 2)
    bgra[:, :, 3] = np.linspace(0, 255, 72, dtype=np.uint8)[None, :]  # a left-to-right fade
    path = tmp_path / "rgba.png"
    cv2.imwrite(str(path), bgra)
    return path


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tiff"])
def test_alpha_is_copied_back(rgba_photo, style_onnx, tmp_path, suffix) -> None:
    out = tmp_path / f"out{suffix}"
    assert main(["image", str(rgba_photo), str(out), "--style", str(style_onnx)]) == 0
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    source = cv2.imread(str(rgba_photo), cv2.IMREAD_UNCHANGED)
    assert written.shape == (48, 72, 4)
    if suffix == ".webp":  # lossy by default: the fade survives within a few levels
        assert np.abs(written[:, :, 3].astype(int) - source[:, :, 3]).max() <= 8
    else:
        assert np.array_equal(written[:, :, 3], source[:, :, 3])


def test_alpha_into_jpeg_is_dropped_with_a_warning(rgba_photo, style_onnx, tmp_path, capsys):
    out = tmp_path / "out.jpg"
    assert main(["image", str(rgba_photo), str(out), "--style", str(style_onnx)]) == 0
    assert "alpha channel is dropped" in capsys.readouterr().err
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape == (48, 72, 3)


def test_unwritable_folder_says_so(photo, style_onnx, tmp_path, capsys) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code = main(["image", str(photo), str(locked / "o.png"), "--style", str(style_onnx)])
    finally:
        locked.chmod(0o700)
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "is not writable" in err and "create it" not in err


def test_image_too_large_for_memory_is_refused_with_the_size_that_fits(
    style_onnx, tmp_path, capsys
) -> None:
    from realtime.core.memory import available_bytes, network_bytes

    side = 8000
    available = available_bytes()
    if available is None or network_bytes("transformer-net", side, side) < available:
        pytest.skip(f"this machine has the memory for a {side}x{side} frame")
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.full((side, side, 3), 128, np.uint8))  # small file, 192 MB decoded
    out = tmp_path / "out.png"
    assert main(["image", str(big), str(out), "--style", str(style_onnx)]) == EXIT_USAGE
    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(err) == 1 and "memory" in err[0] and "--size" in err[0], err
    fits = int(err[0].split("--size ")[1].split()[0])
    assert 16 <= fits < side
    assert network_bytes("transformer-net", fits, fits) <= available
    assert not out.exists()


@pytest.mark.slow
def test_memory_estimate_is_within_a_factor_of_two_of_the_peak(style_onnx, tmp_path) -> None:
    """The guard's estimate against the peak resident memory of a real run (a subprocess, so
    that nothing else this test session did counts)."""
    import json
    import subprocess
    import sys

    from realtime.core.memory import network_bytes

    width, height = 1600, 1200
    photo = tmp_path / "photo.jpg"
    rng = np.random.default_rng(0)
    cv2.imwrite(
        str(photo),
        cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 3),
    )
    script = (
        "import json, resource, sys\n"
        "from realtime.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "print(json.dumps({'code': code, 'peak': peak}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "image", str(photo), str(tmp_path / "out.png"),
         "--style", str(style_onnx), "--device", "cpu"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    ratio = network_bytes("transformer-net", width, height) / result["peak"]
    assert 0.5 <= ratio <= 2.0, ratio
