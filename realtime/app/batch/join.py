"""Finished segments into one file, re-encoding nothing: their H.264 packets one after another
(timestamps are the source's, so they continue), with the source's audio muxed in once."""

from __future__ import annotations

from pathlib import Path

import av

from realtime.core.files import atomic_output
from realtime.media.audio_copy import AudioCopier
from realtime.media.video_sink import container_format


def join_segments(source: Path, segments: list[Path], output: Path) -> int:
    """Write ``output`` from ``segments`` (in order) and ``source``'s audio; frames written."""
    frames = 0
    with atomic_output(output) as temp, av.open(str(segments[0])) as first:
        template = first.streams.video[0]
        out = av.open(str(temp), "w", format=container_format(output))
        try:
            video = out.add_stream_from_template(template)
            audio = AudioCopier(source, out)
            try:
                for path in segments:
                    frames += _copy_video(path, out, video, audio)
                audio.finish(None)
            finally:
                audio.close()
        finally:
            out.close()
    return frames


def _copy_video(
    path: Path, out: av.container.OutputContainer, video: av.VideoStream, audio: AudioCopier
) -> int:
    count = 0
    with av.open(str(path)) as segment:
        stream = segment.streams.video[0]
        for packet in segment.demux(stream):
            if packet.dts is None:
                continue  # the demuxer's flush packet
            seconds = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
            packet.stream = video
            out.mux(packet)
            count += 1
            audio.mux_until(seconds)
    return count
