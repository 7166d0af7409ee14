"""Where live frames go: a window, a virtual camera, an MPEG-TS stream, a recording.

Every output takes uint8 (H, W, 3) RGB frames of the size it was opened with, and a
timestamp in ``time.perf_counter()`` seconds (the frame's capture time), from which the
encoded outputs derive wall-clock presentation times: the stylizer's rate varies, so frame
counting would play back at the wrong speed.

All outputs are written from the live loop's (main) thread: OpenCV's window must be driven
from the main thread on macOS, and one thread keeps the encoders' timestamps in order.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from realtime.core.config import EncodeConfig
from realtime.core.errors import UserError
from realtime.core.files import (
    check_output_folder,
    disk_full_error,
    human_bytes,
    partial_path,
    temporary_path,
)
from realtime.media.video_sink import container_format

# 90 kHz: MPEG-TS's own clock, fine enough for wall-clock timestamps in MP4 too.
TIME_BASE = Fraction(1, 90000)
STREAM_SCHEMES = ("udp", "srt")
STREAM_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
# MPEG-TS over UDP: 7 TS packets of 188 bytes per datagram fit an Ethernet MTU.
_TS_PACKET_SIZE = 1316


class LiveOutput(Protocol):
    """One destination of the live stream."""

    name: str
    # Whether the output keeps getting the frozen frame while the stream is paused (a
    # virtual camera or stream consumer would otherwise show "no signal"; a recording
    # simply has no frames for that time).
    holds_while_paused: bool

    def write(self, frame: np.ndarray, timestamp: float) -> None: ...

    def close(self, complete: bool = True) -> str:
        """Finish the output; returns a line for the summary."""
        ...


class _WallClock:
    """perf_counter seconds -> strictly increasing pts in TIME_BASE, starting at 0."""

    def __init__(self) -> None:
        self._origin: float | None = None
        self._last = -1

    def pts(self, timestamp: float) -> int:
        if self._origin is None:
            self._origin = timestamp
        pts = max(round((timestamp - self._origin) / TIME_BASE), self._last + 1)
        self._last = pts
        return pts


# -- window -------------------------------------------------------------------------------


def check_window_support() -> None:
    """Fail with a clear message before any work when no window can be shown."""
    info = cv2.getBuildInformation()
    gui = next((line for line in info.splitlines() if line.strip().startswith("GUI:")), "")
    if "NONE" in gui.upper():
        raise UserError(
            "this OpenCV has no window support (opencv-python-headless?); install "
            "opencv-python, or use --no-window with --vcam, --stream or --record"
        )
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        # Checked here because OpenCV's Qt backend aborts the whole process without a display.
        raise UserError(
            "no display to open a window on (DISPLAY is not set); use --no-window with "
            "--vcam, --stream or --record, or run inside a desktop session"
        )


class WindowOutput:
    """An OpenCV highgui window with a text overlay; also the source of hotkeys."""

    name = "window"
    holds_while_paused = True

    def __init__(self, title: str, width: int, height: int) -> None:
        check_window_support()
        self.title = title
        self.width, self.height = width, height
        self.overlay: list[str] = []
        self.frames_shown = 0
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
            cv2.resizeWindow(title, width, height)
        except cv2.error as exc:
            raise UserError(
                f"cannot open a window ({_first_line(exc)}); use --no-window with --vcam, "
                "--stream or --record"
            ) from exc
        self._opened = True

    def write(self, frame: np.ndarray, timestamp: float) -> None:
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        draw_overlay(bgr, self.overlay)
        cv2.imshow(self.title, bgr)
        self.frames_shown += 1

    def poll_key(self, wait_ms: int = 1) -> int | None:
        """Pump window events for ``wait_ms`` and return the key pressed, if any."""
        key = cv2.waitKey(max(1, wait_ms))
        return None if key == -1 else key & 0xFF

    @property
    def closed(self) -> bool:
        """True once the user closed the window with its close button."""
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self, complete: bool = True) -> str:
        if self._opened:
            self._opened = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # let the GUI process the destruction
            except cv2.error:
                pass  # already closed by the user
        return f"window: {self.frames_shown} frames shown"


# The overlay's box keeps this share of the picture's brightness: dark enough for white text
# on a white frame, light enough to still see what is behind it.
OVERLAY_BOX_KEEP = 0.3
_OVERLAY_FONT = cv2.FONT_HERSHEY_SIMPLEX


def overlay_layout(width: int, lines: list[str]) -> tuple[float, int, int, int, int]:
    """(font scale, thickness, line height, box width, box height) for ``lines``."""
    scale = max(0.4, min(width, 1280) / 1600)
    thickness = 1 if scale < 0.7 else 2
    sizes = [cv2.getTextSize(text, _OVERLAY_FONT, scale, thickness) for text in lines]
    line_height = max((h + base for (_, h), base in sizes), default=0) + 6
    box_width = max((w for (w, _), _ in sizes), default=0) + 12
    return scale, thickness, line_height, box_width, line_height * len(lines) + 6


def draw_overlay(bgr: np.ndarray, lines: list[str]) -> None:
    """Text lines in the top-left corner: one white pass over a darkened box.

    One text rendering only: a dark outline drawn as a second, thicker pass does not line up
    with the thin text on top (OpenCV 5 advances thick and thin glyphs differently), which
    made the lines unreadable. The box makes white text legible on any background.
    """
    if not lines:
        return
    scale, thickness, line_height, box_w, box_h = overlay_layout(bgr.shape[1], lines)
    x0, y0 = 4, 4
    box = bgr[y0 : y0 + box_h, x0 : x0 + box_w]
    cv2.convertScaleAbs(box, dst=box, alpha=OVERLAY_BOX_KEEP)
    for i, text in enumerate(lines):
        baseline_y = y0 + 3 + line_height * (i + 1) - 6
        cv2.putText(
            bgr,
            text,
            (x0 + 6, baseline_y),
            _OVERLAY_FONT,
            scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )


# -- virtual camera ---------------------------------------------------------------------------


def import_pyvirtualcam() -> Any:
    try:
        import pyvirtualcam
    except ImportError as exc:
        raise UserError(
            "--vcam needs pyvirtualcam: pip install 'realtime[vcam]' (or pip install pyvirtualcam)"
        ) from exc
    return pyvirtualcam


def _vcam_install_hint(backend: str | None) -> str:
    if sys.platform.startswith("linux") or backend == "v4l2loopback":
        return (
            "install v4l2loopback (e.g. apt install v4l2loopback-dkms) and load it: sudo "
            "modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=realtime "
            "(see docs/OBS.md)"
        )
    return (
        "install OBS Studio 30 or newer and start its virtual camera once (Start Virtual "
        "Camera, then Stop), and make sure no other program is sending to it (see docs/OBS.md)"
    )


class VirtualCameraOutput:
    """Frames to a virtual camera through pyvirtualcam (OBS Virtual Camera, v4l2loopback)."""

    name = "virtual camera"
    holds_while_paused = True

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        backend: str | None = None,
        device: str | None = None,
    ) -> None:
        pyvirtualcam = import_pyvirtualcam()
        registered = sorted(pyvirtualcam.camera.BACKENDS)
        if backend is not None and backend not in registered:
            raise UserError(
                f"unknown --vcam-backend {backend!r}; this system has: "
                f"{', '.join(registered) or 'none'}"
            )
        if not registered:
            raise UserError(f"pyvirtualcam has no backend on {sys.platform}")
        try:
            self._camera = pyvirtualcam.Camera(
                width=width,
                height=height,
                fps=fps,
                fmt=pyvirtualcam.PixelFormat.RGB,
                device=device,
                backend=backend,
            )
        except RuntimeError as exc:
            raise UserError(
                f"no virtual camera available ({_first_line(exc)}); {_vcam_install_hint(backend)}"
            ) from exc
        self.device = self._camera.device
        self.backend = self._camera.backend
        self.frames_sent = 0

    def write(self, frame: np.ndarray, timestamp: float) -> None:
        self._camera.send(frame)
        self.frames_sent += 1

    def close(self, complete: bool = True) -> str:
        self._camera.close()
        return f"virtual camera: {self.frames_sent} frames to {self.device} ({self.backend})"


# -- MPEG-TS stream ---------------------------------------------------------------------------


def check_stream_url(url: str) -> str:
    """Validate ``--stream`` and return the URL the muxer opens (UDP packet size added)."""
    import av

    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in STREAM_SCHEMES:
        raise UserError(
            f"--stream {url}: use udp://HOST:PORT or srt://HOST:PORT (MPEG-TS for OBS's "
            "Media Source)"
        )
    try:
        port = parsed.port
    except ValueError:
        port = None
    if not port:
        raise UserError(f"--stream {url} has no port; write it as {parsed.scheme}://HOST:PORT")
    if "mpegts" not in av.formats_available:
        raise UserError(
            "this PyAV's FFmpeg has no MPEG-TS muxer; install PyAV from PyPI (pip install av)"
        )
    if parsed.scheme == "udp":
        query = urllib.parse.parse_qs(parsed.query)
        if "pkt_size" not in query:
            extra = f"pkt_size={_TS_PACKET_SIZE}"
            parsed = parsed._replace(query=f"{parsed.query}&{extra}" if parsed.query else extra)
    return urllib.parse.urlunsplit(parsed)


class StreamOutput:
    """H.264 in MPEG-TS over UDP or SRT, tuned for latency: OBS Media Source reads it.

    x264 with tune=zerolatency (no frame lookahead, no B-frames: a frame leaves the encoder
    as soon as it went in), a keyframe at least every second and SPS/PPS repeated before each,
    so a player that joins late starts within a second. The bit rate is capped (VBV), since
    a UDP receiver loses packets on bursts rather than waiting for them.
    """

    holds_while_paused = True

    def __init__(
        self,
        url: str,
        width: int,
        height: int,
        fps: float,
        bitrate_kbps: int = 4000,
        preset: str = "ultrafast",
        keyframe_seconds: float = 1.0,
    ) -> None:
        import av
        import av.error

        self.url = url
        self.name = f"stream {url}"
        if preset not in STREAM_PRESETS:
            raise UserError(
                f"unknown --stream-preset {preset!r}; use one of {', '.join(STREAM_PRESETS)}"
            )
        if bitrate_kbps < 100:
            raise UserError(f"--stream-bitrate {bitrate_kbps} is too low; use at least 100 kbit/s")
        target = check_stream_url(url)
        scheme = urllib.parse.urlsplit(url).scheme
        # yuv420p needs even sides; the stream is padded by a pixel rather than refused.
        self._pad = (height % 2, width % 2)
        self.width, self.height = width, height
        self.frames_sent = 0
        self._clock = _WallClock()
        self._keyframe_ticks = round(keyframe_seconds / TIME_BASE)
        self._last_key: int | None = None
        if "libx264" not in av.codecs_available:
            raise UserError("this PyAV has no libx264; install PyAV from PyPI (pip install av)")
        self._container = av.open(target, "w", format="mpegts")
        try:
            gop = max(1, round(fps * keyframe_seconds))
            options = {
                "preset": preset,
                "tune": "zerolatency",
                "bf": "0",
                "g": str(gop),
                "maxrate": f"{bitrate_kbps}k",
                "bufsize": f"{bitrate_kbps // 2}k",  # half a second of VBV: short bursts only
                "x264-params": "repeat-headers=1:scenecut=0",
            }
            stream = self._container.add_stream("libx264", rate=_rate(fps), options=options)
            stream.width, stream.height = width + self._pad[1], height + self._pad[0]
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = TIME_BASE
            stream.time_base = TIME_BASE
            self._stream = stream
            # Open the network side now, so a bad URL or missing protocol fails before the
            # loop starts rather than at the first frame.
            self._container.start_encoding()
        except av.error.ProtocolNotFoundError as exc:
            self._container.close()
            raise UserError(
                f"this PyAV's FFmpeg has no {scheme} protocol; use udp://HOST:PORT, or install "
                f"a PyAV built against an FFmpeg with {scheme} support"
            ) from exc
        except (av.error.FFmpegError, OSError) as exc:
            self._container.close()
            raise UserError(
                f"cannot start the stream to {url} ({_first_line(exc)}); check the address "
                "(and for srt:// that the other side is listening)"
            ) from exc

    def write(self, frame: np.ndarray, timestamp: float) -> None:
        import av

        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        video = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video = video.reformat(format="yuv420p")
        video.pts = self._clock.pts(timestamp)
        video.time_base = TIME_BASE
        # Frames arrive at an uneven rate (drops), so the GOP in frames is not a GOP in time:
        # force a keyframe by the clock as well, which bounds a late joiner's wait.
        if self._last_key is None or video.pts - self._last_key >= self._keyframe_ticks:
            video.pict_type = av.video.frame.PictureType.I
            self._last_key = video.pts
        self._container.mux(self._stream.encode(video))
        self.frames_sent += 1

    def close(self, complete: bool = True) -> str:
        import av.error

        try:
            self._container.mux(self._stream.encode(None))
        except (av.error.FFmpegError, OSError):
            pass  # the receiver went away: nothing left to deliver to
        finally:
            self._container.close()
        return f"stream: {self.frames_sent} frames to {self.url}"


# -- recording --------------------------------------------------------------------------------


def check_record_path(path: Path) -> None:
    """Cheap checks on ``--record``, before the model and camera are opened."""
    if not path.suffix:
        raise UserError(f"--record {path} has no suffix; name it e.g. live.mp4 or live.mkv")
    check_output_folder(path, what="--record")
    container_format(path)


class RecordingOutput:
    """The stylized stream to a file, written as ``NAME.incomplete.EXT`` until it is closed.

    Stopping a live run (q, Ctrl-C, --duration, the end of a video file, a lost camera) is
    its normal end, so the recording then gets its final name. Only when the run dies of an
    unexpected error is it finalised as ``NAME.partial.EXT`` instead: still playable, but
    named so that nothing takes it for a finished recording.
    """

    name = "recording"
    holds_while_paused = False

    def __init__(
        self, path: Path, width: int, height: int, fps: float, encode: EncodeConfig
    ) -> None:
        from realtime.media.video_sink import VideoFileSink

        self.path = Path(path)
        check_record_path(self.path)
        self.temp = temporary_path(self.path)
        self.temp.unlink(missing_ok=True)
        self._sink = VideoFileSink(
            self.temp, width, height, _rate(fps), TIME_BASE, encode, audio_from=None
        )
        self._clock = _WallClock()
        self.notices = self._sink.notices
        self._summary: str | None = None
        self.final_path: Path | None = None

    @property
    def frames_written(self) -> int:
        return self._sink.frames_written

    def write(self, frame: np.ndarray, timestamp: float) -> None:
        self._sink.write(frame, self._clock.pts(timestamp))
        if self._sink.disk_full:
            # Finalise what fits now; the error then stops the live run.
            self.close(complete=False)

    def close(self, complete: bool = True) -> str:
        """Finalise the file; DiskFullError (after finalising) when the disk filled."""
        if self._summary is not None:  # closed already (the disk filled)
            return self._summary
        try:
            self._sink.close()
        except BaseException:
            self.temp.unlink(missing_ok=True)
            raise
        frames = self._sink.frames_written
        if frames == 0:
            self.temp.unlink(missing_ok=True)
            self._summary = f"recording: no frames, nothing written to {self.path}"
        else:
            full = self._sink.disk_full
            final = self.path if complete and not full else partial_path(self.path)
            size = self.temp.stat().st_size
            os.replace(self.temp, final)
            self.final_path = final
            self._summary = f"recording: {frames} frames -> {final}"
        if self._sink.disk_full:
            kept = (
                f"{frames} frames ({human_bytes(size)}) finalised in {self.final_path}"
                if frames
                else "no frame could be kept"
            )
            raise disk_full_error(self.path, kept)
        return self._summary


def _rate(fps: float) -> Fraction:
    # The nominal rate is only a hint for the encoder (timestamps are wall-clock);
    # 30000/1001 and friends stay exact.
    return Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(30)


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
