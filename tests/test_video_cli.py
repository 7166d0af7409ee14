"""``realtime video`` end to end: real clips decoded, stylized by a real ONNX model, encoded,
and read back with PyAV."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime.cli.main import main
from realtime.core.errors import EXIT_DAMAGED_INPUT, EXIT_INTERRUPTED, EXIT_USAGE


def probe(path: Path) -> dict:
    """What a player would see: video size, rate, frame pts (seconds) and audio duration."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        rate = video.average_rate
        times, shapes = [], set()
        for frame in container.decode(video=0):
            times.append(float(frame.pts * frame.time_base))
            shapes.add((frame.height, frame.width))
    audio_seconds = None
    codec = None
    with av.open(str(path)) as container:
        if container.streams.audio:
            stream = container.streams.audio[0]
            codec = stream.codec_context.name
            ends = [
                float((p.pts + p.duration) * p.time_base)
                for p in container.demux(stream)
                if p.pts is not None
            ]
            audio_seconds = max(ends) if ends else 0.0
    return {
        "frames": len(times),
        "rate": rate,
        "times": times,
        "shapes": shapes,
        "audio_codec": codec,
        "audio_seconds": audio_seconds,
    }


def run_video(*args: str | Path) -> int:
    return main(["video", *map(str, args), "--quiet"])


def test_video_keeps_frames_rate_timestamps_and_audio(clip_aac, style_onnx, tmp_path) -> None:
    out = tmp_path / "out.mp4"
    assert run_video(clip_aac, out, "--style", style_onnx) == 0
    before, after = probe(clip_aac), probe(out)
    assert after["frames"] == before["frames"] == 20
    assert after["rate"] == before["rate"]
    assert after["times"] == pytest.approx(before["times"], abs=1e-6)
    assert after["shapes"] == before["shapes"]
    assert after["audio_codec"] == "aac"
    assert after["audio_seconds"] == pytest.approx(before["audio_seconds"], abs=0.03)
    assert not list(tmp_path.glob("*.incomplete.*"))


def test_video_really_stylizes(clip_aac, style_onnx, tmp_path) -> None:
    out = tmp_path / "styled.mp4"
    assert run_video(clip_aac, out, "--style", style_onnx) == 0
    with av.open(str(clip_aac)) as a, av.open(str(out)) as b:
        first_in = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        first_out = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.mean(np.abs(first_in - first_out)) > 20


def test_ntsc_rate_is_kept(clip_ntsc, style_onnx, tmp_path) -> None:
    out = tmp_path / "ntsc.mp4"
    assert run_video(clip_ntsc, out, "--style", style_onnx) == 0
    result = probe(out)
    assert result["rate"] == Fraction(30000, 1001)
    assert result["frames"] == 24
    assert result["times"] == pytest.approx(probe(clip_ntsc)["times"], abs=1e-6)


def test_rotated_input_gives_upright_output(clip_rotated, style_onnx, tmp_path) -> None:
    out = tmp_path / "upright.mp4"
    assert run_video(clip_rotated, out, "--style", style_onnx) == 0
    # Stored 64x48 with a quarter-turn matrix: the output is 48 wide, 64 high, no matrix.
    assert probe(out)["shapes"] == {(64, 48)}


def test_odd_size_and_processing_size(clip_odd_size, style_onnx, tmp_path, capsys) -> None:
    out = tmp_path / "odd.mp4"
    assert run_video(clip_odd_size, out, "--style", style_onnx, "--size", "32") == 0
    assert "pad" in capsys.readouterr().err.lower()
    assert probe(out)["shapes"] == {(48, 64)}


def test_output_size_strength_and_preserve_color(clip_aac, style_onnx, tmp_path) -> None:
    out = tmp_path / "sized.mp4"
    code = run_video(
        clip_aac, out, "--style", style_onnx, "--output-size", "96x72", "--strength", "0.5",
        "--preserve-color", "--crf", "23", "--preset", "veryfast",
    )  # fmt: skip
    assert code == 0
    assert probe(out)["shapes"] == {(72, 96)}


def test_truncated_input_writes_every_decodable_frame(
    clip_truncated, style_onnx, tmp_path, capsys
) -> None:
    out = tmp_path / "rescued.mp4"
    assert run_video(clip_truncated, out, "--style", style_onnx) == EXIT_DAMAGED_INPUT
    err = capsys.readouterr().err
    assert "damaged" in err
    with av.open(str(clip_truncated)) as container:
        decodable = sum(1 for _ in container.decode(video=0))
    result = probe(out)
    assert 0 < result["frames"] == decodable < 30


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "not found"),
        ("same", "is the input"),
        ("not_video", "video"),
        ("no_folder", "does not exist"),
        ("unknown_style", "unknown style"),
        ("bad_crf", "crf"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(
    case, message, clip_aac, not_a_video, style_onnx, tmp_path, capsys
) -> None:
    out = tmp_path / "out.mp4"
    args = [clip_aac, out, "--style", style_onnx]
    if case == "missing":
        args[0] = tmp_path / "nope.mp4"
    elif case == "same":
        args[1] = clip_aac
    elif case == "not_video":
        args[0] = not_a_video
    elif case == "no_folder":
        args[1] = tmp_path / "missing-folder" / "out.mp4"
    elif case == "unknown_style":
        args[3] = "no-such-style"
    elif case == "bad_crf":
        args += ["--crf", "99"]
    assert run_video(*args) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("realtime: error:")]
    assert len(errors) == 1 and message in errors[0].lower(), err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_sigint_leaves_a_playable_partial_file(style_onnx, tmp_path) -> None:
    from fixtures_media import ctrl_c_as_a_terminal_gives_it, make_clip

    clip = make_clip(tmp_path / "long.mp4", 256, 192, frames=240, rate=25, audio="aac")
    out = tmp_path / "out.mp4"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime", "video", str(clip), str(out), "--style",
         str(style_onnx), "--device", "cpu", "--preset", "ultrafast"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=ctrl_c_as_a_terminal_gives_it, env=env,
    )  # fmt: skip
    temp = tmp_path / "out.incomplete.mp4"
    deadline = time.monotonic() + 120
    # Wait until encoded frames reach the file, so there is something to keep.
    while time.monotonic() < deadline and process.poll() is None:
        if temp.exists() and temp.stat().st_size > 20_000:
            break
        time.sleep(0.1)
    assert process.poll() is None, "the run finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_INTERRUPTED, err.decode()
    partial = tmp_path / "out.partial.mp4"
    assert partial.exists() and not out.exists() and not temp.exists()
    result = probe(partial)
    assert 0 < result["frames"] < 240
    # Audio is cut where the video ends, so the partial file stays in sync.
    assert result["audio_seconds"] == pytest.approx(result["times"][-1] + 1 / 25, abs=0.1)


@pytest.mark.slow
def test_shared_realshort_keeps_36_frames_rate_and_aac(shared_dir, style_onnx, tmp_path) -> None:
    clip = shared_dir / "data" / "video" / "realshort.mp4"
    out = tmp_path / "realshort.mp4"
    assert run_video(clip, out, "--style", style_onnx, "--preset", "veryfast") == 0
    before, after = probe(clip), probe(out)
    assert after["frames"] == 36
    # The file's own timing: its stts says 2998/90000 s per frame (45000/1499 fps); the
    # nominal NTSC rate 30000/1001 would be 3003. Whatever it is, the output keeps it.
    assert after["rate"] == before["rate"]
    assert after["times"] == pytest.approx(before["times"], abs=1e-6)
    assert after["audio_codec"] == "aac"
    assert after["audio_seconds"] == pytest.approx(before["audio_seconds"], abs=0.03)


@pytest.mark.slow
def test_shared_cockatoo_280_upright_frames_with_mp3(shared_dir, style_onnx, tmp_path) -> None:
    clip = shared_dir / "data" / "video" / "cockatoo.mp4"
    out = tmp_path / "cockatoo.mp4"
    # Stylize small (speed), write at the input size: the check is about the file.
    code = run_video(clip, out, "--style", style_onnx, "--size", "128", "--preset", "ultrafast")
    assert code == 0
    before, after = probe(clip), probe(out)
    assert after["frames"] == 280
    assert after["shapes"] == {(720, 1280)}
    assert after["rate"] == Fraction(20)
    assert after["audio_codec"] == before["audio_codec"] in ("mp3", "mp3float")
    assert after["audio_seconds"] == pytest.approx(before["audio_seconds"], abs=0.05)
