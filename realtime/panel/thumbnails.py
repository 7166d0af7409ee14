"""The gallery's thumbnails: the painting itself where the style's card carries a thumbnail of
it (``style_image.thumbnail``, base64 JPEG: a style added from the panel keeps the painting it
was given), else a swatch, the demo clip's first frame painted by the style's own network, so
every style shows what it does. Made once per style, on the CPU, off the frame loop."""

from __future__ import annotations

import base64
import binascii
import threading

import cv2
import numpy as np

from realtime.app.build import open_stylizer
from realtime.app.live import LiveSession
from realtime.core.config import EngineConfig
from realtime.core.errors import UserError
from realtime.demo import demo_clip
from realtime.media.video_source import VideoFileSource
from realtime.panel.preview import encode_jpeg
from realtime.runtime.styles import resolve_style

THUMBNAIL_WIDTH = 160
# One thread: a swatch must not take the cores the live network runs on.
_SWATCH_ENGINE = EngineConfig(device="cpu", threads=1)


class Thumbnails:
    def __init__(self, session: LiveSession) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._cache: dict[str, bytes] = {}
        self._content: np.ndarray | None = None

    def jpeg(self, name: str) -> bytes | None:
        """The thumbnail of ``name``, a style of this run; None for any other name."""
        if name not in self.session.state().styles:
            return None
        with self._lock:
            if name not in self._cache:
                self._cache[name] = self._from_card(name) or self._swatch(name)
            return self._cache[name]

    def _lite(self) -> bool:
        return self.session.state().arch == "lite"

    def _from_card(self, name: str) -> bytes | None:
        try:
            entry = resolve_style(name, _SWATCH_ENGINE, None, self._lite())
        except UserError:
            return None
        image = (entry.card or {}).get("style_image") or {}
        encoded = image.get("thumbnail") if isinstance(image, dict) else None
        if not isinstance(encoded, str):
            return None
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return None

    def _swatch(self, name: str) -> bytes:
        stylizer, _ = open_stylizer(name, _SWATCH_ENGINE, None, announce=False, lite=self._lite())
        return encode_jpeg(stylizer(self._content_frame()), THUMBNAIL_WIDTH)

    def _content_frame(self) -> np.ndarray:
        if self._content is None:
            with VideoFileSource(demo_clip()) as source:
                frame = next(iter(source.frames())).image
            height, width = frame.shape[:2]
            size = (THUMBNAIL_WIDTH, round(height * THUMBNAIL_WIDTH / width))
            self._content = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        return self._content
