"""A camera device or network stream read with OpenCV in a thread (``realtime.live.source``
has the latest-frame policy and what a lost camera raises)."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from realtime.core.config import DEFAULT_RECONNECT
from realtime.core.errors import UserError
from realtime.live.source import CameraLost, CameraSpec, FrameSource

log = logging.getLogger(__name__)

DEFAULT_FIRST_FRAME_TIMEOUT = 5.0  # seconds an opened camera gets to deliver its first frame
_RETRY_EVERY = 0.5  # seconds between reopen attempts
_URL_TIMEOUT_MS = 5000  # OpenCV/FFmpeg open and read timeouts for network streams


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


def check_device_exists(spec: CameraSpec) -> None:
    """A camera that is not there fails in one line, before a network is loaded for it."""
    if spec.kind == "index" and sys.platform.startswith("linux"):
        node = Path(f"/dev/video{spec.value}")
        if not node.exists():
            raise UserError(
                f"no camera {spec.value}: {node} does not exist; connect a camera, list "
                "them with 'ls /dev/video*', or give a video file as --camera"
            )
    if spec.kind == "device" and not Path(spec.value).exists():
        raise UserError(f"camera device {spec.value} does not exist; list them with ls /dev")


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
        check_device_exists(self.spec)
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
