"""``realtime batch`` under real faults, on a real local Ray: truncated inputs (one segment and
several), outputs damaged or replaced between runs, the join at the default CRF against
``realtime video``, and Ray's processes and folders after the command, SIGKILL included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pytest
from fixtures_media import make_clip

from realtime.app.batch import reaper
from realtime.app.batch.ray_session import FOLDER_PREFIX
from realtime.cli.main import main

pytestmark = pytest.mark.slow  # every test here runs a real local Ray (tens of seconds)

# A bundled network: real strokes make realistic work for x264 (the tests' random network
# paints saturated noise), and its lite kind gets the preset a CPU user gets (superfast).
STYLE = "mosaic-lite"

ray = pytest.importorskip("ray", reason="realtime batch needs ray (pip install -e '.[cluster]')")


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(video=0)]


def cut(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


@pytest.fixture(scope="module")
def short_tmp() -> Path:
    """A temporary directory with a short path: Ray's sockets live under its folder there
    (a Unix socket path holds 107 bytes; pytest's own are too deep)."""
    folder = Path(tempfile.mkdtemp(prefix="rtb", dir="/tmp"))
    yield folder
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def inputs(clip_truncated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults-in")
    (root / "one-segment.mp4").write_bytes(clip_truncated.read_bytes())
    # 48 frames, a keyframe every 8, index first: cut at 70%, segments of 0.3 s lose a tail.
    full = make_clip(root.parent / "long.mp4", 96, 64, 48, audio="aac", faststart=True,
                     keyframe_every=8)  # fmt: skip
    cut(full, root / "segments.mp4", 0.7)
    make_clip(root / "good.mp4", 320, 240, 48, keyframe_every=8)
    return root


def batch_argv(inputs: Path, out: Path) -> list[str]:
    return ["batch", str(inputs), "--out-dir", str(out), "--style", STYLE, "--device",
            "cpu", "--workers", "2", "--segment-seconds", "0.3", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def first_run(inputs, short_tmp, tmp_path_factory):
    out = tmp_path_factory.mktemp("faults-out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(short_tmp))
        capture = tmp_path_factory.mktemp("stderr") / "stderr.txt"
        with capture.open("w") as stderr:
            patch.setattr(sys, "stderr", stderr)
            code = main(batch_argv(inputs, out))
    return code, out, capture.read_text()


def video_run(source: Path, output: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["video", str(source), str(output), "--style", STYLE, "--device", "cpu",
                 "--quiet"])  # fmt: skip
    return code, capsys.readouterr().err


def test_truncated_inputs_keep_their_decodable_frames_as_video_does(
    first_run, inputs, tmp_path, capsys
) -> None:
    code, out, stderr = first_run
    assert code == 3, stderr  # done, but damaged inputs
    for name in ("one-segment.mp4", "segments.mp4"):
        video_code, video_err = video_run(inputs / name, tmp_path / name, capsys)
        assert video_code == 3
        single, batch = decoded(tmp_path / name), decoded(out / name)
        assert 0 < len(batch) == len(single)
        # The same warning: what ``video`` said in its parentheses, said for this file.
        damage = video_err.split("input damaged (", 1)[1].rsplit("); every decodable", 1)[0]
        assert f"{inputs / name}: input damaged ({damage}); every decodable frame" in stderr
    lines = stderr.splitlines()
    assert not any(line.count(str(inputs / "segments.mp4")) > 1 for line in lines), stderr
    assert "0 failed" in stderr and "damaged inputs:" in stderr
    assert not list(out.rglob("*.incomplete.*"))


def test_joined_segments_match_video_at_the_default_crf(first_run, inputs,
                                                        tmp_path, capsys) -> None:  # fmt: skip
    _, out, _ = first_run
    assert video_run(inputs / "good.mp4", tmp_path / "good.mp4", capsys)[0] == 0
    capsys.readouterr()
    assert main(["video", str(inputs / "good.mp4"), str(tmp_path / "lossless.mp4"), "--style",
                 STYLE, "--device", "cpu", "--quiet", "--crf", "0"]) == 0  # fmt: skip
    single, batch = decoded(tmp_path / "good.mp4"), decoded(out / "good.mp4")
    lossless = decoded(tmp_path / "lossless.mp4")

    def mean_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
        return float(np.mean([np.abs(x - y).mean() for x, y in zip(a, b, strict=True)]))

    differences = [float(np.abs(a - b).mean()) for a, b in zip(single, batch, strict=True)]
    # x264 runs as in `video` (one thread on a CPU): the first segment is the same encode,
    # but for its last frames, whose types (P or B) the end of the segment decides.
    assert differences[:4] == [0] * 4, differences
    # Later segments start with a keyframe where the single pass has a P-frame: two encodes
    # of the same frames, apart by their quantization noise, not by a seam: the batch is as
    # close to the lossless frames as the single pass.
    print(
        "mean |batch - video|:",
        mean_difference(single, batch),
        "vs lossless: batch",
        mean_difference(lossless, batch),
        "video",
        mean_difference(lossless, single),
    )
    assert mean_difference(single, batch) <= 3, differences
    assert mean_difference(lossless, batch) <= mean_difference(lossless, single) * 1.1


def test_ray_leaves_no_folder_and_no_process(first_run, short_tmp) -> None:
    assert not list(short_tmp.glob(f"{FOLDER_PREFIX}*"))
    leftovers = [p for p in reaper._processes() if "ray::" in reaper._command_line(p)]
    mine = [p for p in leftovers if reaper._stat(p) and _descends_from(p, os.getpid())]
    assert not mine


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        stat = reaper._stat(pid)
        if stat is None:
            return False
        pid = stat[0]
        if pid == ancestor:
            return True
    return False


def test_a_rerun_redoes_outputs_damaged_or_replaced_since(first_run, inputs,
                                                         short_tmp, capsys) -> None:  # fmt: skip
    _, out, _ = first_run
    frames = len(decoded(out / "good.mp4"))
    (out / "good.mp4").write_bytes(b"junk1234")  # replaced: 8 bytes
    cut(out / "segments.mp4", out / "segments.mp4", 0.5)  # damaged: cut in half
    untouched = (out / "one-segment.mp4").stat().st_mtime_ns
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(short_tmp))
        code = main(batch_argv(inputs, out))
    err = capsys.readouterr().err
    assert code == 3, err
    assert f"{out / 'good.mp4'} has changed since a batch wrote it (8 bytes" in err
    assert f"{out / 'segments.mp4'} has changed" in err
    assert "2 done, 1 already done, 0 failed" in err
    assert len(decoded(out / "good.mp4")) == frames
    assert (out / "one-segment.mp4").stat().st_mtime_ns == untouched


def test_ray_processes_end_soon_after_the_driver_is_killed(inputs, short_tmp,
                                                          tmp_path) -> None:  # fmt: skip
    env = dict(os.environ, TMPDIR=str(short_tmp))
    code = "from realtime.cli import main; raise SystemExit(main())"
    clip = make_clip(tmp_path / "long.mp4", 320, 240, 300, keyframe_every=25)  # outlasts the wait
    driver = subprocess.Popen(
        [sys.executable, "-c", code, *batch_argv(clip, tmp_path / "out")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    seen: dict[int, int] = {}
    folder = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and driver.poll() is None:
        folder = next(iter(short_tmp.glob(f"{FOLDER_PREFIX}*")), folder)
        if folder is not None:
            seen.update(reaper.ray_processes(driver.pid, str(folder)))
            titles = [reaper._command_line(pid) for pid in seen]
            if any(t.startswith("ray::Worker") for t in titles):
                break
        time.sleep(0.2)
    assert driver.poll() is None, "the batch ended before its workers were seen"
    assert any(reaper._command_line(pid).startswith("ray::") for pid in seen)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    killed = time.monotonic()
    while time.monotonic() - killed < 20 and any(reaper._alive(*p) for p in seen.items()):
        time.sleep(0.2)
    alive = [reaper._command_line(pid) for pid, start in seen.items() if reaper._alive(pid, start)]
    assert not alive, f"still running {time.monotonic() - killed:.0f} s after SIGKILL: {alive}"
    while time.monotonic() - killed < 25 and folder.exists():
        time.sleep(0.2)
    assert not folder.exists()
