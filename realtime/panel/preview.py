"""The panel's live preview: the newest output frame as a small JPEG, encoded at most once per
frame and at most ``fps`` times a second however many tabs watch it, so the preview costs the
live loop a bounded share of the CPU. Watchers get the newest picture, never a queue, so a slow
or vanished client holds no frames in memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

PREVIEW_WIDTH = 480  # the panel shows it at about this size
PREVIEW_FPS = 8.0  # enough to judge the look; each frame costs a JPEG encode
JPEG_QUALITY = 80
MAX_WATCHERS = 4  # preview streams at once; more are refused with a message


class Preview:
    """Hands out the newest frame of ``frames()`` ((its number, the frame)) as JPEG bytes."""

    def __init__(
        self,
        frames: Callable[[], tuple[int, np.ndarray | None]],
        width: int = PREVIEW_WIDTH,
        fps: float = PREVIEW_FPS,
    ) -> None:
        self._frames, self.width, self.interval = frames, width, 1.0 / fps
        self._lock = threading.Lock()
        self._frame_id: int | None = None
        self._jpeg: bytes | None = None
        self._encoded_at = 0.0
        self.watchers = 0

    def jpeg(self) -> bytes | None:
        """The newest frame as JPEG (None before the first frame)."""
        with self._lock:
            number, frame = self._frames()
            if frame is None:
                return self._jpeg
            now = time.perf_counter()
            fresh = number != self._frame_id
            if self._jpeg is None or (fresh and now - self._encoded_at >= self.interval):
                self._jpeg = encode_jpeg(frame, self.width)
                self._frame_id, self._encoded_at = number, now
            return self._jpeg


def encode_jpeg(frame: np.ndarray, width: int) -> bytes:
    """An RGB frame scaled down to ``width`` (never up) as JPEG bytes."""
    height, frame_width = frame.shape[:2]
    if frame_width > width:
        size = (width, max(1, round(height * width / frame_width)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return data.tobytes()
