"""Progress for long work: tqdm bars (count, rate, ETA and named values) on stderr, redrawn
in place on a terminal and printed every 30 s in logs, so logs stay readable."""

from __future__ import annotations

import sys

from tqdm import tqdm


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):  # NaN or unknown
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def progress_bar(
    total: int | None, label: str, unit: str, enabled: bool = True, initial: int = 0
) -> tqdm:
    """A tqdm bar on stderr: redrawn in place on a terminal, a line every 30 s in logs."""
    tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
    return tqdm(
        total=total,
        initial=initial,
        desc=label,
        unit=f" {unit}",
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=tty,
        mininterval=0.2 if tty else 30.0,
        ascii=not tty,
    )
