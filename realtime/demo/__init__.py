"""A short clip to try the program on with nothing else at hand (``realtime demo``).

``realshort.mp4``: 36 frames of 320x240 H.264 at 45000/1499 fps with AAC sound, from
ImageIO's standard media (https://github.com/imageio/imageio-binaries), which ImageIO's
documentation lists as public domain.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

CLIP_NAME = "realshort.mp4"


def demo_clip() -> Path:
    """The bundled clip's path on the file system."""
    clip = importlib.resources.files(__name__) / CLIP_NAME
    if not isinstance(clip, Path):  # a zipped install: FFmpeg needs a real file
        raise RuntimeError(f"{CLIP_NAME} is not on the file system; install realtime unzipped")
    return clip
