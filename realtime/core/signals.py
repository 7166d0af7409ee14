"""Ctrl-C guards: what a long job does with SIGINT while it must not be cut mid-step.

Only the main thread may install signal handlers; elsewhere (a test, a server thread) the
guards change nothing, and Ctrl-C keeps Python's default of raising KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

Handler = Callable[[int, Any], Any] | int


@contextlib.contextmanager
def _sigint_handler(handler: Handler) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def sigint_ignored() -> contextlib.AbstractContextManager[None]:
    """Ignore Ctrl-C, e.g. while an output is finalised: a second press must not leave a
    broken file."""
    return _sigint_handler(signal.SIG_IGN)


def sigint_sets(stop: threading.Event) -> contextlib.AbstractContextManager[None]:
    """Ctrl-C sets ``stop`` instead of raising mid-frame, so a loop ends at its next turn and
    finalises its outputs. A second Ctrl-C raises, for a loop stuck in an output."""

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    return _sigint_handler(handler)
