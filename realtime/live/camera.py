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

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.core.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_RECONNECT = 5.0  # seconds a lost camera is retried before the run gives up
DEFAULT_FIRST_FRAME_TIMEOUT = 5.0  # seconds an opened camera gets to deliver its first frame
_RETRY_EVERY = 0.5  # seconds between reopen attempts
_URL_TIMEOUT_MS = 5000  # OpenCV/FFmpeg open and read timeouts for network streams


class CameraLost(UserError):
    """A camera that was delivering frames stopped and did not come back in time."""


@dataclass(frozen=True)
class Captured:
    image: np.ndarray  # uint8 (H, W, 3) RGB
    captured_at: float  # time.perf_counter() when the frame left the source
    seq: int  # 1, 2, 3, ... in arrival order: a gap between two taken frames = frames dropped


@dataclass(frozen=True)
class CameraSpec:
    """What ``--camera`` names: a device index, a device path, a URL, or a video file."""

    kind: str  # "index", "device", "url" or "file"
    value: str

    @property
    def label(self) -> str:
        return f"camera {self.value}" if self.kind == "index" else self.value


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


def capture_backends(platform: str = sys.platform) -> list[tuple[int, str]]:
    """The OpenCV capture backends for local cameras on this OS, in the order to try them.

    The automatic choice (CAP_ANY) is not used: on Windows it may pick a backend that opens a
    camera for seconds, and on Linux it may pick GStreamer, which ignores the buffer size.
    """
    if platform.startswith("linux"):
        return [(cv2.CAP_V4L2, "V4L2")]
    if platform == "win32":
        # DirectShow opens fast and honours MJPG; Media Foundation is the modern API and the
        # only one some cameras support, so it comes second (and is announced when used).
        return [(cv2.CAP_DSHOW, "DirectShow"), (cv2.CAP_MSMF, "Media Foundation")]
    if platform == "darwin":
        return [(cv2.CAP_AVFOUNDATION, "AVFoundation")]
    return [(cv2.CAP_ANY, "OpenCV default")]


class LatestFrame:
    """A one-slot mailbox between a producer thread and a consumer: publishing overwrites.

    ``published`` counts every frame put in; a consumer that takes frames ``seq`` a and b
    missed ``b - a - 1`` frames in between.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._raw: object = None
        self._captured_at = 0.0
        self.published = 0
        self.last_publish: float | None = None
        self._finished = False
        self._error: UserError | None = None

    def publish(self, raw: object, captured_at: float) -> None:
        with self._cond:
            self._raw = raw
            self._captured_at = captured_at
            self.published += 1
            self.last_publish = captured_at
            self._cond.notify_all()

    def finish(self, error: UserError | None = None) -> None:
        """No more frames will come: the source ended, or failed with ``error``."""
        with self._cond:
            self._finished = True
            self._error = error
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        return self._finished

    def wait_newer(self, after_seq: int, timeout: float) -> tuple[object, float, int] | None:
        """``(raw, captured_at, seq)`` of the newest frame if its seq is above ``after_seq``,
        waiting up to ``timeout`` for one; None when none came. Raises the source's error."""
        deadline = time.perf_counter() + timeout
        with self._cond:
            while self.published <= after_seq:
                if self._error is not None:
                    raise self._error
                if self._finished:
                    return None
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._raw, self._captured_at, self.published


class FrameSource:
    """A live source: ``start()`` the reader, then ``wait_newer()`` for the newest frame."""

    label: str
    width: int
    height: int
    fps: float  # nominal rate (what the source says it delivers)

    def __init__(self, stall_timeout: float) -> None:
        self._slot = LatestFrame()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stall_timeout = stall_timeout
        self.notices: list[str] = []

    @property
    def published(self) -> int:
        """Frames the source delivered so far (taken or dropped)."""
        return self._slot.published

    @property
    def finished(self) -> bool:
        """True when a video file has played to its end and its last frame was taken."""
        return self._slot.finished

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("FrameSource.start() called twice")
        self._started_at = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name=f"read {self.label}", daemon=True)
        self._thread.start()

    def wait_newer(self, after_seq: int, timeout: float) -> Captured | None:
        """The newest frame after ``after_seq``, or None if none arrives within ``timeout``
        (check ``finished``). Raises CameraLost when the source stopped delivering."""
        if self._thread is None:
            raise RuntimeError("call start() before wait_newer()")
        got = self._slot.wait_newer(after_seq, timeout)
        if got is None:
            self._check_stalled()
            return None
        raw, captured_at, seq = got
        return Captured(self._to_rgb(raw), captured_at, seq)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            # A camera read can block for seconds inside the driver; the thread is a daemon,
            # so do not wait for it longer than a moment.
            self._thread.join(timeout=1.0)
        self._release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- for subclasses -----------------------------------------------------------------

    def _run(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Free the device or file (called once the reader is told to stop)."""

    def _to_rgb(self, raw: object) -> np.ndarray:
        # Conversion happens on the consumer's side: dropped frames are never converted.
        return raw  # type: ignore[return-value]

    def _check_stalled(self) -> None:
        if self._slot.finished or self._stall_timeout <= 0:
            return
        last = self._slot.last_publish or self._started_at
        silent = time.perf_counter() - last
        if silent > self._stall_timeout:
            raise CameraLost(
                f"{self.label} delivered no frame for {silent:.1f} s; check that it is "
                "connected and not used by another program, then start again"
            )


class OpenCVCamera(FrameSource):
    """A camera device or a network stream, read with OpenCV in a thread."""

    def __init__(
        self,
        spec: CameraSpec,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        reconnect: float = DEFAULT_RECONNECT,
        first_frame_timeout: float = DEFAULT_FIRST_FRAME_TIMEOUT,
    ) -> None:
        if spec.kind not in ("index", "device", "url"):
            raise ValueError(f"OpenCVCamera cannot read a {spec.kind}")
        if reconnect < 0:
            raise UserError(f"--reconnect must be 0 or more seconds, got {reconnect}")
        # A hanging read is given the reconnect window plus the time a reopen may take.
        super().__init__(stall_timeout=reconnect + first_frame_timeout)
        self.spec = spec
        self.label = spec.label
        self._requested = (width, height, fps)
        self._reconnect = reconnect
        self._first_frame_timeout = first_frame_timeout
        self._backend_name = ""
        self._cap = self._open_or_explain()
        first = self._first_frame(self._cap)
        self.height, self.width = first.shape[:2]
        reported = self._cap.get(cv2.CAP_PROP_FPS)
        # Cameras and streams may report 0 (unknown): then what was asked, else a common rate.
        self.fps = float(reported) if reported and reported > 0 else float(fps or 30.0)
        self._check_negotiated(reported)

    # -- opening ------------------------------------------------------------------------

    def _open_or_explain(self) -> cv2.VideoCapture:
        spec = self.spec
        if spec.kind == "index" and sys.platform.startswith("linux"):
            node = Path(f"/dev/video{spec.value}")
            if not node.exists():
                raise UserError(
                    f"no camera {spec.value}: {node} does not exist; connect a camera, list "
                    "them with 'ls /dev/video*', or give a video file as --camera"
                )
        if spec.kind == "device" and not Path(spec.value).exists():
            raise UserError(f"camera device {spec.value} does not exist; list them with ls /dev")
        cap = self._open()
        if cap is None:
            raise UserError(self._open_failure())
        return cap

    def _open(self) -> cv2.VideoCapture | None:
        """One attempt to open and configure the source; None if it cannot be opened."""
        spec = self.spec
        with _quiet_opencv():
            if spec.kind == "url":
                params = [
                    cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                    _URL_TIMEOUT_MS,
                    cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                    _URL_TIMEOUT_MS,
                ]
                cap = cv2.VideoCapture(spec.value, cv2.CAP_FFMPEG, params)
                self._backend_name = "FFmpeg"
                if cap.isOpened():
                    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
                    return cap
                cap.release()
                return None
            source: int | str = int(spec.value) if spec.kind == "index" else spec.value
            for i, (api, name) in enumerate(capture_backends()):
                cap = cv2.VideoCapture(source, api)
                if cap.isOpened():
                    if i > 0 and name != self._backend_name:
                        self.notices.append(f"{self.label}: opened with {name}")
                    self._backend_name = name
                    self._configure(cap)
                    return cap
                cap.release()
        return None

    def _configure(self, cap: cv2.VideoCapture) -> None:
        width, height, fps = self._requested
        # MJPG first: most USB cameras deliver HD at full rate only compressed (raw YUYV
        # at 1280x720 fits about 10 fps through USB 2). Then size and rate, as drivers
        # choose the mode from the format.
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        # One buffered frame: older frames would only add latency (the reader thread
        # already keeps the newest one).
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def _open_failure(self) -> str:
        spec = self.spec
        if spec.kind == "url":
            return (
                f"cannot open stream {spec.value} (unreachable, wrong URL or unsupported "
                f"protocol; waited up to {_URL_TIMEOUT_MS / 1000:.0f} s); check the URL plays "
                "in a media player"
            )
        backends = " or ".join(name for _, name in capture_backends())
        hint = {
            "linux": "check it is not used by another program (fuser /dev/video*) and that "
            "you may read it (group 'video')",
            "darwin": "allow camera access for your terminal in System Settings > Privacy & "
            "Security > Camera, and close other programs using it",
            "win32": "close other programs using it and allow camera access in Settings > "
            "Privacy > Camera",
        }.get("linux" if sys.platform.startswith("linux") else sys.platform, "check it")
        return f"cannot open {self.label} with {backends}; {hint}"

    def _first_frame(self, cap: cv2.VideoCapture) -> np.ndarray:
        deadline = time.perf_counter() + self._first_frame_timeout
        while True:
            ok, frame = cap.read()
            if ok and frame is not None and frame.size:
                return _as_bgr(frame)
            if time.perf_counter() >= deadline:
                cap.release()
                raise UserError(
                    f"{self.label} opened but delivered no frame within "
                    f"{self._first_frame_timeout:.0f} s; it may be in use by another program "
                    "(close it) or not be a capture device"
                )
            time.sleep(0.05)

    def _check_negotiated(self, reported_fps: float) -> None:
        width, height, fps = self._requested
        if (width and width != self.width) or (height and height != self.height):
            self.notices.append(
                f"{self.label} delivers {self.width}x{self.height}, not the "
                f"{width or self.width}x{height or self.height} asked for (it has no such mode)"
            )
        if fps and reported_fps and abs(reported_fps - fps) > 0.5:
            self.notices.append(
                f"{self.label} runs at {reported_fps:g} fps, not the {fps:g} fps asked for"
            )

    # -- reading ------------------------------------------------------------------------

    def _run(self) -> None:
        cap = self._cap
        while not self._stop.is_set():
            ok, frame = cap.read()
            now = time.perf_counter()
            if self._stop.is_set():
                return
            if ok and frame is not None and frame.size:
                self._slot.publish(frame, now)
                continue
            reopened = self._reopen()
            if reopened is None:
                if not self._stop.is_set():
                    self._slot.finish(
                        CameraLost(
                            f"{self.label} stopped delivering frames and could not be reopened "
                            f"within {self._reconnect:g} s; reconnect it and start again "
                            "(--reconnect sets how long to retry)"
                        )
                    )
                return
            cap = self._cap = reopened

    def _reopen(self) -> cv2.VideoCapture | None:
        with contextlib.suppress(cv2.error):
            self._cap.release()
        log.warning("%s stopped delivering frames; retrying for %g s", self.label, self._reconnect)
        deadline = time.perf_counter() + self._reconnect
        while not self._stop.is_set():
            cap = self._open()
            if cap is not None:
                ok, frame = cap.read()
                if ok and frame is not None and frame.size:
                    self._slot.publish(frame, time.perf_counter())
                    log.info("%s is back", self.label)
                    return cap
                cap.release()
            if time.perf_counter() + _RETRY_EVERY > deadline:
                return None
            self._stop.wait(_RETRY_EVERY)
        return None

    def _to_rgb(self, raw: object) -> np.ndarray:
        image = _as_bgr(raw)  # type: ignore[arg-type]
        if image.shape[:2] != (self.height, self.width):
            # A camera that came back in another mode: keep the size the outputs were made for.
            image = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def _release(self) -> None:
        with contextlib.suppress(cv2.error):
            self._cap.release()


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


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    """OpenCV may hand out grey or BGRA frames for some formats: make them 3-channel BGR."""
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV prints its own warnings while probing devices; our message says it better."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(previous)
