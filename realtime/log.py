"""Notices go through Python's ``logging``: one handler, set up by the command line.

Library code logs (``logging.getLogger(__name__)``) and never prints; the CLI decides what is
shown: warnings and notices by default, debug detail with ``-v``, warnings only with ``-q``.
Each record is one line on stderr: ``realtime: message`` (or ``realtime: warning: ...``).
"""

from __future__ import annotations

import logging
import sys

# Loggers of the project's packages; their records reach the one handler.
PACKAGES = ("realtime", "models", "export")


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"realtime: {record.levelname.lower()}: {message}"
        return f"realtime: {message}"


def setup_logging(verbosity: int = 0) -> None:
    """verbosity -1: warnings only; 0: notices (INFO); 1 or more: DEBUG too."""
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Format())
    for name in PACKAGES:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
