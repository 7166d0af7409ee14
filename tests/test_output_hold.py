"""One output, one run; and names as long as the file system allows.

Issue 35: a second ``realtime video`` on the same output deleted the first run's in-progress
file as stale, and the first then died in a traceback with its work lost. Now a run holds its
output while writing (an advisory lock on ``NAME.incomplete.EXT``): a second run refuses in
one line (exit 2) and touches nothing, and only files no live process holds are cleaned up.
A legal 254-byte output name overflowed once ``.incomplete`` was added: temporary names are
now shortened to fit, and a name that is really too long is one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from fixtures_media import make_clip

from realtime.cli.main import main
from realtime.core.errors import EXIT_USAGE, UserError
from realtime.core.files import (
    OutputHold,
    check_output_free,
    partial_path,
    reserve_path,
    temporary_path,
)

LITE = ("--style", "mosaic", "--arch", "lite", "--device", "cpu")
needs_flock = pytest.mark.skipif(sys.platform == "win32", reason="no advisory locks on Windows")


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@needs_flock
@pytest.mark.slow
def test_a_second_run_on_the_same_output_refuses_and_the_first_completes(tmp_path: Path) -> None:
    make_clip(tmp_path / "in.mp4", 320, 240, frames=200, rate=25)
    command = [sys.executable, "-m", "realtime", "-q", "video", "in.mp4", "out.mp4", *LITE,
               "--preset", "ultrafast", "--quiet"]  # fmt: skip
    first = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    temp = tmp_path / "out.incomplete.mp4"
    deadline = time.monotonic() + 120
    while first.poll() is None and time.monotonic() < deadline:
        if temp.exists() and temp.stat().st_size > 20_000:
            break
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before a second could start"
    before = temp.stat()
    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    during = temp.stat()
    assert second.returncode == EXIT_USAGE, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("realtime: error: out.mp4 is being written by")
    # Touched nothing: the first run's file is the same file, still growing, and no output.
    assert (during.st_ino, during.st_dev) == (before.st_ino, before.st_dev)
    assert during.st_size >= before.st_size
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert sorted(os.listdir(tmp_path)) == ["in.mp4", "out.mp4"]
    assert _frames(tmp_path / "out.mp4") == 200


def test_a_dead_runs_leftovers_are_taken_over(clip_aac: Path, tmp_path: Path) -> None:
    """What a killed run leaves (no process holds it) is stale: the next run replaces it."""
    out = tmp_path / "out.mp4"
    temporary_path(out).write_bytes(b"half a file from a run killed with SIGKILL")
    reserve_path(temporary_path(out)).write_bytes(b"\0" * 4096)
    assert main(["-q", "video", str(clip_aac), str(out), *LITE, "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    assert _frames(out) > 0


@needs_flock
def test_a_held_output_is_refused_and_a_released_one_is_free(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    check_output_free(out)  # nothing in progress
    assert list(tmp_path.iterdir()) == [], "the check must not create anything"
    first = OutputHold(out)
    temp = first.acquire()
    temp.write_bytes(b"frames")
    with pytest.raises(UserError, match="being written by another run"):
        check_output_free(out)
    with pytest.raises(UserError, match="being written by another run"):
        OutputHold(out).acquire()
    assert temp.read_bytes() == b"frames"  # the refused attempt touched nothing
    os.replace(temp, out)
    first.release()
    second = OutputHold(out)
    assert second.acquire() == temp and temp.stat().st_size == 0
    second.release()


def test_temporary_names_fit_the_file_system(tmp_path: Path) -> None:
    out = tmp_path / ("é" * 125 + ".mp4")  # 254 bytes in UTF-8
    assert len(os.fsencode(out.name)) == 254
    names = [temporary_path(out), partial_path(out), reserve_path(temporary_path(out))]
    for path in names:
        assert len(os.fsencode(path.name)) <= 255, path.name
        assert path.suffix == ".mp4" or path.name.endswith(".reserve")
        path.write_bytes(b"")  # the file system takes it
    # Two long names that differ only at their end do not share a temporary file.
    other = tmp_path / ("é" * 124 + "x.mp4")
    assert temporary_path(other) != temporary_path(out)
    # Short names keep the plain, documented form.
    assert temporary_path(tmp_path / "a.mp4").name == "a.incomplete.mp4"
    assert partial_path(tmp_path / "a.mp4").name == "a.partial.mp4"


@pytest.mark.parametrize("kind", ["video", "image"])
def test_a_254_byte_output_name_works(kind: str, clip_aac: Path, tmp_path: Path) -> None:
    if kind == "video":
        source, suffix, extra = clip_aac, ".mp4", ["--quiet"]
    else:
        source, suffix, extra = tmp_path / "in.png", ".png", []
        cv2.imwrite(str(source), np.full((48, 64, 3), 90, np.uint8))
    out = tmp_path / ("n" * (254 - len(suffix)) + suffix)
    assert main(["-q", kind, str(source), str(out), *LITE, *extra]) == 0
    written = [p.name for p in tmp_path.iterdir() if p != source]
    assert written == [out.name]  # and nothing temporary beside it


@pytest.mark.parametrize("kind", ["video", "image"])
def test_a_name_too_long_for_the_file_system_is_one_line(
    kind: str, clip_aac: Path, tmp_path: Path, capsys
) -> None:
    source = clip_aac if kind == "video" else tmp_path / "in.png"
    if kind == "image":
        cv2.imwrite(str(source), np.full((48, 64, 3), 90, np.uint8))
    out = tmp_path / ("n" * 256 + (".mp4" if kind == "video" else ".png"))
    assert main(["-q", kind, str(source), str(out), *LITE]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bytes long" in err[0] and "shorter name" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if kind == "video" else ["in.png"])
