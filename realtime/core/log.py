"""Notices go through Python's ``logging``: one handler, set up by the command line.

Library code logs (``logging.getLogger(__name__)``) and never prints; the CLI decides what is
shown: warnings and notices by default, debug detail with ``-v``, warnings only with ``-q``.
Each record is one line on stderr: ``realtime: message`` (or ``realtime: warning: ...``).
"""

from __future__ import annotations

import logging
import sys

from realtime.core.progress import end_progress_line

# Loggers of the project's packages; their records reach the one handler.
PACKAGES = ("realtime", "models", "export")


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (tests and tools may
    replace it), one line per record."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            end_progress_line(sys.stderr)  # a note must not be glued to a progress bar
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never take the program down
            self.handleError(record)


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"realtime: {record.levelname.lower()}: {message}"
        return f"realtime: {message}"


def setup_logging(verbosity: int = 0) -> None:
    """verbosity -1: warnings only; 0: notices (INFO); 1 or more: DEBUG too."""
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    handler = _Stderr()
    handler.setFormatter(_Format())
    for name in PACKAGES:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = True  # no handler above ours in a CLI run; tests capture there
