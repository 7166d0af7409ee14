"""A long subprocess beside a live run (training a painting: ``realtime.app.add_style``): in a
process group of its own, so that it and every process it starts (a data loader's workers)
are stopped together and a Ctrl-C meant for the run does not cut it mid-file; at a lower
priority, so the live picture keeps the cores it needs; its output read by a thread, line by
line (``\\r`` ends one too: progress bars), keeping the last lines for a failure's message."""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from realtime.core.signals import PARENT_ENV

NICENESS = 10  # below the live loop, as `nice` would start it
TAIL_LINES = 50
_STOP_GRACE = 3.0  # seconds a SIGTERM'd child has to end before SIGKILL
_LINE_END = re.compile(rb"[\r\n]")


class Cancelled(Exception):
    """The job was cancelled (or its run is ending): not an error."""


class ChildProcess:
    """One subprocess, started at once; ``wait`` for its exit code, ``stop`` from any thread."""

    def __init__(
        self, command: list[str], cwd: Path, on_line: Callable[[str], None] | None = None
    ) -> None:
        # Its lines as they are written; this pid, so it ends if this process is killed.
        env = os.environ | {"PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())}
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, **_own_group(),
        )  # fmt: skip
        _lower_priority(self.process.pid)
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._on_line = on_line
        self._reader = threading.Thread(target=self._read, name="child output", daemon=True)
        self._reader.start()

    def wait(self) -> int:
        """Its exit code, once it and its output ended; what it started goes with it."""
        code = self.process.wait()
        self._signal_group(getattr(signal, "SIGKILL", signal.SIGTERM))
        self._reader.join(5.0)
        return code

    def stop(self) -> None:
        """End it and its group: SIGTERM, then SIGKILL after a grace."""
        if self.process.poll() is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(_STOP_GRACE)
        except subprocess.TimeoutExpired:
            self._signal_group(getattr(signal, "SIGKILL", signal.SIGTERM))
            self.process.wait()

    def reason(self, code: int) -> str:
        """Why it failed, in one line: its last ``error:`` line, else its last line."""
        errors = [line for line in self.tail if "error:" in line]
        if errors:
            return errors[-1].split("error:", 1)[1].strip()
        last = self.tail[-1] if self.tail else "no output"
        return f"exit code {code}: {last}"

    def _signal_group(self, sig: int) -> None:
        try:
            if os.name == "posix":
                os.killpg(self.process.pid, sig)
            elif self.process.poll() is None:
                self.process.kill()
        except (ProcessLookupError, PermissionError):
            pass  # the group has ended

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        pending = b""
        while chunk := stream.read1(4096):  # type: ignore[attr-defined]
            *lines, pending = _LINE_END.split(pending + chunk)
            for line in lines:
                self._line(line)
        self._line(pending)
        stream.close()

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            return
        self.tail.append(line)
        if self._on_line is not None:
            self._on_line(line)


def _own_group() -> dict:
    """Popen's options for a process group of its own (and, on Windows, a lower priority)."""
    if os.name == "posix":
        return {"start_new_session": True}
    flags = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
    flags |= subprocess.BELOW_NORMAL_PRIORITY_CLASS  # type: ignore[attr-defined]
    return {"creationflags": flags}


def _lower_priority(pid: int) -> None:
    """NICENESS below this process, set from here: a ``preexec_fn`` is unsafe in a process
    with threads, and the child starts its own workers only after importing torch."""
    if os.name != "posix":
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, pid, min(19, current + NICENESS))
    except OSError:
        pass  # it ended already, or the system refuses: it runs at the run's priority
