"""``realtime eval temporal`` end to end: clips written with PyAV, read back, scored."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_flow import pan_zoom_frame, textured
from test_temporal import flicker, run_stage

from realtime.cli.main import main
from realtime.core.config import EncodeConfig
from realtime.core.errors import UserError
from realtime.media.video_sink import VideoFileSink
from realtime.temporal.metrics import evaluate_temporal, gradient_magnitude
from realtime.temporal.stage import temporal_stage

WIDTH, HEIGHT, FRAMES = 160, 96, 12
RATE = Fraction(25)


def write_clip(path: Path, frames: list[np.ndarray]) -> Path:
    height, width = frames[0].shape[:2]
    encode = EncodeConfig(crf=8, preset="ultrafast")  # near-lossless: the flicker survives
    with VideoFileSink(path, width, height, RATE, 1 / RATE, encode, audio_from=None) as sink:
        for index, frame in enumerate(frames):
            sink.write(frame, index)
    return path


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An input pan, its flickering stylization, and that stylization smoothed with flow.

    All grey: H.264 in yuv420p keeps a quarter of the chroma, and the random colour texture
    of the other tests would come back with several grey levels of frame-to-frame chroma
    error, a floor that would drown the flicker being measured.
    """
    folder = tmp_path_factory.mktemp("eval_temporal")
    base = grey(textured(2 * WIDTH, 2 * HEIGHT, seed=7))
    inputs = [pan_zoom_frame(base, index, WIDTH, HEIGHT) for index in range(FRAMES)]
    rng = np.random.default_rng(8)
    flickering = [grey(flicker(255 - frame, 10.0, rng)) for frame in inputs]
    smoothed = run_stage(temporal_stage("flow", 0.7), flickering, inputs)
    return {
        "input": write_clip(folder / "input.mp4", inputs),
        "flicker": write_clip(folder / "flicker.mp4", flickering),
        "smooth": write_clip(folder / "smooth.mp4", smoothed),
        "short": write_clip(folder / "short.mp4", flickering[:-2]),
        "small": write_clip(folder / "small.mp4", [frame[:64, :128] for frame in flickering]),
    }


def eval_json(capsys: pytest.CaptureFixture[str], *args: object) -> dict:
    code = main(["eval", "temporal", *map(str, args), "--json", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_smoothed_video_scores_better_than_flickering(clips, capsys) -> None:
    flickering = eval_json(
        capsys, clips["input"], clips["flicker"], "--reference", clips["flicker"]
    )
    smooth = eval_json(capsys, clips["input"], clips["smooth"], "--reference", clips["flicker"])
    for scores in (flickering, smooth):
        assert scores["frames"] == FRAMES
        assert scores["pairs"] + scores["skipped_pairs"] == FRAMES - 1
        assert scores["valid_fraction"] > 0.8
        # The input is a clean pan: its own warping error (the floor) is far below both.
        assert scores["input_warping_error"] < 0.2 * scores["warping_error"]
    assert smooth["warping_error"] < 0.5 * flickering["warping_error"]
    assert flickering["style_change"] == 0.0  # the reference against itself
    assert 0.0 < smooth["style_change"] < 0.15


def test_text_output_has_one_line_per_metric(clips, capsys) -> None:
    args = ["eval", "temporal", str(clips["input"]), str(clips["smooth"]), "--quiet"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["warping error", "sharpness"]
    assert lines[0].startswith("warping error: 0.") and f"{FRAMES - 1} frame pairs" in lines[0]
    assert main([*args, "--reference", str(clips["flicker"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "warping error", "style change vs reference", "sharpness",
    ]  # fmt: skip
    assert "of the reference's" in lines[2]


def test_sharpness_is_the_mean_sobel_gradient_in_grey_levels_per_pixel() -> None:
    ramp = np.tile(np.arange(64, dtype=np.uint8)[None, :, None], (32, 1, 3))
    # One grey level per pixel, away from the replicated border columns.
    assert gradient_magnitude(ramp[:, 1:-1]) == pytest.approx(1.0, abs=0.05)
    assert gradient_magnitude(np.full((32, 64, 3), 90, np.uint8)) == 0.0


def test_sharpness_ratio_falls_for_a_blur_and_not_for_the_reference_itself() -> None:
    base = textured(2 * WIDTH, 2 * HEIGHT, seed=3)
    frames = [pan_zoom_frame(base, index, WIDTH, HEIGHT) for index in range(4)]
    stylized = [255 - frame for frame in frames]  # the "reference": any other sharp video
    blurred = [cv2.GaussianBlur(frame, (0, 0), 1.5) for frame in stylized]
    same = evaluate_temporal(frames, stylized, stylized)
    soft = evaluate_temporal(frames, blurred, stylized)
    assert same.sharpness_ratio == pytest.approx(1.0)
    assert soft.sharpness_ratio < 0.7
    assert soft.sharpness == pytest.approx(np.mean([gradient_magnitude(f) for f in blurred]))
    assert evaluate_temporal(frames, blurred).sharpness_ratio is None


def test_cli_metric_equals_library_metric_on_decoded_frames(clips, capsys) -> None:
    from realtime.media.video_source import VideoFileSource

    def decoded(path: Path) -> list[np.ndarray]:
        with VideoFileSource(path) as source:
            return [frame.image for frame in source.frames()]

    library = evaluate_temporal(decoded(clips["input"]), decoded(clips["smooth"]))
    cli = eval_json(capsys, clips["input"], clips["smooth"])
    assert cli["warping_error"] == pytest.approx(library.warping_error, rel=1e-9)
    assert cli["style_change"] is None
    assert cli["sharpness"] == pytest.approx(library.sharpness, rel=1e-6)


@pytest.mark.parametrize(
    "output, reference, message",
    [
        ("short", None, "the output video has 10 frames but the input has 12"),
        ("flicker", "short", "the reference video has 10 frames but the input has 12"),
        ("small", None, "the output video is 128x64 but the input is 160x96"),
    ],
)
def test_mismatched_clips_fail_with_one_line(clips, capsys, output, reference, message) -> None:
    args = ["eval", "temporal", str(clips["input"]), str(clips[output]), "--quiet"]
    if reference:
        args += ["--reference", str(clips[reference])]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("realtime: error: ") and message in captured.err
    assert captured.err.count("\n") == 1


def test_missing_file_and_bad_flow_size(clips, tmp_path, capsys) -> None:
    assert main(["eval", "temporal", str(clips["input"]), str(tmp_path / "nope.mp4")]) == 2
    assert "does not exist" in capsys.readouterr().err
    args = ["eval", "temporal", str(clips["input"]), str(clips["smooth"]), "--flow-size", "4"]
    assert main(args) == 2
    assert "--flow-size 4 is too small" in capsys.readouterr().err


def test_library_checks_counts_sizes_and_length() -> None:
    frames = [np.full((32, 48, 3), value, np.uint8) for value in range(0, 50, 10)]
    with pytest.raises(UserError, match="input has 5, output has 4 frames"):
        evaluate_temporal(frames, frames[:4])
    with pytest.raises(UserError, match="output frame 0 is 24x16 but the input is 48x32"):
        evaluate_temporal(frames, [frame[:16, :24] for frame in frames])
    with pytest.raises(UserError, match="no frame pair could be scored"):
        evaluate_temporal(frames[:1], frames[:1])
    with pytest.raises(UserError, match="reference video equals the input"):
        evaluate_temporal(frames, frames, frames)


@pytest.mark.slow
def test_style_retention_against_a_style_image(clips, tmp_path, capsys) -> None:
    import torch
    import torchvision

    # Random VGG weights: this checks the mechanics (scoring, reference, change), not values.
    torch.manual_seed(0)
    weights = tmp_path / "vgg.pth"
    torch.save(torchvision.models.vgg16().features.state_dict(), weights)
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), np.random.default_rng(1).integers(0, 256, (40, 50, 3), np.uint8))
    result = eval_json(
        capsys, clips["input"], clips["smooth"], "--reference", clips["flicker"],
        "--style-image", style, "--vgg-weights", weights, "--style-every", "4",
    )  # fmt: skip
    assert result["style_frames"] == len(range(0, FRAMES, 4))
    assert result["output_style_distance"] > 0 and result["reference_style_distance"] > 0
    change = result["output_style_distance"] / result["reference_style_distance"] - 1
    assert result["style_distance_change"] == pytest.approx(change)
    # The input itself is far from a random "painting": its distance is not the output's.
    plain = eval_json(
        capsys, clips["input"], clips["input"], "--style-image", style, "--vgg-weights", weights,
        "--style-every", "4",
    )  # fmt: skip
    assert plain["output_style_distance"] != pytest.approx(result["output_style_distance"])


def test_style_image_missing(clips, tmp_path, capsys) -> None:
    args = ["eval", "temporal", str(clips["input"]), str(clips["smooth"]), "--quiet"]
    code = main([*args, "--style-image", str(tmp_path / "nope.jpg")])
    assert code == 2 and "style image not found" in capsys.readouterr().err
