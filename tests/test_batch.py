"""``realtime batch`` on a real local Ray with 2 workers: files, folders, a bad input, a video
in segments that must match ``realtime video``, a worker killed mid-run, and a rerun that does
no work."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from fixtures_media import make_clip

from realtime.cli.main import main

# Every test here runs a real local Ray batch (tens of seconds): the slow set.
pytestmark = pytest.mark.slow

ray = pytest.importorskip("ray", reason="realtime batch needs ray (pip install -e '.[cluster]')")


def probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        frames = [
            (float(f.pts * f.time_base), f.to_ndarray(format="rgb24"))
            for f in container.decode(video=0)
        ]
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_seconds = (
            float(audio.duration * audio.time_base) if audio and audio.duration else None
        )
    return {
        "times": [t for t, _ in frames],
        "images": [i.astype(int) for _, i in frames],
        "audio": audio_seconds,
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch-in")
    # A clip with sound and a keyframe every 8 frames: 48 frames at 25 fps, 3+ segments of 0.5 s.
    make_clip(root / "with-sound.mp4", 96, 64, 48, audio="aac", keyframe_every=8)
    (root / "more").mkdir()
    make_clip(root / "more" / "silent.mkv", 64, 48, 12)
    photo = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    cv2.imwrite(str(root / "more" / "photo.png"), cv2.GaussianBlur(photo, (0, 0), 2))
    (root / "broken.mp4").write_bytes(b"not a video at all")
    return root


@pytest.fixture(scope="module")
def first_run(inputs: Path, style_onnx: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("batch-out")
    argv = ["batch", str(inputs), "--out-dir", str(out), "--style", str(style_onnx),
            "--device", "cpu", "--workers", "2", "--segment-seconds", "0.5", "--quiet",
            # Lossless, so the comparison with realtime video sees the processing, not x264.
            "--crf", "0"]  # fmt: skip
    code = main(argv)
    return code, out, argv


def test_batch_of_clips_an_image_and_a_bad_file(first_run, inputs, capsys) -> None:
    code, out, _ = first_run
    assert code == 2  # the bad file failed; the others completed
    assert (out / "with-sound.mp4").is_file()
    assert (out / "more" / "silent.mkv").is_file()
    assert (out / "more" / "photo.png").is_file()
    assert not (out / "broken.mp4").exists()
    assert cv2.imread(str(out / "more" / "photo.png")).shape == (40, 56, 3)
    for name, frames in (("with-sound.mp4", 48), ("more/silent.mkv", 12)):
        assert len(probe(out / name)["times"]) == frames
    assert probe(out / "with-sound.mp4")["audio"] == pytest.approx(
        probe(inputs / "with-sound.mp4")["audio"], abs=0.05
    )
    assert not list(out.rglob("*.incomplete.*"))


def test_segments_match_realtime_video(first_run, inputs, style_onnx, tmp_path) -> None:
    _, out, _ = first_run
    whole = tmp_path / "whole.mp4"
    assert main(["video", str(inputs / "with-sound.mp4"), str(whole), "--style",
                 str(style_onnx), "--device", "cpu", "--quiet", "--crf", "0"]) == 0  # fmt: skip
    joined, single = probe(out / "with-sound.mp4"), probe(whole)
    assert joined["times"] == pytest.approx(single["times"], abs=1e-6)
    assert joined["audio"] == pytest.approx(single["audio"], abs=1e-3)
    pairs = zip(joined["images"], single["images"], strict=True)
    differences = [np.abs(a - b).mean() for a, b in pairs]
    print("mean |batch - video| per frame:", [round(d, 3) for d in differences])
    # The first segment is the same computation; later ones start from a warmed-up temporal
    # stage, whose history matches a single pass's to within a few levels: no seam.
    assert differences[:8] == [0] * 8
    assert max(differences) <= 3, differences


def test_a_rerun_does_no_work(first_run) -> None:
    _, out, argv = first_run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    started = time.perf_counter()
    assert main(argv) == 2  # the bad file still fails
    assert time.perf_counter() - started < 10  # no Ray, no network: nothing to do
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_a_worker_killed_mid_run_is_restarted_and_the_batch_completes(
    inputs, style_onnx, tmp_path
) -> None:
    from realtime.app.batch.inputs import find_inputs
    from realtime.app.batch.run import BatchOptions, run_batch
    from realtime.core.config import EngineConfig, RunConfig

    items, _ = find_inputs([str(inputs / "with-sound.mp4")], tmp_path)
    config = RunConfig(style=str(style_onnx), engine=EngineConfig(device="cpu"))
    killed = []

    def kill_one(workers) -> None:
        pid = ray.get(workers[0].pid.remote())

        def later() -> None:
            time.sleep(1.0)  # the segments are running by now
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        threading.Thread(target=later, daemon=True).start()

    options = BatchOptions(segment_seconds=0.3, workers=2, progress=False)
    summary = run_batch(items, tmp_path, config, style_onnx, options, on_workers=kill_one)
    assert killed, "the worker was not killed"
    assert not summary.failed and summary.done == [tmp_path / "with-sound.mp4"]
    assert len(probe(tmp_path / "with-sound.mp4")["times"]) == 48
