"""The timing loop the benchmark scripts share: warm up, then the median of timed calls."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(call: Callable[..., object], runs: int, *args: object, warmup: int = 3) -> float:
    """Median wall time of ``call(*args)`` in milliseconds over ``runs`` calls, after
    ``warmup`` untimed ones (the first runs allocate buffers and pick kernels)."""
    for _ in range(warmup):
        call(*args)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call(*args)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
