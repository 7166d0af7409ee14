"""Decode a video file into upright RGB frames with PyAV.

The source opens the file, picks its first real video stream (cover art in audio files is
not video), decodes one frame up front to learn the size and rotation, and then yields every
frame as a ``uint8 (H, W, 3)`` RGB array with rotation metadata already applied.

A corrupt or truncated tail never raises mid-file: every frame that decodes is yielded, then
iteration stops and ``damaged`` says what went wrong, so the caller can finish its output and
report it (exit code 3).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.stream import Disposition

from realtime.core.errors import UserError

# A decoder that keeps failing on every packet is not worth grinding through to the end.
_MAX_DECODE_ERRORS = 50


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # display size, after rotation is applied
    height: int
    rate: Fraction  # average frame rate, e.g. Fraction(30000, 1001)
    time_base: Fraction  # of the video stream: DecodedFrame.pts is in these units
    frame_count: int | None  # from the container; None when it does not say
    duration: float | None  # seconds
    rotation: int  # degrees clockwise applied to frames: 0, 90, 180 or 270
    audio_codecs: tuple[str, ...]  # codecs of the audio streams, empty if none
    codec: str = ""  # video codec, e.g. "h264"
    pixel_format: str = ""  # decoded pixel format, e.g. "yuv420p"


@dataclass
class DecodedFrame:
    image: np.ndarray  # uint8 (H, W, 3) RGB, upright, C-contiguous
    pts: int | None  # in VideoInfo.time_base
    index: int


def clockwise_rotation(counter_clockwise: float) -> int:
    """The clockwise quarter turn that makes a frame upright, from a display-matrix angle.

    FFmpeg's ``av_display_rotation_get`` (and PyAV's ``VideoFrame.rotation``) return the
    counter-clockwise angle of the matrix; the ffmpeg CLI turns frames by the negated value.
    A portrait phone clip stores -90 there, meaning "turn 90 degrees clockwise to display".
    """
    return int(round(-counter_clockwise / 90.0)) % 4 * 90


def rotate_clockwise(image: np.ndarray, degrees: int) -> np.ndarray:
    """Turn an (H, W, C) image clockwise by a multiple of 90 degrees, C-contiguous."""
    if degrees % 360 == 0:
        return np.ascontiguousarray(image)
    # np.rot90 turns counter-clockwise for positive k.
    return np.ascontiguousarray(np.rot90(image, k=-(degrees // 90) % 4))


class VideoFileSource:
    """Frames of one video file, decoded with threads. Single pass: call ``frames()`` once."""

    def __init__(
        self,
        path: Path,
        threads: int = 0,
        seek_pts: int | None = None,
        until_pts: int | None = None,
    ) -> None:
        """``threads``: decoder threads (0: FFmpeg's own choice, one per core and more).

        ``seek_pts``/``until_pts`` read a part: decoding starts at the keyframe at or before
        ``seek_pts`` (frames before it may still come first) and stops before the first frame
        at ``until_pts`` or later (stream time base). A part's damage is not judged against
        the whole file's length.
        """
        self._seek_pts = seek_pts
        self._until_pts = until_pts
        self.path = Path(path)
        self.damaged: str | None = None
        # Side remarks for the user that do not make the input damaged (e.g. odd rotation).
        self.notices: list[str] = []
        self._lock = threading.Lock()  # close() may come from another thread than frames()
        self._closed = False
        self._frames_started = False
        self._decode_errors = 0
        self._corrupt_packets = 0
        self._corrupt_frames = 0
        self._first_corrupt: str | None = None
        self._last_error: str | None = None
        self._first_pts: int | None = None  # of the decoded frames, to compare with the
        self._end_pts: int | None = None  # duration the container declares
        self._container = _open_input(self.path)
        try:
            self._stream = _pick_video_stream(self._container, self.path)
            # AUTO = frame and slice threads: decoding is usually the pipeline's second
            # bottleneck after inference, and one core cannot keep up with HD H.264.
            self._stream.thread_type = "AUTO"
            self._stream.codec_context.thread_count = threads
            if seek_pts is not None:
                self._prime_decoder()
                self._container.seek(seek_pts, stream=self._stream, backward=True)
            self._packets = self._container.demux(self._stream)
            self._pending = self._decode_until_first_frame()
            if not self._pending:
                raise UserError(
                    f"{self.path} contains no decodable video frames"
                    f"{f' ({self.damaged})' if self.damaged else ''}; "
                    "check the file plays in a video player, or re-encode it"
                )
            self.info = self._read_info(self._pending[0])
        except BaseException:
            self._container.close()
            raise

    # -- public -------------------------------------------------------------------------

    def frames(self) -> Iterator[DecodedFrame]:
        """Yield every decodable frame in presentation order, upright RGB."""
        if self._frames_started:
            raise RuntimeError("VideoFileSource.frames() can only be iterated once")
        self._frames_started = True
        index = 0
        while True:
            with self._lock:
                if self._closed:
                    return
                if not self._pending:
                    self._pending = self._decode_next()
                if not self._pending:
                    break
                frame = self._pending.pop(0)
                if self._until_pts is not None and (frame.pts or 0) >= self._until_pts:
                    return  # the part asked for is done
                image = rotate_clockwise(frame.to_ndarray(format="rgb24"), self.info.rotation)
                if frame.is_corrupt:  # decoded, but with errors concealed
                    self._corrupt_frames += 1
                if frame.pts is not None:
                    self._first_pts = frame.pts if self._first_pts is None else self._first_pts
                    self._end_pts = frame.pts + (frame.duration or 0)
            yield DecodedFrame(image=image, pts=frame.pts, index=index)
            index += 1
        self._check_errors()
        if self._seek_pts is None and self._until_pts is None:
            self._check_complete(index)  # a part's length is not the file's: not judged here

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._container.close()

    def __enter__(self) -> VideoFileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- decoding -----------------------------------------------------------------------

    def _prime_decoder(self) -> None:
        """Show the decoder the stream's first packet before a seek. Some facts about a stream
        live only there: H.264 from x264 carries its build number in an SEI message, and
        FFmpeg works around old builds' bugs by it (4:4:4 before build 151). A decoder that
        starts at a later keyframe never sees it and decodes those frames into garbage."""
        try:
            first = next(self._container.demux(self._stream))
            self._stream.decode(first)
        except (StopIteration, av.error.FFmpegError):
            pass  # an empty or unreadable start: the part's own decoding will say so

    def _decode_until_first_frame(self) -> list[av.VideoFrame]:
        frames: list[av.VideoFrame] = []
        while not frames:
            frames = self._decode_next()
            if not frames and self._packets is None:
                break
        return frames

    def _decode_next(self) -> list[av.VideoFrame]:
        """Frames from the next packet (or the decoder flush at the end); [] when finished.

        Errors become ``damaged`` instead of exceptions: the caller still gets every frame
        that decoded before them.
        """
        while self._packets is not None:
            try:
                packet = next(self._packets)
            except StopIteration:
                self._packets = None
                break
            except av.error.FFmpegError as exc:
                # A read error is where the readable data ends: stop demuxing, but still
                # flush the frames the decoder holds.
                self._mark_damaged(f"reading stopped with an error: {_describe(exc)}")
                self._packets = None
                break
            if packet.is_corrupt:
                # Decoded all the same (as the ffmpeg CLI does): the decoder conceals what
                # it can, and dropping a reference frame would break the frames after it.
                self._corrupt_packets += 1
                if self._first_corrupt is None:
                    self._first_corrupt = _seconds(packet.pts, packet.time_base)
            try:
                frames = self._stream.decode(packet)
            except av.error.FFmpegError as exc:
                self._decode_errors += 1
                self._last_error = _describe(exc)
                if self._decode_errors >= _MAX_DECODE_ERRORS:
                    self._packets = None
                    break
                continue
            if frames:
                return frames
        return self._flush_decoder()

    def _flush_decoder(self) -> list[av.VideoFrame]:
        try:
            return self._stream.decode(None)
        except (av.error.EOFError, av.error.FFmpegError) as exc:
            # EOFError: already drained. Anything else is one more decode error.
            if not isinstance(exc, av.error.EOFError):
                self._decode_errors += 1
                self._last_error = _describe(exc)
            return []

    def _mark_damaged(self, what: str) -> None:
        if self.damaged is None:
            self.damaged = what
        elif what not in self.damaged:
            self.damaged = f"{self.damaged}; {what}"

    def _check_errors(self) -> None:
        """After the last frame: the errors met on the way (a part's as well as a file's)."""
        if self._corrupt_packets:
            self._mark_damaged(
                f"{self._corrupt_packets} corrupt packet(s), the first at {self._first_corrupt}"
            )
        if self._corrupt_frames:
            self._mark_damaged(f"{self._corrupt_frames} frame(s) decoded with errors")
        if self._decode_errors:
            self._mark_damaged(
                f"{self._decode_errors} packet(s) failed to decode (last: {self._last_error})"
            )

    def _check_complete(self, decoded: int) -> None:
        """After the last frame of a whole pass: whether the file ends where it says."""
        # The mov/mp4 demuxer ends a truncated file with a plain end-of-file, so the
        # index (sample offsets from the moov atom) is the only place truncation shows.
        expected_end = _index_end(self._stream)
        size = self._container.size
        if expected_end is not None and size > 0 and expected_end > size:
            self._mark_damaged(truncated(size, expected_end, decoded, self.info.frame_count))
            return
        # Without an index (Matroska, MPEG-TS, ...) a cut file also just ends; what the
        # header promised is then the only witness. The last frame's own duration counts,
        # so a still frame held at the end of a variable-rate clip is not mistaken for a
        # gap; the tolerance absorbs containers that round their durations.
        declared = _declared_duration(self._stream)
        if declared is None or self._end_pts is None or self._first_pts is None:
            return
        decoded_s = float((self._end_pts - self._first_pts) * self.info.time_base)
        if (short := ends_early(declared, decoded_s, decoded, self.info.rate)) is not None:
            self._mark_damaged(short)

    # -- metadata -----------------------------------------------------------------------

    def _read_info(self, first: av.VideoFrame) -> VideoInfo:
        stream = self._stream
        ccw = first.rotation
        rotation = clockwise_rotation(ccw)
        if ccw % 90:
            self.notices.append(
                f"{self.path.name}: display rotation {-ccw} degrees is not a quarter turn; "
                f"frames are turned {rotation} degrees clockwise instead"
            )
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise UserError(
                f"{self.path} does not state a frame rate; re-encode it with a fixed rate "
                "(e.g. ffmpeg -i IN -r 30 OUT.mp4)"
            )
        duration = _declared_duration(stream)
        if duration is None and self._container.duration is not None:
            # The whole file's duration: may include audio that outlasts the video.
            duration = self._container.duration / av.time_base
        audio = tuple(s.codec_context.codec.canonical_name for s in self._container.streams.audio)
        return VideoInfo(
            path=self.path,
            width=width,
            height=height,
            rate=Fraction(rate),
            time_base=Fraction(stream.time_base),
            frame_count=stream.frames or None,
            duration=duration,
            rotation=rotation,
            audio_codecs=audio,
            codec=stream.codec_context.codec.canonical_name,
            pixel_format=first.format.name,
        )


def truncated(size: int, index_end: int, decoded: int, total: int | None) -> str:
    """The damage of a file cut short, in the words ``video`` and ``batch`` both use."""
    of_total = f" of {total}" if total else ""
    return (
        f"file is truncated: it has {size} bytes but its index refers to data up to "
        f"byte {index_end}; decoded {decoded}{of_total} frames"
    )


def ends_early(declared: float, decoded_s: float, decoded: int, rate: Fraction) -> str | None:
    """A cut file without an index just ends; only the declared duration tells (rounded)."""
    if declared - decoded_s <= max(0.5, 2 / float(rate)):
        return None
    return (
        f"video ends early: decoded {decoded_s:.2f} s of the {declared:.2f} s the file "
        f"declares ({decoded} frames); the file is probably truncated or corrupt"
    )


def _open_input(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise UserError(f"input file {path} does not exist; check the path")
    if path.is_dir():
        raise UserError(f"input {path} is a directory; pass a video file")
    try:
        return av.open(str(path), "r")
    except PermissionError as exc:
        raise UserError(f"cannot read {path}: permission denied; check its permissions") from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise UserError(
            f"cannot read {path} as a video ({_describe(exc)}); pass a video file such as "
            ".mp4, .mov or .mkv (a truncated .mp4 without its index cannot be opened)"
        ) from exc


def _pick_video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    for stream in container.streams.video:
        # Cover art (an MP3's album picture) is a one-picture "video" stream: not video.
        if not stream.disposition & Disposition.attached_pic:
            return stream
    kinds = sorted({s.type for s in container.streams})
    has = f"it has only {', '.join(kinds)} streams" if kinds else "it has no streams"
    raise UserError(f"{path} has no video stream ({has}); pass a video file")


def _index_end(stream: av.VideoStream) -> int | None:
    """The byte offset where the stream's last indexed packet ends, if the index says."""
    end = None
    for entry in stream.index_entries:
        if entry.size > 0 and entry.pos >= 0:
            stop = entry.pos + entry.size
            if end is None or stop > end:
                end = stop
    return end


def _declared_duration(stream: av.VideoStream) -> float | None:
    """The video stream's own duration in seconds, as its container states it."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    # Matroska keeps per-track durations in tags (FFmpeg and mkvmerge write them).
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            return None
    return None


def _describe(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())


def _seconds(pts: int | None, time_base: Fraction | None) -> str:
    if pts is None or time_base is None:
        return "an unknown time"
    return f"{float(pts * time_base):.3f} s"


def probe_video(path: Path) -> VideoInfo:
    """A file's VideoInfo from its header and its first frame, where decoding stops: the
    frame carries the size and display rotation (one-line error when unreadable)."""
    source = VideoFileSource(path)
    try:
        return source.info
    finally:
        source.close()


@dataclass(frozen=True)
class FrameIndex:
    """Where a file's frames are, from its packets alone (nothing decoded), in presentation
    order; and what the container promises, to judge a file decoded in parts."""

    pts: tuple[int, ...]
    keyframes: tuple[int, ...]  # the pts of the keyframes a decoder can start at
    time_base: Fraction
    size: int = 0  # bytes in the file
    index_end: int | None = None  # where the index says the last packet ends
    frame_count: int | None = None  # frames the container declares
    declared: float | None = None  # seconds the container declares
    rate: Fraction = Fraction(25)

    def damage(self, decoded: int) -> str | None:
        """What a whole pass says of the file's length, having decoded ``decoded`` frames."""
        if self.index_end is not None and 0 < self.size < self.index_end:
            return truncated(self.size, self.index_end, decoded, self.frame_count)
        if self.declared is None or not self.pts:
            return None
        span = float((self.pts[-1] - self.pts[0]) * self.time_base) + 1 / float(self.rate)
        return ends_early(self.declared, span, decoded, self.rate)


def index_frames(path: Path) -> FrameIndex:
    """Read every video packet's timestamps (demux only, fast even for long films)."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise UserError(f"cannot read {path} as a video ({_describe(exc)})") from exc
    with container:
        stream = _pick_video_stream(container, Path(path))
        pts, keys = [], []
        for packet in container.demux(stream):
            if packet.pts is None:
                continue  # the flush packet
            pts.append(int(packet.pts))
            if packet.is_keyframe:
                keys.append(int(packet.pts))
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate or 25
        return FrameIndex(
            tuple(sorted(pts)), tuple(sorted(keys)), Fraction(stream.time_base),
            size=container.size, index_end=_index_end(stream), frame_count=stream.frames or None,
            declared=_declared_duration(stream), rate=Fraction(rate),
        )  # fmt: skip
