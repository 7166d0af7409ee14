"""Progress for long work: tqdm bars (count, rate, ETA and named values) on stderr, redrawn
in place on a terminal and printed every 30 s in logs, so logs stay readable."""

from __future__ import annotations

import sys
import weakref
from typing import TextIO

from tqdm import tqdm

# True while a bar has left the cursor at the end of its line on stderr: a line written now
# would be glued to the bar ("stylizing: 40%|####  | 12/30realtime: error: ...").
_line_open = False
_bars: weakref.WeakSet[tqdm] = weakref.WeakSet()  # the bars made here, for drop_progress_bars


class _BarStream:
    """The bar's stream: notes whether what the bar wrote last ends its line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        global _line_open
        written = self._stream.write(text)
        if text:
            # "\r" alone returns to the start of a cleared line: nothing to end there.
            _line_open = not text.endswith(("\n", "\r"))
        return written

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> object:  # isatty, encoding, ... as the stream has them
        return getattr(self._stream, name)


def drop_progress_bars() -> None:
    """The command ends with a message (an error, an interruption): end the bar's line, and
    keep the bars still open from drawing themselves once more below it (tqdm redraws a bar
    that is closed when collected, at exit)."""
    end_progress_line()
    for bar in list(_bars):
        bar.disable = True


def end_progress_line(stream: TextIO | None = None) -> None:
    """End a bar's line before a message is written to stderr, so the message starts a line
    of its own. Every line the program writes while a bar may be open goes through this."""
    global _line_open
    if _line_open:
        (stream or sys.stderr).write("\n")
        _line_open = False


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
    bar = tqdm(
        total=total,
        initial=initial,
        desc=label,
        unit=f" {unit}",
        disable=not enabled,
        file=_BarStream(sys.stderr),
        dynamic_ncols=tty,
        mininterval=0.2 if tty else 30.0,
        ascii=not tty,
    )
    _bars.add(bar)
    return bar
