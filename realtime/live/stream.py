"""The MPEG-TS H.264 stream output (UDP, or SRT where FFmpeg has it), tuned for low latency,
for OBS's Media Source."""

from __future__ import annotations

import urllib.parse

import numpy as np

from realtime.core.config import STREAM_PRESETS
from realtime.core.errors import UserError, first_line
from realtime.live.outputs import TIME_BASE, WallClock, nominal_rate

STREAM_SCHEMES = ("udp", "srt")
# MPEG-TS over UDP: 7 TS packets of 188 bytes per datagram fit an Ethernet MTU.
_TS_PACKET_SIZE = 1316


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
        # urllib says "out of range" and "could not be cast" alike: tell them apart here.
        host, _, text = parsed.netloc.rpartition(":")
        what = "is out of range" if text.isdigit() else "is not a number"
        raise UserError(
            f"--stream {url}: port {text} {what}; give a port from 1 to 65535, e.g. "
            f"{parsed.scheme}://{host or '127.0.0.1'}:9000"
        ) from None
    if port == 0:
        raise UserError(f"--stream {url}: port 0 is out of range; give a port from 1 to 65535")
    if port is None:
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
        self._clock = WallClock()
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
            stream = self._container.add_stream("libx264", rate=nominal_rate(fps), options=options)
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
                f"cannot start the stream to {url} ({first_line(exc)}); check the address "
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
