"""The panel's helper processes (``realtime.app.child_process``), with real processes and
real signals: a helper must not outlive a live run that was killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals"),
    pytest.mark.slow,  # two real processes, one a live run
]

PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from realtime.app.child_process import ChildProcess

    child = ChildProcess([sys.executable, "-m", "realtime", "-q", *sys.argv[1:]], Path.cwd())
    print(child.process.pid, flush=True)
    time.sleep(600)
    """
)


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an orphan's end, before it is reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_a_helper_ends_when_its_parent_is_killed_outright(tmp_path: Path) -> None:
    # A helper that writes nothing while it works (a live run's status lines would end it on
    # the broken pipe anyway): the full network on a 12-megapixel image, a minute on 2 cores.
    photo = tmp_path / "large.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (3000, 4000, 3), np.uint8))
    out = tmp_path / "out.png"
    helper = ["image", str(photo), str(out), "--style", "mosaic", "--arch", "full",
              "--device", "cpu"]  # fmt: skip
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, *helper], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    pid = 0
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        time.sleep(3.0)  # the helper is up and at work
        assert _running(pid), "the helper ended on its own; this test needs it running"
        parent.kill()  # SIGKILL: nothing in the parent gets to stop its helper
        parent.wait()
        deadline = time.monotonic() + 15
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(pid), "the helper outlived its killed parent"
        assert not out.exists(), "the helper finished its work before the test could stop it"
    finally:
        parent.kill()
        if pid and _running(pid):
            os.kill(pid, signal.SIGKILL)
