"""The batch worker: one style network, loaded once, stylizing images, whole videos and
video segments. Ray runs it as an actor (``realtime.app.batch.run``); it is a plain class, so
it also runs without Ray."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from realtime.app.batch.plan import Segment
from realtime.app.build import build_processor, encode_for, open_stylizer, throughput_plan
from realtime.core.config import RunConfig
from realtime.core.errors import UserError
from realtime.core.files import atomic_output
from realtime.media.images import read_image_with_alpha, write_image
from realtime.media.video_file import stylize_video
from realtime.media.video_sink import VideoFileSink
from realtime.media.video_source import VideoFileSource


@dataclass(frozen=True)
class Done:
    """What a task finished: frames written, or the one-line error of a bad input."""

    frames: int = 0
    error: str | None = None
    damaged: str | None = None
    notices: tuple[str, ...] = ()


class Worker:
    def __init__(self, config: RunConfig, style: str, mix: dict[str, float] | None = None) -> None:
        """``style``: an .onnx path or a style name (a .pth is exported by the driver first);
        ``mix``: the weights of a multi-style network's styles to paint."""
        self.stylizer, self.entry = open_stylizer(style, config.engine, announce=False)
        if mix:
            self.stylizer.set_mix(mix)
        self.config = dataclasses.replace(config, encode=encode_for(config.encode, self.stylizer))
        # Decoded as `realtime video` decodes: at a damaged tail, frame threads lose the frames
        # in flight, so another thread count keeps other frames.
        self.decode_threads = throughput_plan(config).decode_threads

    def pid(self) -> int:
        return os.getpid()

    def image(self, source: Path, output: Path) -> Done:
        try:
            frame, alpha = read_image_with_alpha(source)
            size = (frame.shape[1], frame.shape[0])
            processor = build_processor(
                self.stylizer, self.config.process, source_size=size, still=True
            )
            output.parent.mkdir(parents=True, exist_ok=True)
            write_image(output, processor(frame), alpha)
        except UserError as exc:
            return Done(error=str(exc))
        return Done(frames=1)

    def video(self, source: Path, output: Path) -> Done:
        """A whole file, exactly as ``realtime video`` does it (with its audio)."""
        try:
            with VideoFileSource(source) as probe:
                size = (probe.info.width, probe.info.height)
            processor = build_processor(
                self.stylizer,
                self.config.process,
                source_size=size,
                fast_temporal=self.stylizer.on_gpu,
            )
            output.parent.mkdir(parents=True, exist_ok=True)
            result = stylize_video(
                source,
                output,
                processor,
                lambda w, h: processor.sizes(w, h)[1],
                self.config.encode,
                queue_size=self.config.queue_size,
                show_progress=False,
            )
        except UserError as exc:
            return Done(error=str(exc))
        return Done(result.frames_written, damaged=result.damaged, notices=tuple(result.notices))

    def segment(self, source: Path, segment: Segment, output: Path) -> Done:
        """Frames ``segment.start_pts`` up to its end into ``output`` (video only, source
        timestamps), after running its warm-up frames through the network and discarded.
        A damaged input gets what ``realtime video`` gives it: the frames that decode, and
        ``damaged`` saying what did not (no file at all when nothing decoded)."""
        try:
            reader = VideoFileSource(
                source, self.decode_threads, segment.decode_pts, segment.end_pts
            )
        except UserError as exc:
            if segment.index == 0:
                return Done(error=str(exc))
            # The file's start decoded (the driver probed it): this part is damage.
            return Done(0, damaged=f"nothing decodes from {_seconds(segment)} on ({exc})")
        try:
            with reader:
                written = self._segment(reader, segment, output)
        except UserError as exc:
            return Done(error=str(exc))
        damaged = reader.damaged
        if written < segment.frames and damaged is None:
            damaged = f"{segment.frames - written} frame(s) from {_seconds(segment)} did not decode"
        return Done(written, damaged=damaged)

    def _segment(self, reader: VideoFileSource, segment: Segment, output: Path) -> int:
        """The segment's frames written to ``output`` (none: no file), after the warm-up."""
        info = reader.info
        processor = build_processor(
            self.stylizer,
            self.config.process,
            source_size=(info.width, info.height),
            fast_temporal=self.stylizer.on_gpu,
        )
        width, height = processor.sizes(info.width, info.height)[1]
        output.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_output(output) as temp:
                sink = VideoFileSink(
                    temp, width, height, info.rate, info.time_base, self.config.encode, None,
                    expected_frames=segment.frames,
                )  # fmt: skip
                with sink:
                    for frame in reader.frames():
                        pts = frame.pts if frame.pts is not None else segment.start_pts
                        if pts < segment.warmup_pts:
                            continue  # decoded from the keyframe on, not needed
                        stylized = processor(frame.image)
                        if pts >= segment.start_pts:
                            sink.write(stylized, pts)
                if sink.frames_written == 0:
                    raise _NothingWritten  # an empty file would only break the join
        except _NothingWritten:
            return 0
        return sink.frames_written


class _NothingWritten(Exception):
    """No frame of a segment decoded: its file is not kept."""


def _seconds(segment: Segment) -> str:
    return f"{segment.start_seconds:.3f} s"
