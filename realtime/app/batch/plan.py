"""A long video cut into segments that workers stylize in parallel, without seams.

Segments start at keyframes (a decoder can start there) about every ``seconds``. The temporal
stage carries state from frame to frame, so a worker first runs the ``warmup`` frames before
its segment through the network and the stage and discards them: by the segment's first frame
the stage has the history it would have had in one pass (with strength 0.7 a frame's weight
falls below 1% after 13 frames; docs/CLUSTER.md measures the seam).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction

from realtime.media.video_source import FrameIndex

DEFAULT_WARMUP_FRAMES = 30


@dataclass(frozen=True)
class Segment:
    index: int
    start_pts: int  # its first frame
    end_pts: int | None  # the next segment's first frame; None: to the end
    warmup_pts: int  # the first frame run through the network (earlier ones are skipped)
    decode_pts: int  # the keyframe the decoder starts at
    frames: int  # frames it writes
    start_seconds: float = 0.0  # its first frame's time, for messages

    @property
    def warmup(self) -> bool:
        return self.warmup_pts < self.start_pts


def plan_segments(
    index: FrameIndex, seconds: float, warmup: int = DEFAULT_WARMUP_FRAMES
) -> list[Segment]:
    """Segments of about ``seconds`` each, cut at keyframes; one segment when it is short."""
    pts = list(index.pts)
    if not pts:
        return []
    step = int(Fraction(seconds) / index.time_base)
    keys = [k for k in index.keyframes if k > pts[0]]
    starts = [pts[0]]
    for key in keys:
        if key - starts[-1] >= step and bisect.bisect_left(pts, key) < len(pts):
            starts.append(key)
    segments = []
    for number, start in enumerate(starts):
        first = bisect.bisect_left(pts, start)
        end = starts[number + 1] if number + 1 < len(starts) else None
        last = bisect.bisect_left(pts, end) if end is not None else len(pts)
        warm = pts[max(0, first - warmup)] if number else start
        decode = max((k for k in index.keyframes if k <= warm), default=pts[0])
        seconds_in = float((start - pts[0]) * index.time_base)
        segments.append(Segment(number, start, end, warm, decode, last - first, seconds_in))
    return segments
