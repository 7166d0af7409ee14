"""Where live frames go: a window, a virtual camera, an MPEG-TS stream, a recording.

Every output takes uint8 (H, W, 3) RGB frames of the size it was opened with, and a
timestamp in ``time.perf_counter()`` seconds (the frame's capture time), from which the
encoded outputs derive wall-clock presentation times: the stylizer's rate varies, so frame
counting would play back at the wrong speed.

All outputs are written from the live loop's (main) thread: OpenCV's window must be driven
from the main thread on macOS, and one thread keeps the encoders' timestamps in order.
"""

from fractions import Fraction
from typing import Protocol

import numpy as np

# 90 kHz: MPEG-TS's own clock, fine enough for wall-clock timestamps in MP4 too.
TIME_BASE = Fraction(1, 90000)


class LiveOutput(Protocol):
    """One destination of the live stream."""

    name: str
    # Whether the output keeps getting the frozen frame while the stream is paused (a
    # virtual camera or stream consumer would otherwise show "no signal"; a recording
    # simply has no frames for that time).
    holds_while_paused: bool

    def write(self, frame: np.ndarray, timestamp: float) -> None: ...

    def close(self, complete: bool = True) -> str:
        """Finish the output; returns a line for the summary."""
        ...


class WallClock:
    """perf_counter seconds -> strictly increasing pts in TIME_BASE, starting at 0."""

    def __init__(self) -> None:
        self._origin: float | None = None
        self._last = -1

    def pts(self, timestamp: float) -> int:
        if self._origin is None:
            self._origin = timestamp
        pts = max(round((timestamp - self._origin) / TIME_BASE), self._last + 1)
        self._last = pts
        return pts


def nominal_rate(fps: float) -> Fraction:
    # The nominal rate is only a hint for the encoder (timestamps are wall-clock);
    # 30000/1001 and friends stay exact.
    return Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(30)


def close_all(outputs: list[LiveOutput] | tuple[LiveOutput, ...], complete: bool) -> list[str]:
    """Close every output even if one fails; the first failure is raised after the rest."""
    summaries: list[str] = []
    first_error: BaseException | None = None
    for output in outputs:
        try:
            summaries.append(output.close(complete=complete))
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the others closed
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return summaries
