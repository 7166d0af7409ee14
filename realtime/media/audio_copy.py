"""Carry the audio of an input file into an output container, packet for packet.

Audio is copied untouched (no quality loss, no time spent) unless the output container
refuses the codec; only then is that stream re-encoded to AAC, with a notice. Packets are
handed to the muxer in step with the video (``mux_until``), so neither the muxer's
interleaving buffer nor our memory grows with the file's length.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error

from realtime.core.errors import UserError

# Muxers that abort the whole process (an av_assert0 in FFmpeg 8's flvenc.c) instead of
# returning an error when asked for these codecs, so they cannot be probed: treat them as
# refused and re-encode.
_PROBE_WOULD_ABORT: dict[str, tuple[str, ...]] = {"flv": ("pcm_",)}

_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


def container_accepts(format_name: str, template: av.AudioStream) -> bool:
    """Whether a container of ``format_name`` can hold a copy of ``template``'s packets.

    Asked of FFmpeg itself: add a stream from the template to an in-memory container of the
    same format and write its header. Lists of "what goes where" go stale with each FFmpeg
    release (recent FFmpeg writes PCM into mp4, for one); the muxer does not.
    """
    codec = template.codec_context.codec.canonical_name
    if codec.startswith(_PROBE_WOULD_ABORT.get(format_name, ())):
        return False
    try:
        with av.open(io.BytesIO(), "w", format=format_name) as probe:
            probe.add_stream_from_template(template)
            probe.start_encoding()
    except (ValueError, av.error.FFmpegError):
        return False
    return True


class _Track:
    """One input audio stream and where its packets go."""

    def __init__(self, source: av.AudioStream, target: av.AudioStream, transcode: bool) -> None:
        self.source = source
        self.target = target
        self.transcode = transcode


class AudioCopier:
    """Audio streams of ``source`` added to ``output``; must be created before its header."""

    def __init__(self, source: Path, output: av.container.OutputContainer) -> None:
        self.notices: list[str] = []
        self._output = output
        self._input = _open(Path(source))
        self._tracks: dict[int, _Track] = {}
        self._pending: av.Packet | None = None
        self._done = False
        self.packets_written = 0
        # Skipped packets by reason -> (count, time of the first), reported once at the end
        # rather than one notice per packet.
        self._skipped: dict[str, tuple[int, float]] = {}
        try:
            self._add_tracks(Path(source))
        except BaseException:
            self._input.close()
            raise
        streams = [t.source for t in self._tracks.values()]
        self._packets: Iterator[av.Packet] | None = self._input.demux(streams) if streams else None
        if not streams:
            self._finish_input()

    @property
    def stream_count(self) -> int:
        return len(self._tracks)

    def mux_until(self, seconds: float) -> None:
        """Mux every packet that starts at or before ``seconds`` (on the input's clock)."""
        while True:
            packet = self._peek()
            if packet is None or _start(packet) > seconds:
                return
            self._pending = None
            self._write(packet)

    def finish(self, until: float | None = None) -> None:
        """Mux the remaining packets (only those starting before ``until`` if given), flush
        any encoders, and close the input. The output container stays open."""
        past_end: set[int] = set()  # tracks that have reached ``until``
        while len(past_end) < len(self._tracks) and (packet := self._peek()) is not None:
            self._pending = None
            if until is not None and _start(packet) >= until:
                # Packets of one stream come in time order: this one is done. The others
                # may still have packets before ``until`` further on.
                past_end.add(packet.stream.index)
                continue
            self._write(packet)
        for track in self._tracks.values():
            if track.transcode:
                self._mux_encoded(track.target.encode(None))
        for reason, (count, first) in self._skipped.items():
            self.notices.append(
                f"skipped {count} {reason} audio packet(s), the first at {first:.3f} s"
            )
        self._finish_input()

    def close(self) -> None:
        """Give up: close the input without writing anything more."""
        self._finish_input()

    # -- internals ----------------------------------------------------------------------

    def _add_tracks(self, source: Path) -> None:
        fmt = self._output.format.name
        dropped: list[str] = []
        for stream in self._input.streams:
            if stream.type != "audio":
                dropped.append(stream.type)
                continue
            codec = stream.codec_context.codec.canonical_name
            if container_accepts(fmt, stream):
                target = self._output.add_stream_from_template(stream)
                self._tracks[stream.index] = _Track(stream, target, transcode=False)
                continue
            target = self._output.add_stream("aac", rate=_aac_rate(stream.sample_rate))
            target.layout = _aac_layout(stream.layout)
            self._tracks[stream.index] = _Track(stream, target, transcode=True)
            resampled = f" at {target.rate} Hz" if target.rate != stream.sample_rate else ""
            self.notices.append(
                f"audio stream #{stream.index} ({codec}) re-encoded to AAC{resampled}: "
                f"the {fmt} container cannot hold {codec}"
            )
        # Video is written by the sink itself; anything else (subtitles, data, fonts) has
        # no place in a restyled picture's timing without extra work, so it is dropped.
        extra = [kind for kind in dropped if kind != "video"]
        if extra:
            counts = ", ".join(f"{extra.count(k)} {k}" for k in sorted(set(extra)))
            self.notices.append(f"dropped {counts} stream(s) of {source.name}")

    def _peek(self) -> av.Packet | None:
        """The next real packet, read ahead by one; None at the end of the input."""
        while self._pending is None and self._packets is not None:
            try:
                packet = next(self._packets)
            except StopIteration:
                self._packets = None
                break
            except av.error.FFmpegError as exc:
                self.notices.append(
                    f"audio copy stopped early: reading the input failed ({_describe(exc)})"
                )
                self._packets = None
                break
            if packet.size == 0 or (packet.pts is None and packet.dts is None):
                continue  # the demuxer's end-of-stream markers
            if packet.is_corrupt:
                self._skip("corrupt", packet)
                continue
            self._pending = packet
        return self._pending

    def _write(self, packet: av.Packet) -> None:
        track = self._tracks[packet.stream.index]
        if not track.transcode:
            packet.stream = track.target  # the muxer rescales from packet.time_base
            self._output.mux(packet)
            self.packets_written += 1
            return
        try:
            frames = track.source.decode(packet)
        except av.error.FFmpegError as exc:
            self._skip(f"undecodable ({_describe(exc)})", packet)
            return
        for frame in frames:
            self._mux_encoded(track.target.encode(frame))

    def _skip(self, reason: str, packet: av.Packet) -> None:
        count, first = self._skipped.get(reason, (0, _start(packet)))
        self._skipped[reason] = (count + 1, first)

    def _mux_encoded(self, packets: list[av.Packet]) -> None:
        self._output.mux(packets)
        self.packets_written += len(packets)

    def _finish_input(self) -> None:
        if not self._done:
            self._done = True
            self._packets = None
            self._pending = None
            self._input.close()


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise UserError(f"audio source {path} does not exist; check the path")
    try:
        return av.open(str(path), "r")
    except (av.error.FFmpegError, OSError) as exc:
        raise UserError(
            f"cannot read audio from {path} ({_describe(exc)}); pass a readable media file"
        ) from exc


def _aac_rate(rate: int) -> int:
    """The AAC sample rate to encode at: the input's if AAC has it, else the next above."""
    higher = [r for r in _AAC_RATES if r >= rate]
    return min(higher) if higher else max(_AAC_RATES)


def _aac_layout(layout: av.AudioLayout) -> str:
    """A layout the AAC encoder takes: the input's, or the default one for its channel count
    when the input only says how many channels it has (e.g. PCM in Matroska: "1 channels")."""
    if layout.name.endswith("channels"):
        return av.AudioLayout(f"{layout.nb_channels}c").name
    return layout.name


def _start(packet: av.Packet) -> float:
    ts = packet.pts if packet.pts is not None else packet.dts
    return float(ts * Fraction(packet.time_base)) if ts is not None else 0.0


def _describe(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())
