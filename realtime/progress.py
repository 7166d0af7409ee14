"""A dependency-free progress line: count, rate, ETA and a few named values.

On a terminal it redraws one line; elsewhere (CI logs, pipes) it prints a line every
``log_interval`` seconds, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):  # NaN or unknown
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    def __init__(
        self,
        total: int | None,
        label: str,
        unit: str = "frames",
        stream: TextIO | None = None,
        enabled: bool = True,
        log_interval: float = 5.0,
    ) -> None:
        self.total = total
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.count = 0
        self.values: dict[str, str] = {}
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn: tuple[int, dict[str, str]] | None = None  # count and values last printed
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._interval = 0.1 if self._tty else log_interval

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    @property
    def rate(self) -> float:
        elapsed = self.elapsed
        return self.count / elapsed if elapsed > 0 else 0.0

    def update(self, n: int = 1, **values: float | str) -> None:
        self.count += n
        for key, value in values.items():
            self.values[key] = f"{value:.4g}" if isinstance(value, float) else str(value)
        now = time.perf_counter()
        if now - self._last_draw >= self._interval or self.count == self.total:
            self._last_draw = now
            self._draw(final=False)

    def line(self) -> str:
        rate = self.rate
        if self.total:
            pct = 100.0 * self.count / self.total
            eta = (self.total - self.count) / rate if rate > 0 else float("nan")
            head = f"{self.label}: {self.count}/{self.total} {self.unit} ({pct:3.0f}%)"
            tail = f"{rate:.2f} {self.unit}/s, ETA {format_duration(eta)}"
        else:
            head = f"{self.label}: {self.count} {self.unit}"
            tail = f"{rate:.2f} {self.unit}/s, {format_duration(self.elapsed)} elapsed"
        extra = " ".join(f"{k}={v}" for k, v in self.values.items())
        return f"{head} | {tail}" + (f" | {extra}" if extra else "")

    def _draw(self, final: bool) -> None:
        if not self.enabled:
            return
        line = self.line()
        if self._tty:
            end = "\n" if final else ""
            self.stream.write("\r\x1b[2K" + line + end)
        elif (self.count, self.values) != self._drawn:
            # A log gets no second line for the same state (close right after an update).
            self.stream.write(line + "\n")
        self._drawn = (self.count, dict(self.values))
        self.stream.flush()

    def close(self) -> None:
        """Draw the last state once more, so the final numbers are always visible."""
        self._draw(final=True)


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
