"""Whole-file processing: decode -> stylize -> encode, overlapped in threads.

Decoding and encoding each run in their own thread and talk to the stylizer (the calling
thread) through bounded queues. Puts block when a queue is full, so a file never loses a
frame and memory stays flat; ONNX Runtime and PyAV release the GIL while they work, so the
three stages really overlap and decode/encode hide behind inference.

The stylizer runs in the calling (main) thread so that Ctrl-C lands there: the run then
stops decoding, lets the encoder finish the frames already stylized, and finalises a
playable file named ``NAME.partial.EXT``. A finished output only ever appears under its
final name once it is complete: until then it is written as ``NAME.incomplete.EXT``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from realtime.config import EncodeConfig
from realtime.errors import UserError
from realtime.files import check_output_folder, partial_path, temporary_path
from realtime.progress import Progress
from realtime.video_sink import VideoFileSink, check_encode_config, container_format
from realtime.video_source import VideoFileSource, VideoInfo

_END = object()  # end-of-stream marker in the queues
_POLL = 0.1  # seconds between checks for a failed partner thread while blocked on a queue


@dataclass
class VideoResult:
    output: Path | None  # where the file landed (None if nothing was written)
    frames_decoded: int
    frames_written: int
    seconds: float
    interrupted: bool = False
    disk_full: bool = False  # the disk filled: the frames written are in the partial file
    bytes_written: int = 0
    damaged: str | None = None  # why decoding stopped early, if it did
    info: VideoInfo | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames_written / self.seconds if self.seconds > 0 else 0.0


def check_paths(input_path: Path, output_path: Path) -> None:
    """Fail early, before any work, on outputs that can only go wrong."""
    if not input_path.exists():
        raise UserError(f"input not found: {input_path}")
    if output_path.resolve() == input_path.resolve():
        raise UserError(f"output {output_path} is the input file; choose another output path")
    container_format(output_path)
    check_output_folder(output_path)


class _Stop(Exception):
    """Raised inside the pipeline when a partner thread failed."""


class _Channel:
    """A bounded queue whose blocking calls give up when the run is being torn down."""

    def __init__(self, size: int, stop: threading.Event) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, size))
        self._stop = stop

    def put(self, item: Any) -> None:
        while True:
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                if self._stop.is_set():
                    raise _Stop from None

    def get(self) -> Any:
        while True:
            try:
                return self._queue.get(timeout=_POLL)
            except queue.Empty:
                if self._stop.is_set():
                    raise _Stop from None

    def put_while_alive(self, item: Any, consumer: threading.Thread) -> None:
        """Put even though the run is stopping, as long as ``consumer`` still drains us."""
        while consumer.is_alive():
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Ignore further Ctrl-C while the output is finalised: a second press must not leave a
    broken file. Only the main thread may change signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stylize_video(
    input_path: Path,
    output_path: Path,
    process: Callable[[np.ndarray], np.ndarray],
    output_size: Callable[[int, int], tuple[int, int]],
    encode: EncodeConfig,
    queue_size: int = 8,
    show_progress: bool = True,
) -> VideoResult:
    """Stylize every frame of ``input_path`` into ``output_path``, keeping timing and audio.

    ``process`` maps a source frame to an output frame; ``output_size(width, height)`` says
    the output size for the source's display size.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    check_paths(input_path, output_path)
    check_encode_config(encode)
    started = time.perf_counter()
    source = VideoFileSource(input_path)
    info = source.info
    width, height = output_size(info.width, info.height)
    temp = temporary_path(output_path)
    temp.unlink(missing_ok=True)
    sink = VideoFileSink(
        temp,
        width,
        height,
        info.rate,
        info.time_base,
        encode,
        input_path,
        expected_frames=info.frame_count or 0,
    )

    stop = threading.Event()
    errors: list[BaseException] = []
    decoded = _Channel(queue_size, stop)
    stylized = _Channel(queue_size, stop)
    progress = Progress(info.frame_count, "stylizing", "frames", enabled=show_progress)
    counts = {"decoded": 0}

    def fail(exc: BaseException) -> None:
        errors.append(exc)
        stop.set()

    def decode() -> None:
        try:
            for frame in source.frames():
                decoded.put(frame)
                counts["decoded"] += 1
            decoded.put(_END)
        except _Stop:
            pass
        except BaseException as exc:  # handed to the main thread, which re-raises it
            fail(exc)

    def encode_frames() -> None:
        try:
            while (item := stylized.get()) is not _END:
                image, pts = item
                sink.write(image, pts)
                progress.update()
                if sink.disk_full:
                    # Stop the run like Ctrl-C does: what is written gets finalised.
                    stop.set()
                    return
        except _Stop:
            pass
        except BaseException as exc:
            fail(exc)

    decoder = threading.Thread(target=decode, name="decode", daemon=True)
    encoder = threading.Thread(target=encode_frames, name="encode", daemon=True)
    decoder.start()
    encoder.start()

    interrupted = False
    try:
        while (item := decoded.get()) is not _END:
            stylized.put((process(item.image), item.pts))
        stylized.put(_END)
    except KeyboardInterrupt:
        interrupted = True
    except _Stop:
        pass
    except BaseException:
        stop.set()
        _abandon(decoder, encoder, decoded, stylized, sink, source, temp)
        raise

    with _sigint_deferred():
        if interrupted:
            # Stop decoding but let the encoder write what is already stylized.
            stop.set()
            decoded.drain()
            decoder.join()
            _finish_encoder(encoder, stylized)
        elif sink.disk_full:
            decoded.drain()
            decoder.join()
            encoder.join()
        else:
            encoder.join()
            stop.set()
            decoder.join()
        if errors:
            _abandon(decoder, encoder, decoded, stylized, sink, source, temp)
            raise errors[0]
        progress.close()
        try:
            sink.close(audio_until_video_end=interrupted)
        except BaseException:
            temp.unlink(missing_ok=True)
            source.close()
            raise
        source.close()
        disk_full = sink.disk_full  # also when the encoder's last frames filled it
        notices = list(source.notices) + list(sink.notices)
        written = sink.frames_written
        size = sink.bytes_written
        if written == 0:
            temp.unlink(missing_ok=True)
            final: Path | None = None
        else:
            final = partial_path(output_path) if interrupted or disk_full else output_path
            os.replace(temp, final)
    return VideoResult(
        output=final,
        frames_decoded=counts["decoded"],
        frames_written=written,
        seconds=time.perf_counter() - started,
        interrupted=interrupted,
        disk_full=disk_full,
        bytes_written=size,
        damaged=None if interrupted or disk_full else source.damaged,
        info=info,
        notices=notices,
    )


def _finish_encoder(encoder: threading.Thread, stylized: _Channel) -> None:
    """After Ctrl-C: queue the end marker behind the stylized frames and wait for them."""
    # The stop flag is already set, so a plain put could give up; the encoder drains the
    # queue, so waiting for room terminates.
    stylized.put_while_alive(_END, encoder)
    encoder.join()


def _abandon(
    decoder: threading.Thread,
    encoder: threading.Thread,
    decoded: _Channel,
    stylized: _Channel,
    sink: VideoFileSink,
    source: VideoFileSource,
    temp: Path,
) -> None:
    """Tear down after an error: no output is left behind under any name."""
    decoded.drain()
    stylized.drain()
    decoder.join(timeout=5)
    encoder.join(timeout=5)
    with contextlib.suppress(Exception):
        sink.close()
    with contextlib.suppress(Exception):
        source.close()
    temp.unlink(missing_ok=True)
