"""Live frame sources for ``realtime webcam``: a camera (or network stream) through OpenCV, or a
video file played back like a camera.

Latest frame wins: a reader thread pulls frames as fast as the source delivers them and keeps
only the newest one in a one-slot mailbox (``LatestFrame``). A consumer slower than the source
gets the newest frame each time it asks; the frames in between are dropped, never queued, so
the delay between capture and output cannot grow.

Policy when a source fails:

- It cannot be opened (no such device, no permission, busy, unreachable URL): ``UserError`` at
  once, before any work.
- It opens but delivers no first frame within ``first_frame_timeout`` (typical of a camera that
  another program holds): ``UserError``.
- It stops delivering while running (unplugged, stream dropped): the reader reopens it every
  half second for up to ``reconnect`` seconds; if it comes back the run continues, otherwise the
  next ``wait_newer`` raises ``CameraLost`` (exit code 2). A read that hangs instead of failing
  counts the same way, measured from the last frame.
- A video file ends: the source is ``finished`` and the run ends normally. Files are played
  once, not looped.
"""

from __future__ import annotations

from pathlib import Path

from realtime.core.config import DEFAULT_RECONNECT
from realtime.core.errors import UserError
from realtime.live.file_camera import FileCamera
from realtime.live.opencv_camera import OpenCVCamera
from realtime.live.source import CameraSpec, FrameSource


def parse_camera(text: str) -> CameraSpec:
    """``0`` -> device index, ``/dev/video2`` -> device, ``rtsp://...`` -> URL, else a file."""
    text = text.strip()
    if not text:
        raise UserError("empty --camera; give a device index (0), /dev/videoN, a URL or a file")
    if text.isdigit():
        return CameraSpec("index", str(int(text)))
    if "://" in text:
        return CameraSpec("url", text)
    if text.startswith("/dev/"):
        return CameraSpec("device", text)
    path = Path(text).expanduser()
    if path.is_file():
        return CameraSpec("file", str(path))
    if path.exists():
        raise UserError(f"--camera {text} is not a file or a device; give a video file or index")
    raise UserError(
        f"--camera {text}: no such file or device; give a device index (0, 1, ...), "
        "/dev/videoN, a stream URL (rtsp://...) or a video file"
    )


def open_camera(
    spec: CameraSpec,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    reconnect: float = DEFAULT_RECONNECT,
) -> FrameSource:
    """Open what ``--camera`` names. Width, height and fps are requests to a camera; a video
    file plays at its own size and rate (a notice says so when they were given)."""
    for name, value in (("--width", width), ("--height", height), ("--fps", fps)):
        if value is not None and value <= 0:
            raise UserError(f"{name} must be positive, got {value}")
    if spec.kind == "file":
        source = FileCamera(Path(spec.value))
        if width or height or fps:
            source.notices.append(
                f"{spec.value} is a video file: it plays at its own size and rate "
                f"({source.width}x{source.height}, {source.fps:g} fps); --width/--height/--fps "
                "apply to cameras"
            )
        return source
    return OpenCVCamera(spec, width, height, fps, reconnect)
