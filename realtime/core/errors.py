"""Errors meant for the person at the command line.

Library code raises these instead of calling ``sys.exit``: the CLI turns them into one
line on stderr and a non-zero exit code, and tests can catch them.
"""

from __future__ import annotations

# Exit codes are part of the documented interface (README, "Exit codes").
EXIT_OK = 0
EXIT_ERROR = 1  # unexpected failure (a bug): traceback printed
EXIT_USAGE = 2  # bad input: missing file, unknown style, wrong model, ...
EXIT_DAMAGED_INPUT = 3  # finished, but the input had a corrupt or truncated tail
EXIT_DISK_FULL = 4  # stopped: the disk filled (the frames done are in NAME.partial.EXT)
EXIT_INTERRUPTED = 130  # Ctrl-C: partial output finalised (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (kill, timeout, systemd, Docker): as Ctrl-C (128 + SIGTERM)


def first_line(exc: BaseException | None) -> str:
    """The first line of ``exc``'s message, for quoting it inside a one-line message; its type
    name when the message is empty (``str(exc)`` of some library errors is)."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


class UserError(Exception):
    """A problem the user can fix. The message is one line naming the problem and the fix."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        # One line, always: multi-line messages get lost in logs and terminals.
        super().__init__(" ".join(message.split()))


class ProviderError(UserError):
    """The requested ONNX Runtime execution provider could not be used."""


class DiskFullError(UserError):
    """The disk filled while writing an output: what was finished is kept where there was
    room (``NAME.partial.EXT`` for videos), nothing half-written under the final name."""

    exit_code = EXIT_DISK_FULL
