"""A video file played back like a live camera (``--camera FILE``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from realtime.core.errors import UserError
from realtime.live.source import FrameSource


class FileCamera(FrameSource):
    """A video file played like a live camera: each frame appears at its own timestamp.

    Decoding runs ahead of nothing: a frame is decoded, then held until its time comes, so a
    slow consumer sees the same drops it would see from a camera. The file plays once.
    """

    def __init__(self, path: Path) -> None:
        from realtime.media.video_source import VideoFileSource

        super().__init__(stall_timeout=0.0)  # a file cannot stall; it ends
        self.path = Path(path)
        self.label = str(self.path)
        self._source = VideoFileSource(self.path)
        info = self._source.info
        self.width, self.height = info.width, info.height
        self.fps = float(info.rate)
        self._time_base = info.time_base

    def _run(self) -> None:
        try:
            self._play(self._source.frames())
        except UserError as exc:
            self._slot.finish(exc)
            return
        except Exception as exc:  # noqa: BLE001 - any decoder failure ends the "camera"
            self._slot.finish(UserError(f"{self.label}: decoding failed ({exc}); re-encode it"))
            return
        if self._source.damaged:
            self.notices.append(f"{self.label}: {self._source.damaged}")
        self._slot.finish()

    def _play(self, frames: Iterator) -> None:
        start = time.perf_counter()
        first_pts: int | None = None
        for frame in frames:
            if self._stop.is_set():
                return
            if frame.pts is not None:
                first_pts = frame.pts if first_pts is None else first_pts
                due = start + float((frame.pts - first_pts) * self._time_base)
            else:
                due = start + frame.index / self.fps
            wait = due - time.perf_counter()
            if wait > 0 and self._stop.wait(wait):
                return
            self._slot.publish(frame.image, time.perf_counter())

    def _release(self) -> None:
        self._source.close()
