"""Whole-file processing: decode -> stylize -> encode, overlapped in threads.

Decoding and encoding each run in their own thread and talk to the stylizer (the calling
thread) through bounded queues. Puts block when a queue is full, so a file never loses a
frame and memory stays flat; ONNX Runtime and PyAV release the GIL while they work, so the
three stages really overlap and decode/encode hide behind inference.

The stylizer runs in the calling (main) thread so that Ctrl-C (and SIGTERM, which the command
line turns into the same exception) lands there: the run then stops decoding, lets the encoder
finish the frames already stylized, and finalises a playable file named ``NAME.partial.EXT``.
A finished output only ever appears under its final name once it is complete: until then it is
written as ``NAME.incomplete.EXT``, held by this run (``OutputHold``) so that no second run
takes it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from realtime.core.config import EncodeConfig
from realtime.core.errors import UserError
from realtime.core.files import OutputHold, check_output_folder, partial_path
from realtime.core.progress import progress_bar
from realtime.core.signals import stop_signals_ignored
from realtime.media.video_sink import VideoFileSink, check_encode_config, container_format
from realtime.media.video_source import VideoFileSource, VideoInfo

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
    check_output_folder(output_path)  # first: a folder is said as such, not as a suffix
    container_format(output_path)


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


def stylize_video(
    input_path: Path,
    output_path: Path,
    process: Callable[[np.ndarray], np.ndarray],
    output_size: Callable[[int, int], tuple[int, int]],
    encode: EncodeConfig,
    queue_size: int = 8,
    show_progress: bool = True,
    decode_threads: int = 0,
    workers: int = 1,
) -> VideoResult:
    """Stylize every frame of ``input_path`` into ``output_path``, keeping timing and audio.

    ``process`` maps a source frame to an output frame; ``output_size(width, height)`` says
    the output size for the source's display size; ``decode_threads`` 0 is FFmpeg's choice.
    ``workers`` > 1 runs a FrameProcessor's network on that many frames at once (when its
    frames are independent); its stages with state still see the frames in order.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    check_paths(input_path, output_path)
    check_encode_config(encode)
    run = _VideoRun(
        input_path, output_path, output_size, encode, queue_size, show_progress, decode_threads
    )
    run.start()
    interrupted = run.stylize(process, workers)
    with stop_signals_ignored():
        run.wait(interrupted)
        return run.finish(interrupted)


class _VideoRun:
    """One file's decode -> stylize -> encode: the decoder and encoder threads, the queues
    between them and the stylizer (the caller's thread), and how the output is finalised."""

    def __init__(
        self,
        input_path: Path,
        output_path: Path,
        output_size: Callable[[int, int], tuple[int, int]],
        encode: EncodeConfig,
        queue_size: int,
        show_progress: bool,
        decode_threads: int,
    ) -> None:
        self.started = time.perf_counter()
        self.output_path = output_path
        self.source = VideoFileSource(input_path, threads=decode_threads)
        info = self.info = self.source.info
        width, height = output_size(info.width, info.height)
        self.hold = OutputHold(output_path)
        try:
            self.temp = self.hold.acquire()  # a second run on this output stops here
            self.sink = VideoFileSink(
                self.temp, width, height, info.rate, info.time_base, encode, input_path,
                expected_frames=info.frame_count or 0,
            )  # fmt: skip
        except BaseException:
            self.source.close()
            if self.hold.held:
                self.hold.temp.unlink(missing_ok=True)
            self.hold.release()
            raise
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.decoded = _Channel(queue_size, self.stop)
        self.stylized = _Channel(queue_size, self.stop)
        self.progress = progress_bar(info.frame_count, "stylizing", "frames", enabled=show_progress)
        self.frames_decoded = 0
        self.decoder = threading.Thread(target=self._decode, name="decode", daemon=True)
        self.encoder = threading.Thread(target=self._encode, name="encode", daemon=True)

    def start(self) -> None:
        self.decoder.start()
        self.encoder.start()

    def _fail(self, exc: BaseException) -> None:
        self.errors.append(exc)
        self.stop.set()

    def _decode(self) -> None:
        try:
            for frame in self.source.frames():
                self.decoded.put(frame)
                self.frames_decoded += 1
            self.decoded.put(_END)
        except _Stop:
            pass
        except BaseException as exc:  # handed to the main thread, which re-raises it
            self._fail(exc)

    def _encode(self) -> None:
        try:
            while (item := self.stylized.get()) is not _END:
                image, pts = item
                self.sink.write(image, pts)
                self.progress.update()
                if self.sink.disk_full:
                    # Stop the run like Ctrl-C does: what is written gets finalised.
                    self.stop.set()
                    return
        except _Stop:
            pass
        except BaseException as exc:
            self._fail(exc)

    def stylize(self, process: Callable[[np.ndarray], np.ndarray], workers: int = 1) -> bool:
        """Stylize until the end of the file; True when Ctrl-C stopped it."""
        try:
            if workers > 1 and getattr(process, "frames_independent", False):
                self._stylize_parallel(process, workers)
            else:
                while (item := self.decoded.get()) is not _END:
                    self.stylized.put((process(item.image), item.pts))
            self.stylized.put(_END)
        except KeyboardInterrupt:
            return True
        except _Stop:
            pass
        except BaseException:
            self.stop.set()
            self.abandon()
            raise
        return False

    def _stylize_parallel(self, processor: Any, workers: int) -> None:
        """The network on ``workers`` frames at once, the rest in order in this thread."""
        with concurrent.futures.ThreadPoolExecutor(workers, "stylize") as pool:
            pending: deque[tuple[concurrent.futures.Future, Any]] = deque()
            ended = False
            while not ended or pending:
                # Every worker busy and one frame more, so none waits for this thread.
                while not ended and len(pending) <= workers:
                    item = self.decoded.get()
                    if item is _END:
                        ended = True
                    else:
                        pending.append((pool.submit(processor.network, item.image), item))
                if pending:
                    future, item = pending.popleft()
                    stylized, small = future.result()
                    frame = processor.finish(stylized, small, item.image)
                    self.stylized.put((frame, item.pts))

    def wait(self, interrupted: bool) -> None:
        """Let the threads end: after Ctrl-C the encoder still writes what is stylized."""
        if interrupted:
            self.stop.set()
            self.decoded.drain()
            self.decoder.join()
            _finish_encoder(self.encoder, self.stylized)
        elif self.sink.disk_full:
            self.decoded.drain()
            self.decoder.join()
            self.encoder.join()
        else:
            self.encoder.join()
            self.stop.set()
            self.decoder.join()
        if self.errors:
            self.abandon()
            raise self.errors[0]

    def finish(self, interrupted: bool) -> VideoResult:
        """Finalise the file under its final name, or as NAME.partial.EXT when it stopped early."""
        self.progress.close()
        try:
            self.sink.close(audio_until_video_end=interrupted)
        except BaseException:
            self.temp.unlink(missing_ok=True)
            self.hold.release()
            self.source.close()
            raise
        self.source.close()
        disk_full = self.sink.disk_full  # also when the encoder's last frames filled it
        written, size = self.sink.frames_written, self.sink.bytes_written
        final: Path | None = None
        if written == 0:
            self.temp.unlink(missing_ok=True)
        else:
            early = interrupted or disk_full
            final = partial_path(self.output_path) if early else self.output_path
            os.replace(self.temp, final)
        self.hold.release()  # only now: the file has its final name, or is gone
        return VideoResult(
            output=final,
            frames_decoded=self.frames_decoded,
            frames_written=written,
            seconds=time.perf_counter() - self.started,
            interrupted=interrupted,
            disk_full=disk_full,
            bytes_written=size,
            damaged=None if interrupted or disk_full else self.source.damaged,
            info=self.info,
            notices=list(self.source.notices) + list(self.sink.notices),
        )

    def abandon(self) -> None:
        """Tear down after an error: no output is left behind under any name."""
        self.decoded.drain()
        self.stylized.drain()
        self.decoder.join(timeout=5)
        self.encoder.join(timeout=5)
        with contextlib.suppress(Exception):
            self.sink.close()
        with contextlib.suppress(Exception):
            self.source.close()
        self.temp.unlink(missing_ok=True)
        self.hold.release()


def _finish_encoder(encoder: threading.Thread, stylized: _Channel) -> None:
    """After Ctrl-C: queue the end marker behind the stylized frames and wait for them."""
    # The stop flag is already set, so a plain put could give up; the encoder drains the
    # queue, so waiting for room terminates.
    stylized.put_while_alive(_END, encoder)
    encoder.join()
