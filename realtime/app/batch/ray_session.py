"""Ray for one batch: the cluster at an address, or a local Ray that lives and dies with the
command and leaves nothing behind.

A local Ray keeps its sockets, logs and spill files in a session folder (``/tmp/ray/session_*``
by default), and never removes one: every run added another. Here each run gets a folder of
its own (``$TMPDIR/realtime-ray-XXXX``), removed when the run ends; a run that could not remove
it (killed with SIGKILL together with its reaper) leaves it unlocked, and the next run removes
it. While the run lives, a small reaper process (``reaper.py``) watches it and ends Ray's
processes if the run dies without ending them itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from realtime.core.errors import UserError

log = logging.getLogger(__name__)

FOLDER_PREFIX = "realtime-ray-"
_LOCK = "run.lock"  # held by the run while it lives
# Ray's sockets live under its folder, and a Unix socket path holds at most 107 bytes: past
# this length the folder stays Ray's default.
_MAX_FOLDER = 48
_STALE_UNLOCKED = 3600.0  # seconds: a folder without its lock file yet is a run starting


@contextlib.contextmanager
def ray_session(ray: Any, address: str | None) -> Iterator[None]:
    """Ray is up inside the block; a local one is shut down and removed after it."""
    # Ray's own notices (its start, its token) are not the user's business here.
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address:
        _init(ray, address, address=address, **quiet)
        yield  # a cluster outlives the command: nothing to shut down
        return
    remove_stale_folders()
    folder, lock = _new_folder()
    reaper = _start_reaper(folder) if folder is not None else None
    try:
        where = {"_temp_dir": str(folder)} if folder is not None else {}
        _init(ray, None, include_dashboard=False, **where, **quiet)
        yield
    finally:
        ray.shutdown()
        _stop_reaper(reaper)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
            os.close(lock)


def _init(ray: Any, address: str | None, **options: Any) -> None:
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise UserError(f"cannot start {where} ({' '.join(str(exc).split())[:200]})") from exc


def _new_folder() -> tuple[Path | None, int]:
    """A fresh folder for this run's Ray, locked while the run lives; (None, -1) where a
    folder under the temporary directory would make Ray's socket paths too long."""
    base = tempfile.gettempdir()
    if len(base) + len(FOLDER_PREFIX) + 8 > _MAX_FOLDER:
        return None, -1
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=base))
    lock = os.open(folder / _LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    return folder, lock


def remove_stale_folders(base: Path | None = None) -> list[Path]:
    """Remove the Ray folders of runs that are gone (their lock is free); the removed ones."""
    removed = []
    for folder in Path(base or tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        if folder.is_dir() and not folder.is_symlink() and _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _abandoned(folder: Path) -> bool:
    try:
        fd = os.open(folder / _LOCK, os.O_RDWR)
    except FileNotFoundError:
        # Created, its lock not yet: a run starting, unless it has been so for long.
        with contextlib.suppress(OSError):
            return time.time() - folder.stat().st_mtime > _STALE_UNLOCKED
        return False
    except OSError:
        return False  # another user's: not ours to judge
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live run holds it
    finally:
        os.close(fd)
    return True


def _start_reaper(folder: Path) -> subprocess.Popen | None:
    """The watcher that ends Ray's processes if this process dies first (Linux: /proc)."""
    if not Path("/proc/self/stat").exists():
        return None
    script = Path(__file__).with_name("reaper.py")
    try:
        # A session of its own: a terminal's Ctrl-C or hang-up stops the run, not its reaper.
        return subprocess.Popen(
            [sys.executable, str(script), str(os.getpid()), str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        log.debug("no reaper for the local Ray (%s)", exc)
        return None


def _stop_reaper(reaper: subprocess.Popen | None) -> None:
    """After Ray's own shutdown: the reaper ends what is left, removes the folder and exits."""
    if reaper is None:
        return
    with contextlib.suppress(OSError):
        reaper.stdin.close()
    try:
        reaper.wait(timeout=10)
    except subprocess.TimeoutExpired:
        reaper.kill()
