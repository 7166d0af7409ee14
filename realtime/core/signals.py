"""Stop signals: Ctrl-C (SIGINT) and SIGTERM take one path.

``timeout``, ``kill``, systemd and Docker stop a program with SIGTERM, whose default ends the
process on the spot: no output finalised, temporary files left behind. The command line
therefore runs each command under ``sigterm_raises()``: SIGTERM then raises ``Terminated``, a
``KeyboardInterrupt``, in the main thread, so every place that finalises on Ctrl-C (a video's
partial file, a recording, a batch's finished outputs) finalises on SIGTERM too.
``terminated()`` tells the two apart for the one line and the exit code (130 or 143).

The guards below change what both signals do while a long job must not be cut mid-step. Only
the main thread may install signal handlers; elsewhere (a test, a server thread) the guards
change nothing, and Ctrl-C keeps Python's default of raising KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

Handler = Callable[[int, Any], Any] | int
T = TypeVar("T")

# Both exist on every platform Python runs on (Windows delivers SIGTERM only to itself).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# How long an interruptible wait sleeps between checks: a signal handler runs only between
# Python bytecodes of the main thread, so this bounds how late Ctrl-C acts.
_WAIT_SLICE = 0.05


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt (it is one, so every Ctrl-C path
    handles it); the command line exits 143 instead of 130."""


class _State:
    """What this process has been told: whether SIGTERM came, and our SIGTERM handler while a
    command runs (for ``reclaim_sigterm``)."""

    terminated = False
    handler: Handler | None = None
    abandoned = False  # a worker was left inside a native call (wait_interruptibly)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def terminated() -> bool:
    """True once SIGTERM has reached this command (under ``sigterm_raises``)."""
    return _State.terminated


def stop_cause() -> str:
    """The word for a stopped run, in its one line."""
    return "terminated (SIGTERM)" if _State.terminated else "interrupted"


def _raise_terminated(signum: int, frame: object) -> None:
    _State.terminated = True
    raise Terminated


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """For one command: SIGTERM raises ``Terminated`` in the main thread, as Ctrl-C raises
    KeyboardInterrupt, instead of killing the process before its outputs are finalised."""
    _State.terminated = False
    if not _on_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    _State.handler = _raise_terminated
    try:
        yield
    finally:
        _State.handler = None
        signal.signal(signal.SIGTERM, previous)


def reclaim_sigterm() -> None:
    """Put our SIGTERM handler back after a library replaced it: ``ray.init`` installs one that
    calls ``sys.exit(15)``, which would skip the batch's own Ctrl-C path."""
    if _State.handler is not None and _on_main_thread():
        signal.signal(signal.SIGTERM, _State.handler)


@contextlib.contextmanager
def _stop_handlers(handler: Handler) -> Iterator[None]:
    """``handler`` for both stop signals (where ``sigterm_raises`` is not active, SIGTERM keeps
    its default: a library caller did not ask for SIGTERM to be handled)."""
    if not _on_main_thread():
        yield
        return
    signums = STOP_SIGNALS if _State.handler is not None else (signal.SIGINT,)
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def stop_signals_ignored() -> contextlib.AbstractContextManager[None]:
    """Ignore Ctrl-C and SIGTERM, e.g. while an output is finalised: a second press (or a
    SIGTERM after the Ctrl-C) must not leave a broken file."""
    return _stop_handlers(signal.SIG_IGN)


def stop_signals_set(stop: threading.Event) -> contextlib.AbstractContextManager[None]:
    """Ctrl-C or SIGTERM sets ``stop`` instead of raising mid-frame, so a loop ends at its next
    turn and finalises its outputs. A second one raises, for a loop stuck in an output."""

    def handler(signum: int, frame: object) -> None:
        if signum == signal.SIGTERM:
            _State.terminated = True
        if stop.is_set():
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        stop.set()

    return _stop_handlers(handler)


def work_abandoned() -> bool:
    """True once a stop left a worker inside a native call (``wait_interruptibly``)."""
    return _State.abandoned


def exit_process(code: int) -> NoReturn:
    """End the process with ``code``. Where a stop abandoned a worker inside a native call,
    without the interpreter's finalisation: ONNX Runtime's and OpenVINO's static destructors
    would tear down the thread pool that worker still runs on, and the C++ runtime aborts
    (exit -6 instead of 130/143, seen under load). Everything is flushed first; the outputs
    were finalised before ``code`` was known."""
    if _State.abandoned:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def wait_interruptibly(call: Callable[[], T], name: str) -> T:
    """``call()`` in a worker thread while this (main) thread waits in short slices, so Ctrl-C
    and SIGTERM act within a fraction of a second even when ``call`` is one long native call
    (ONNX Runtime on a 4000x3000 image runs for tens of seconds without returning to Python,
    and a signal handler runs only when the main thread does).

    On a stop the exception is raised here at once; the worker, a daemon thread, cannot be cut
    and is abandoned: the caller is expected to end the process, which does not wait for it.
    """
    if not _on_main_thread():
        return call()  # no handler runs in this thread anyway: nothing to gain
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the waiting thread, which re-raises it
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name=name, daemon=True).start()
    try:
        while not done.wait(_WAIT_SLICE):
            pass
    except BaseException:
        _State.abandoned = True
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# Set by a process that starts ``realtime`` as its helper (the panel's add-style training):
# the parent's pid, which the helper watches.
PARENT_ENV = "REALTIME_PARENT_PID"
_PARENT_POLL = 1.0  # seconds between looks at the parent


def end_with_parent() -> None:
    """Where ``PARENT_ENV`` names a parent, stop this process (SIGTERM to its own process
    group, so its workers and its own finalising go with it) once that parent is gone.

    A parent that ends normally stops its helper itself; this is for one killed outright
    (SIGKILL, the OOM killer), which would leave a training running on in the background
    for nobody. It is a thread looking at ``os.getppid()``: an orphan is re-parented, and a
    ``prctl`` death signal would need a ``preexec_fn``, unsafe in a parent with threads."""
    expected = os.environ.pop(PARENT_ENV, "")
    if os.name != "posix" or not expected.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(expected):
            threading.Event().wait(_PARENT_POLL)
        with contextlib.suppress(OSError):
            if os.getpgrp() == os.getpid():  # a group of its own: its workers go too
                os.killpg(os.getpgrp(), signal.SIGTERM)
            else:
                os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent watch", daemon=True).start()
