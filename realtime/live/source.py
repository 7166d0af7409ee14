"""The live frame source's mechanism: a reader thread publishing into a one-slot mailbox
(latest frame wins), and what a source that stops delivering raises. The cameras themselves are
``opencv_camera`` and ``file_camera``; ``camera`` opens the one ``--camera`` names."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from realtime.core.errors import UserError


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
