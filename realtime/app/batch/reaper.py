"""Ends a batch's local Ray when the batch's process dies without ending it (SIGKILL, the
kernel's OOM killer). Run as a script, beside the driver: ``python reaper.py PID FOLDER``.

A local Ray kills its GCS server and raylet when the driver dies (Linux's parent-death
signal), but not the agents the raylet started (``ray::DashboardAgent``,
``ray::RuntimeEnvAgent``) nor workers caught in between: after a SIGKILL of the driver they
were seen for about 70 s. A process killed with SIGKILL runs no code, so this one, started
by the driver in a session of its own, notes the Ray processes twice a second (the driver's
children whose command line names the run's Ray folder, and everything below them) and, when
the driver is gone, stops those still alive and removes the folder. The driver keeps our
stdin open while it lives: end of file is its death, or its own orderly shutdown.

Standard library only, and run as a file, not a module, so it loads nothing of the package.
Linux only: it reads /proc.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

_POLL = 0.5  # seconds between looks at the process tree
_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


def _stat(pid: int | str) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks since boot), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read().decode(errors="replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the name may hold spaces and ")"
    return int(fields[1]), int(fields[19])


def _processes() -> dict[int, tuple[int, int]]:
    """Every process: pid -> (parent pid, start time)."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _stat(entry.name)) is not None:
            table[int(entry.name)] = stat
    return table


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def ray_processes(driver: int, folder: str) -> dict[int, int]:
    """The run's Ray processes now: pid -> start time."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    roots = [pid for pid in children.get(driver, []) if folder in _command_line(pid)]
    found: dict[int, int] = {}
    while roots:
        pid = roots.pop()
        if pid != os.getpid() and pid in table:
            found[pid] = table[pid][1]
            roots.extend(children.get(pid, []))
    return found


def _alive(pid: int, started: int) -> bool:
    """Still the same process (a recycled pid has another start time)."""
    stat = _stat(pid)
    return stat is not None and stat[1] == started


def stop(processes: dict[int, int]) -> None:
    """SIGTERM, then SIGKILL for those still there after the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [pid for pid, started in processes.items() if _alive(pid, started)]
        for pid in alive:
            with contextlib.suppress(OSError):  # ended meanwhile
                os.kill(pid, sig)
        deadline = time.monotonic() + _GRACE
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = [pid for pid in alive if _alive(pid, processes[pid])]
        if not alive:
            return


def main(argv: list[str]) -> int:
    driver, folder = int(argv[1]), argv[2]
    seen: dict[int, int] = {}
    lock = threading.Lock()

    def watch() -> None:
        while True:
            found = ray_processes(driver, folder)
            with lock:
                seen.update(found)
            time.sleep(_POLL)

    threading.Thread(target=watch, daemon=True).start()
    sys.stdin.buffer.read()  # returns at end of file: the driver is gone, or done with Ray
    with lock:
        stop(dict(seen))
    shutil.rmtree(Path(folder), ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
