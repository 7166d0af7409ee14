"""Video by optimisation (models.gatys_video and ``realtime video --style-image``): keyframe
schedule, the flow-warped initialisation and temporal term, the keyframe refiner, and both
modes end to end on a real clip with audio.

The optimiser runs for real, with a random-weight VGG-16 at a few dozen pixels: the
mechanics need no ImageNet features, and each step then takes milliseconds.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch
from test_video_cli import probe

from models.gatys import GatysConfig, GatysStylizer
from models.gatys_video import (
    GatysVideoStylizer,
    KeyframeRefiner,
    KeyframeSchedule,
    expected_seconds,
    trusted_mask,
)
from models.vgg import VGG16Features
from realtime.cli.main import main
from realtime.core.errors import EXIT_USAGE, UserError
from realtime.vision.flow import FlowEstimator, to_gray

CPU = torch.device("cpu")
HEIGHT, WIDTH = 48, 64


class RecordingStylizer(GatysStylizer):
    """The real optimiser, recording what each call was given."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[dict] = []

    def stylize(self, content, init=None, temporal=None, steps=None, progress=None):
        self.calls.append({"content": content, "init": init, "temporal": temporal, "steps": steps})
        return super().stylize(
            content, init=init, temporal=temporal, steps=steps, progress=progress
        )


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A detailed but smooth colour texture, so optical flow has something to lock onto."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 1.5) * 2.5 - 190, 0, 255).astype(np.uint8)


def shifted_frames(count: int, dx: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` frames of one texture moving ``dx`` pixels right per frame."""
    big = texture(HEIGHT, WIDTH + dx * count, seed)
    return [
        np.ascontiguousarray(big[:, dx * (count - i) : dx * (count - i) + WIDTH])
        for i in range(count)
    ]


def stripes() -> np.ndarray:
    yy, xx = np.mgrid[0:40, 0:40]
    colours = np.array([[230, 30, 40], [20, 200, 60], [250, 220, 20]], np.uint8)
    return colours[((xx + yy) // 4) % 3]


@pytest.fixture()
def optimiser() -> RecordingStylizer:
    torch.manual_seed(0)
    config = dataclasses.replace(GatysConfig(), steps=4)
    return RecordingStylizer(VGG16Features(), stripes(), config, CPU)


def test_schedule_first_interval_and_cut() -> None:
    schedule = KeyframeSchedule(interval=3)
    frames = shifted_frames(5, 1)
    reasons = [schedule(to_gray(frame)) for frame in frames]
    assert reasons == ["first", None, None, "interval", None]
    # A different scene: a cut, and the interval counts from there.
    dark = (texture(HEIGHT, WIDTH, seed=5) // 4).astype(np.uint8)
    assert schedule(to_gray(dark)) == "cut"
    assert schedule(to_gray(dark)) is None
    with pytest.raises(UserError, match="keyframe-interval"):
        KeyframeSchedule(0)


def test_trusted_mask_on_a_translation_trusts_all_but_the_entering_edge() -> None:
    previous, current = shifted_frames(2, 3)
    backward, mask = trusted_mask(to_gray(current), to_gray(previous), FlowEstimator("dis-medium"))
    # The texture moved 3 px right: each pixel of the current frame came from 3 px left.
    interior = backward[8:-8, 8:-8]
    assert np.median(interior[..., 0]) == pytest.approx(-3, abs=0.3)
    assert np.median(interior[..., 1]) == pytest.approx(0, abs=0.3)
    assert mask[:, 8:].mean() > 0.9
    assert mask[:, :2].mean() < 0.2  # entered the frame: nothing to carry over


@pytest.mark.slow
def test_frames_between_keyframes_start_from_the_warped_previous_output(optimiser) -> None:
    reports = []
    video = GatysVideoStylizer(optimiser, interval=10, frame_steps=2, report=reports.append)
    first, second = shifted_frames(2, 3)
    out1 = video(first)
    out2 = video(second)
    keyframe, frame = optimiser.calls
    assert keyframe["init"] is None and keyframe["temporal"] is None
    assert keyframe["steps"] is None  # the configured full optimisation
    assert frame["steps"] == 2
    # The start is the first output moved 3 px right, as the input moved.
    init = frame["init"].astype(int)
    expected = np.roll(out1, 3, axis=1).astype(int)
    assert np.abs(init[4:-4, 8:-4] - expected[4:-4, 8:-4]).mean() < 6
    # ... and the same image is the temporal target, with the trust mask beside it.
    warped, mask = frame["temporal"]
    assert warped is frame["init"] and mask.mean() > 0.8
    # Two steps from there stay much closer to it than to the first output unmoved.
    assert (
        np.abs(out2.astype(int) - init).mean() < np.abs(out2.astype(int) - out1.astype(int)).mean()
    )
    assert [(r.kind, r.reason, r.steps) for r in reports] == [
        ("keyframe", "first", 4),
        ("frame", "warped", 2),
    ]
    assert reports[1].trusted > 0.8


@pytest.mark.slow
@pytest.mark.parametrize("start", ["warped", "content"])
def test_interval_keyframes_take_full_steps_from_where_keyframe_start_says(
    optimiser, start
) -> None:
    reports = []
    video = GatysVideoStylizer(
        optimiser, interval=2, frame_steps=1, report=reports.append, keyframe_start=start
    )
    for frame in shifted_frames(3, 2):
        video(frame)
    assert [(r.kind, r.reason, r.steps) for r in reports] == [
        ("keyframe", "first", 4),
        ("frame", "warped", 1),
        ("keyframe", "interval", 4),
    ]
    interval = optimiser.calls[2]
    if start == "warped":  # continues the sequence: no pop
        assert interval["init"] is not None and interval["temporal"][0] is interval["init"]
        assert interval["steps"] == 4 and reports[2].trusted > 0.5
    else:  # on its own, as the first frame
        assert interval["init"] is None and interval["temporal"] is None
    with pytest.raises(UserError, match="keyframe-start"):
        GatysVideoStylizer(optimiser, keyframe_start="noise")


@pytest.mark.slow
def test_a_new_frame_size_is_a_keyframe(optimiser) -> None:
    video = GatysVideoStylizer(optimiser, interval=10, frame_steps=1)
    video(shifted_frames(1, 1)[0])
    video(texture(HEIGHT // 2, WIDTH // 2))
    assert [call["init"] is None for call in optimiser.calls] == [True, True]


def test_refiner_refines_keyframes_from_the_network_output_only(optimiser) -> None:
    refiner = KeyframeRefiner(optimiser, interval=2)
    frames = shifted_frames(3, 1)
    network = [np.full_like(frame, 90 + 10 * i) for i, frame in enumerate(frames)]
    outputs = [refiner(net, frame) for net, frame in zip(network, frames, strict=True)]
    assert len(optimiser.calls) == 2  # frames 0 and 2
    assert optimiser.calls[0]["init"] is network[0]
    assert optimiser.calls[0]["content"] is frames[0]
    assert outputs[1] is network[1]  # passed through untouched
    assert not np.array_equal(outputs[0], network[0])


def test_expected_seconds() -> None:
    # 10 frames, a keyframe every 4 (frames 0, 4, 8) at 100 steps, 7 others at 10 steps.
    assert expected_seconds(0.5, 10, 4, 100, 10) == pytest.approx(0.5 * (300 + 70))
    assert expected_seconds(0.5, 10, 4, 100, 10, network_mode=True) == pytest.approx(150)


def run_video(*args) -> int:
    return main(["video", *map(str, args), "--quiet"])


@pytest.mark.slow
def test_no_network_video_end_to_end_keeps_frames_rate_and_audio(
    media_dir, random_vgg_weights, painting_file, tmp_path, capsys
) -> None:
    from fixtures_media import make_clip

    clip = make_clip(media_dir / "six.mp4", frames=6, audio="aac")
    out = tmp_path / "out.mp4"
    code = run_video(
        clip, out, "--style-image", painting_file, "--vgg-weights", random_vgg_weights,
        "--steps", "3", "--frame-steps", "2", "--keyframe-interval", "4",
    )  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "expected about" in err and "s per optimisation step" in err
    before, after = probe(clip), probe(out)
    assert after["frames"] == before["frames"] == 6
    assert after["rate"] == before["rate"]
    assert after["times"] == pytest.approx(before["times"], abs=1e-6)
    assert after["audio_codec"] == "aac"
    assert after["audio_seconds"] == pytest.approx(before["audio_seconds"], abs=0.03)


@pytest.mark.slow
def test_keyframes_gatys_with_a_network_end_to_end(
    clip_aac, style_onnx, random_vgg_weights, painting_file, tmp_path
) -> None:
    plain, refined = tmp_path / "plain.mp4", tmp_path / "refined.mp4"
    # Lossless, so frames the refiner did not touch come out identical: at crf 18 x264's
    # rate control spreads a changed keyframe's bits over the frames that predict from it.
    common = ["--style", style_onnx, "--temporal", "off", "--crf", "0"]
    assert run_video(clip_aac, plain, *common) == 0
    code = run_video(
        clip_aac, refined, *common, "--keyframes", "gatys", "--style-image", painting_file,
        "--vgg-weights", random_vgg_weights, "--steps", "3", "--keyframe-interval", "8",
    )  # fmt: skip
    assert code == 0
    assert probe(refined)["frames"] == 20

    def frames(path):
        import av

        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(video=0)]

    # What the feature guarantees, not how far three steps on random VGG weights move a
    # frame (that depends on the machine's float arithmetic): keyframes 0, 8 and 16 were
    # refined, and with the temporal stage off every other frame is the network's own
    # output, bit for bit (the encode is lossless).
    changed = [
        i
        for i, (a, b) in enumerate(zip(frames(plain), frames(refined), strict=True))
        if not np.array_equal(a, b)
    ]
    assert changed == [0, 8, 16]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--keyframes", "gatys"], "give it with --style-image"),
        (["--style-image", "PAINTING", "--style", "mosaic"], "add --keyframes gatys"),
        (["--style-image", "nope.png"], "style image not found"),
        (["--style-image", "PAINTING", "--frame-steps", "0"], "--frame-steps"),
        (["--style-image", "PAINTING", "--keyframe-interval", "0"], "--keyframe-interval"),
        (["--style-image", "PAINTING", "--steps", "-1"], "steps"),
        (["--style", "mosaic", "--style-weight", "2"], "--style-weight sets up optimisation"),
        (
            ["--keyframes", "gatys", "--style-image", "PAINTING", "--temporal-weight", "5"],
            "--temporal-weight applies to --style-image without a network",
        ),
        (
            ["--keyframes", "gatys", "--style-image", "PAINTING", "--keyframe-start", "content"],
            "--keyframe-start applies",
        ),
    ],
)
def test_bad_optimisation_options_are_one_line_errors(
    extra, message, clip_aac, painting_file, random_vgg_weights, tmp_path, capsys
) -> None:
    out = tmp_path / "out.mp4"
    extra = [str(painting_file) if arg == "PAINTING" else arg for arg in extra]
    code = run_video(clip_aac, out, *extra, "--vgg-weights", random_vgg_weights)
    assert code == EXIT_USAGE
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], errors
    assert not list(tmp_path.iterdir())


def test_missing_vgg_weights_say_which_option_to_use(clip_aac, painting_file, tmp_path, capsys):
    code = run_video(
        clip_aac, tmp_path / "out.mp4", "--style-image", painting_file,
        "--vgg-weights", tmp_path / "missing.pth",
    )  # fmt: skip
    assert code == EXIT_USAGE
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "missing.pth" in error and "--vgg-weights" in error
