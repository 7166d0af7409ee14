"""Live statistics: capture-to-output latency (p50, p95) and output rate, per interval for the
once-a-second line and the overlay, and over the whole run in bounded memory."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Latency histogram: 1 ms bins up to a minute, so whole-run percentiles take bounded memory.
_HIST_BINS = 60_000


@dataclass(frozen=True)
class StatsLine:
    fps: float
    p50_ms: float
    p95_ms: float
    frames: int  # output frames in the interval
    dropped: int  # source frames skipped in the interval

    def text(self, style: str = "") -> str:
        tail = f" | style {style}" if style else ""
        return (
            f"live: {self.fps:.1f} fps | latency p50 {self.p50_ms:.0f} ms, "
            f"p95 {self.p95_ms:.0f} ms | dropped {self.dropped}{tail}"
        )


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


class LatencyStats:
    """Capture-to-output latency and output rate, per interval and over the whole run."""

    def __init__(self, interval: float = 1.0, now: float | None = None) -> None:
        self.interval = interval
        self._interval_start = time.perf_counter() if now is None else now
        self._latencies: list[float] = []
        self._dropped = 0
        self._hist = np.zeros(_HIST_BINS + 1, dtype=np.int64)
        self.frames = 0
        self.dropped = 0
        self.max_latency = 0.0
        self.last: StatsLine | None = None

    def add(self, latency: float, dropped_before: int = 0) -> None:
        self._latencies.append(latency)
        self._dropped += dropped_before
        self.frames += 1
        self.dropped += dropped_before
        self.max_latency = max(self.max_latency, latency)
        self._hist[min(_HIST_BINS, max(0, int(latency * 1000)))] += 1

    def add_dropped(self, count: int) -> None:
        self._dropped += count
        self.dropped += count

    def due(self, now: float) -> bool:
        return now - self._interval_start >= self.interval

    def roll(self, now: float) -> StatsLine:
        """Close the current interval and return its numbers."""
        elapsed = max(now - self._interval_start, 1e-9)
        line = StatsLine(
            fps=len(self._latencies) / elapsed,
            p50_ms=1000 * _percentile(self._latencies, 50),
            p95_ms=1000 * _percentile(self._latencies, 95),
            frames=len(self._latencies),
            dropped=self._dropped,
        )
        self._latencies.clear()
        self._dropped = 0
        self._interval_start = now
        self.last = line
        return line

    def overall_ms(self, q: float) -> float:
        """Whole-run latency percentile in milliseconds (1 ms resolution)."""
        total = int(self._hist.sum())
        if total == 0:
            return 0.0
        rank = int(np.searchsorted(np.cumsum(self._hist), q / 100 * total, side="left"))
        return float(rank) + 0.5
