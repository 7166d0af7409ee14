"""A full disk, for real: a tiny tmpfs mounted for the test (needs root and mount rights).

What users are promised: one line naming the disk and how much was written, exit code 4, the
frames already written finalised into a playable ``NAME.partial.EXT`` where there is room,
and nothing ``.incomplete`` (or our disk reserve) left behind.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import av
import numpy as np
import pytest
from fixtures_media import make_clip

from realtime.cli.main import main
from realtime.core.errors import EXIT_DISK_FULL


@contextlib.contextmanager
def _tmpfs(where: Path, size: str):
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path):
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs, which only root can mount here")
    with _tmpfs(tmp_path / f"disk-{uuid.uuid4().hex[:6]}", "1m") as disk:
        yield disk


def _fill(disk: Path, leave: int = 0) -> None:
    """Fill the disk, leaving about ``leave`` bytes free."""
    stat = os.statvfs(disk)
    size = max(0, stat.f_bavail * stat.f_frsize - leave)
    with open(disk / "filler", "wb") as handle, contextlib.suppress(OSError):
        while size > 0 or not leave:
            handle.write(b"\0" * min(65536, size) if leave else b"\0" * 65536)
            handle.flush()
            size -= 65536


def _one_error_line(err: str) -> str:
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    return errors[0]


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Noise does not compress: a lossless stylized copy of it needs megabytes.
    return make_clip(
        tmp_path_factory.mktemp("noisy") / "noise.mp4",
        width=160,
        height=120,
        frames=60,
        audio="aac",
        pattern="noise",
    )


@pytest.mark.slow
def test_video_on_a_disk_that_fills_keeps_a_playable_partial(
    small_disk, noisy_clip, style_onnx, capsys
) -> None:
    out = small_disk / "out.mp4"
    code = main(
        ["video", str(noisy_clip), str(out), "--style", str(style_onnx), "--crf", "0",
         "--temporal", "off", "--quiet"]
    )  # fmt: skip
    assert code == EXIT_DISK_FULL
    line = _one_error_line(capsys.readouterr().err)
    assert "no space left on" in line and str(small_disk) in line and "out.mp4" in line
    partial = small_disk / "out.partial.mp4"
    assert sorted(p.name for p in small_disk.iterdir()) == ["out.partial.mp4"]
    with av.open(str(partial)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        assert container.streams.audio, "the audio up to the cut is kept"
    assert 0 < frames < 60
    assert f"{frames} of 60 frames" in line


def test_video_on_a_full_disk_leaves_nothing(small_disk, noisy_clip, style_onnx, capsys) -> None:
    _fill(small_disk)
    code = main(["video", str(noisy_clip), str(small_disk / "out.mp4"), "--style",
                 str(style_onnx), "--quiet"])  # fmt: skip
    assert code == EXIT_DISK_FULL
    assert "no space left on" in _one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


@pytest.mark.slow
def test_image_on_a_full_disk_leaves_nothing(small_disk, style_onnx, tmp_path, capsys) -> None:
    import cv2

    photo = tmp_path / "photo.png"
    noise = np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    cv2.imwrite(str(photo), noise)
    _fill(small_disk)
    code = main(["image", str(photo), str(small_disk / "out.png"), "--style", str(style_onnx)])
    assert code == EXIT_DISK_FULL
    line = _one_error_line(capsys.readouterr().err)
    assert "no space left on" in line and "out.png" in line
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_recording_on_a_disk_that_fills_keeps_a_playable_partial(
    small_disk, noisy_clip, style_onnx, capsys
) -> None:
    out = small_disk / "rec.mp4"
    # A live run drops frames it has no time for: leave little room so that it fills.
    _fill(small_disk, leave=700_000)
    code = main(["webcam", "--camera", str(noisy_clip), "--style", str(style_onnx),
                 "--no-window", "--record", str(out), "--temporal", "off"])  # fmt: skip
    assert code == EXIT_DISK_FULL
    line = _one_error_line(capsys.readouterr().err)
    assert "no space left on" in line and "rec.mp4" in line and "rec.partial.mp4" in line
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "rec.partial.mp4"]
    with av.open(str(small_disk / "rec.partial.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0


def test_recording_on_a_full_disk_is_one_line(small_disk, noisy_clip, style_onnx, capsys) -> None:
    _fill(small_disk)
    code = main(["webcam", "--camera", str(noisy_clip), "--style", str(style_onnx),
                 "--no-window", "--record", str(small_disk / "rec.mp4")])  # fmt: skip
    assert code == EXIT_DISK_FULL
    assert "no space left on" in _one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]
