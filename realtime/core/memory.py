"""How much memory a frame size needs, checked before the work starts.

A style network's activations grow with the frame's area: the full TransformerNet keeps
several 32- to 128-channel float32 maps of the frame alive at once, so an 8000x8000 photo asks
for tens of GB. Rather than letting the machine swap or the process be killed half-way, each
run estimates its need from the frame size and refuses, in one line that names the largest
size that fits and the option that sets it, when the estimate exceeds the available memory.
In a container "available" is what its memory cgroup still allows (``realtime.core.cgroups``),
not the machine's free memory: past the cgroup's limit the kernel kills the process (137)
however much the machine has.

The per-pixel figures are measured peak RSS on the 2-core development CPU (ONNX Runtime's CPU
provider with its memory arena, docs/BENCHMARKS.md "Memory"), rounded up: the estimate is meant
to be within a factor of 2 of the real peak, on the safe side. The arena grows in steps, so the
peak per pixel varies with the size: the figure covers the worst size measured, not a typical
one, because under a cgroup a size that does not quite fit is killed, not slowed.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from realtime.core.cgroups import cgroup_headroom
from realtime.core.errors import UserError

# Process baseline (Python, NumPy, OpenCV, ONNX Runtime, the model) before any frame.
BASE_BYTES = 200 * 1024**2
# Peak bytes per pixel of the frame the network runs on, by architecture (realtime.arch). Full:
# up to 1075 measured (1920x1440, bundled fp16 mosaic), 800 at 1 and 4 MP; lite: up to 117.
NETWORK_BYTES_PER_PIXEL = {"transformer-net": 1200, "transformer-net-lite": 150}
# Optimisation by Gatys et al. (VGG-16 forward and backward at the processing size, plus the
# optimiser's history), fitted to the peaks measured at 256x256 and 512x512 with the
# painting's own Grams loaded (docs/BENCHMARKS.md, "Memory").
OPTIMISATION_BASE_BYTES = 700 * 1024**2
OPTIMISATION_BYTES_PER_PIXEL = 4096
# Keep this share of the available memory for everything else the machine is doing.
USABLE_SHARE = 0.85


@dataclass(frozen=True)
class Headroom:
    """Memory this process can still take, and the cgroup limit that bounds it (if one does)."""

    available: int
    cgroup_limit: int | None = None


def available_bytes() -> int | None:
    """Memory this process can still take; None where it cannot be read (no check then)."""
    headroom = headroom_now()
    return None if headroom is None else headroom.available


def headroom_now(
    proc: Path = Path("/proc"), meminfo: Path = Path("/proc/meminfo")
) -> Headroom | None:
    """MemAvailable, capped by what the memory cgroups this process is in still allow (a
    container's limit, a systemd slice's, any ancestor's) less what the cgroup already uses;
    None where neither can be read. ``proc`` and ``meminfo`` are for tests."""
    if not sys.platform.startswith("linux"):
        with contextlib.suppress(ValueError, OSError, AttributeError):
            return Headroom(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        return None
    machine: int | None = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                machine = int(line.split()[1]) * 1024
    cgroup = cgroup_headroom(proc)
    if cgroup is not None and (machine is None or cgroup[0] < machine):
        return Headroom(cgroup[0], cgroup[1])
    return None if machine is None else Headroom(machine)


def network_bytes(arch: str, width: int, height: int, frames: int = 1) -> int:
    """Peak bytes to run ``frames`` frames of this size through the network at once."""
    per_pixel = NETWORK_BYTES_PER_PIXEL.get(arch, NETWORK_BYTES_PER_PIXEL["transformer-net"])
    return BASE_BYTES + per_pixel * width * height * frames


def optimisation_bytes(width: int, height: int) -> int:
    return OPTIMISATION_BASE_BYTES + OPTIMISATION_BYTES_PER_PIXEL * width * height


def _gb(count: float) -> str:
    return f"{count / 1024**3:.1f} GB"


def check_fits(
    needed: int,
    width: int,
    height: int,
    what: str,
    fix: str,
    available: int | None = None,
) -> None:
    """Refuse (UserError) when ``needed`` bytes for a ``width`` x ``height`` frame exceed the
    usable memory; the message gives the largest long side that fits, for ``fix`` (an option
    such as --size), and names a cgroup limit where one is what bounds it."""
    headroom = headroom_now() if available is None else Headroom(available)
    if headroom is None:
        return
    available = headroom.available
    usable = available * USABLE_SHARE
    if needed <= usable:
        return
    # Memory grows with the area: scale both sides by the same factor.
    per_pixel = max(1.0, (needed - BASE_BYTES) / (width * height))  # per frame size, all frames
    fits_pixels = max(0.0, usable - BASE_BYTES) / per_pixel
    scale = math.sqrt(fits_pixels / (width * height))
    long_side = int(max(width, height) * scale) // 16 * 16
    limit = headroom.cgroup_limit
    where = f" under this cgroup's {_gb(limit)} memory limit" if limit is not None else ""
    raise UserError(
        f"{what} at {width}x{height} needs about {_gb(needed)} of memory, "
        f"{_gb(available)} is available{where}; {fix} {long_side} or less"
        if long_side >= 16
        else f"{what} needs about {_gb(needed)} of memory, {_gb(available)} is "
        f"available{where}; free some memory"
    )
