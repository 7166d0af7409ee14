"""Encode RGB frames to H.264 with PyAV, keeping the source's timestamps and audio.

Frames are written with their source pts in the source time base, so the output has the
input's frame count, frame rate (30000/1001 stays 30000/1001) and timing, variable frame
rate included. Audio comes from ``audio_from`` packet for packet (``realtime.media.audio_copy``).
The container format follows the output path's suffix.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from realtime.core.config import EncodeConfig
from realtime.core.errors import UserError
from realtime.core.files import (
    ReservedFile,
    SpaceReserve,
    check_output_folder,
    disk_full_error,
    is_disk_full,
)
from realtime.media.audio_copy import AudioCopier
from realtime.media.encoders import choose_encoder, encoder_options, pixel_format

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
MAX_CRF = 51  # 8-bit x264

# FFmpeg's AVCOL_* values for the tags written into the H.264 stream (VUI): BT.709 matrix,
# primaries and transfer, limited range. Tagged explicitly so players do not guess BT.601
# for small frames and BT.709 for HD, which would shift colours between sizes.
_AVCOL_BT709 = 1
_AVCOL_RANGE_MPEG = 1


def check_encode_config(encode: EncodeConfig) -> None:
    """The settings make sense, and the encoder asked for runs here (a real probe)."""
    if not 0 <= encode.crf <= MAX_CRF:
        raise UserError(f"crf {encode.crf} is out of range; use 0 (lossless) to {MAX_CRF}")
    if encode.preset not in (*X264_PRESETS, "auto"):
        raise UserError(
            f"unknown x264 preset {encode.preset!r}; use one of {', '.join(X264_PRESETS)}"
        )
    choose_encoder(encode.encoder, announce=False)  # said when a file is really encoded


class VideoFileSink:
    """An H.264 file being written. ``close()`` makes it a complete, playable file."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        rate: Fraction,
        time_base: Fraction,
        encode: EncodeConfig,
        audio_from: Path | None,
        expected_frames: int = 0,
    ) -> None:
        """``expected_frames`` sizes the disk-space reserve that lets a full disk still end
        in a playable file (0: unknown, the reserve grows as frames are written)."""
        self.path = Path(path)
        self.width, self.height = width, height
        self.rate, self.time_base = Fraction(rate), Fraction(time_base)
        self.frames_written = 0
        self.notices: list[str] = []
        self._closed = False
        self._last_pts: int | None = None
        self._nudged = 0
        if width <= 0 or height <= 0:
            raise UserError(f"output size {width}x{height} is empty; use a positive size")
        if self.rate <= 0 or self.time_base <= 0:
            raise ValueError(f"rate {rate} and time_base {time_base} must be positive")
        check_encode_config(encode)
        _check_output_path(self.path)
        # One frame in time-base ticks: the step for frames that come without a pts.
        self._frame_ticks = max(1, round(1 / (self.rate * self.time_base)))
        # yuv420p stores one chroma sample per 2x2 pixels: both sides must be even.
        self._pad = (height % 2, width % 2)
        coded_w, coded_h = width + self._pad[1], height + self._pad[0]
        if any(self._pad):
            self.notices.append(
                f"output padded from {width}x{height} to {coded_w}x{coded_h} by repeating "
                "the last row/column: H.264 in yuv420p needs even dimensions"
            )
        codec = choose_encoder(encode.encoder)
        self._reserve = SpaceReserve(self.path, expected_frames)
        if self._reserve.size == 0:
            self._reserve.release()
            raise disk_full_error(self.path, "nothing written")
        self._file = ReservedFile(self.path, self._reserve)
        self._reserve_short = False
        self._muxed = 0  # video packets in the file; the encoder holds some frames back
        try:
            self._container = _open_output(self.path, self._file)
        except BaseException:
            self._discard()
            raise
        self._audio: AudioCopier | None = None
        try:
            self._stream = self._add_video(codec, coded_w, coded_h, encode)
            if audio_from is not None:
                self._audio = AudioCopier(Path(audio_from), self._container)
                self.notices.extend(self._audio.notices)
                self._audio.notices.clear()
        except BaseException:
            with contextlib.suppress(Exception):
                self._container.close()
            self._discard()
            raise
        self._reformatter = VideoReformatter()

    def write(self, image: np.ndarray, pts: int | None) -> None:
        """Encode one uint8 (H, W, 3) RGB frame shown at ``pts`` (in ``time_base``)."""
        if self._closed:
            raise RuntimeError("write() on a closed VideoFileSink")
        if self.disk_full:
            raise RuntimeError("write() after the disk filled; close() the sink instead")
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"expected a uint8 ({self.height}, {self.width}, 3) frame, "
                f"got {image.dtype} {image.shape}"
            )
        if any(self._pad):
            image = np.pad(image, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        frame = self._reformatter.reformat(
            av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24"),
            format=self._stream.pix_fmt,
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG,
        )
        frame.pts = self._next_pts(pts)
        frame.time_base = self.time_base
        packets = self._stream.encode(frame)
        self._guarded(lambda: self._container.mux(packets))
        self._muxed += len(packets)
        self.frames_written += 1
        if self._audio is not None:
            self._guarded(lambda: self._audio.mux_until(float(frame.pts * self.time_base)))
            self._take_audio_notices()
        # Keep room for the index of every frame so far; when even that is not there, the
        # disk is full for our purposes: stop now, while the file can still be finished.
        if not self._reserve.ensure(self.frames_written + 1):
            self._reserve_short = True

    @property
    def disk_full(self) -> bool:
        """The disk filled: stop writing and ``close()``, which finalises what was written."""
        return self._file.disk_full or self._reserve_short

    @property
    def bytes_written(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def _guarded(self, mux: Callable[[], object]) -> None:
        """Run a mux call; a full disk that even the reserve could not absorb is one line."""
        try:
            mux()
        except (OSError, av.error.FFmpegError) as exc:
            if isinstance(exc, OSError) and is_disk_full(exc) or self._file.disk_full:
                raise disk_full_error(
                    self.path, f"{self.frames_written} frames could not be finalised"
                ) from exc
            raise

    @property
    def audio_packets_written(self) -> int:
        """Audio packets handed to the muxer so far (copied, or encoded when re-encoding)."""
        return self._audio.packets_written if self._audio is not None else 0

    def close(self, audio_until_video_end: bool = False) -> None:
        """Flush the encoder, add the rest of the audio, write the trailer.

        ``audio_until_video_end``: cut the audio where the video ends (an interrupted run),
        instead of copying it to its own end.
        """
        if self._closed:
            return
        self._closed = True
        failed = True
        try:
            if not self.disk_full:
                self._flush_encoder()
            # The reserve's room is for the container's index (written by close()).
            self._reserve.release()
            if self.disk_full:
                # What the file holds: the frames left in the encoder's lookahead are gone.
                self.frames_written = self._muxed
            if self._audio is not None:
                cut = audio_until_video_end or self.disk_full
                self._audio.finish(self._video_end() if cut else None)
                self._take_audio_notices()
            if self._nudged:
                self.notices.append(
                    f"{self._nudged} frame(s) had timestamps not after the previous frame's; "
                    "they were moved one tick later"
                )
            failed = False
        finally:
            self._reserve.release()
            if self._audio is not None:
                self._audio.close()
            try:
                self._container.close()
            except (OSError, av.error.FFmpegError) as exc:
                if not failed:  # the first error is the one to report
                    if self._file.disk_full or is_disk_full(exc):
                        raise disk_full_error(
                            self.path, f"{self._muxed} frames could not be finalised"
                        ) from exc
                    raise
            finally:
                self._file.close()

    def _flush_encoder(self) -> None:
        """Mux the frames the encoder still holds, one at a time, stopping when the disk
        fills (the reserve absorbs that write; what is left of it is for the index)."""
        for packet in self._stream.encode(None):
            self._guarded(lambda packet=packet: self._container.mux(packet))
            self._muxed += 1
            if self._file.disk_full:
                return

    def _discard(self) -> None:
        """Remove everything this sink created (a sink that could not start)."""
        self._reserve.release()
        if hasattr(self, "_file"):
            self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> VideoFileSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # On an exception the video stops early: keep the audio from running past it.
        self.close(audio_until_video_end=exc_type is not None)

    # -- internals ----------------------------------------------------------------------

    def _add_video(self, codec: str, width: int, height: int, encode: EncodeConfig):
        options = encoder_options(codec, encode)
        fmt = self._container.format.name
        try:
            stream = self._container.add_stream(codec, rate=self.rate, options=options)
        except ValueError as exc:
            raise UserError(
                f"the {fmt} container ({self.path.suffix}) cannot hold H.264 video; "
                "name the output .mp4, .mkv or .mov"
            ) from exc
        stream.width, stream.height = width, height
        stream.pix_fmt = pixel_format(codec)
        # The source's time base, so source pts go in unchanged (the muxer may still pick
        # a finer one of its own and rescale exactly).
        stream.codec_context.time_base = self.time_base
        stream.time_base = self.time_base
        ctx = stream.codec_context
        ctx.colorspace = _AVCOL_BT709
        ctx.color_primaries = _AVCOL_BT709
        ctx.color_trc = _AVCOL_BT709
        ctx.color_range = _AVCOL_RANGE_MPEG
        try:
            # Open now rather than at the first frame: a fallback encoder that cannot run
            # here (e.g. a GPU encoder without the GPU) fails before any decoding work.
            ctx.open()
        except av.error.FFmpegError as exc:
            raise UserError(
                f"cannot start the H.264 encoder {codec} ({' '.join(str(exc).split())}); "
                "install PyAV from PyPI (pip install av), whose wheels include libx264"
            ) from exc
        return stream

    def _next_pts(self, pts: int | None) -> int:
        last = self._last_pts
        if pts is None:
            pts = 0 if last is None else last + self._frame_ticks
        elif last is not None and pts <= last:
            # Encoder and muxer both reject non-increasing timestamps; a source with a
            # duplicated or backwards pts keeps its frame, one tick later.
            pts = last + 1
            self._nudged += 1
        self._last_pts = pts
        return pts

    def _video_end(self) -> float:
        if self._last_pts is None:
            return 0.0
        return float((self._last_pts + self._frame_ticks) * self.time_base)

    def _take_audio_notices(self) -> None:
        if self._audio is not None and self._audio.notices:
            self.notices.extend(self._audio.notices)
            self._audio.notices.clear()


def _check_output_path(path: Path) -> None:
    check_output_folder(path)
    container_format(path)


def container_format(path: Path) -> str:
    """FFmpeg's muxer for an output named ``path`` (guessed from its suffix, as FFmpeg does),
    or a one-line error naming the suffix. Nothing is written."""

    class _Named(io.BytesIO):
        name = Path(path).name

    try:
        probe = av.open(_Named(), "w")
    except ValueError:  # PyAV: "Could not determine output format"
        raise UserError(
            f"cannot write video as {Path(path).suffix or 'a file without a suffix'} "
            f"({Path(path).name}); name the output .mp4, .mkv or .mov"
        ) from None
    with contextlib.closing(probe):
        return probe.format.name


def _open_output(path: Path, file: ReservedFile) -> av.container.OutputContainer:
    try:
        return av.open(file, "w", format=container_format(path))
    except (av.error.FFmpegError, OSError) as exc:
        if is_disk_full(exc) or file.disk_full:
            raise disk_full_error(path, "nothing written") from exc
        raise UserError(f"cannot write {path} ({exc}); choose another output path") from exc
