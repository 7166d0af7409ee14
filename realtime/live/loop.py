"""The live loop: newest camera frame -> stylize -> outputs, with latency and fps statistics.

Policy: latency stays bounded when the stylizer is slower than the camera. The loop always
takes the newest frame (``realtime.live.source``: latest frame wins) and the frames that
arrived while it was busy are dropped, never queued. Latency is measured from the moment a
frame left the source to the moment every output has taken the stylized frame, and reported
once a second (p50, p95, output fps) on stderr and in the window overlay.

The stylizer runs in the calling thread, which must be the main thread when a window is
shown (OpenCV's GUI needs it on macOS); Ctrl-C or SIGTERM there stops the loop cleanly and
every output is finalised. Controls from other threads (the panel) are carried out between two
frames (``realtime.live.controls``).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from realtime.core.config import LiveConfig
from realtime.core.signals import stop_signals_ignored, stop_signals_set, terminated
from realtime.live.controls import LiveControls
from realtime.live.keys import handle_key
from realtime.live.outputs import LiveOutput, close_all
from realtime.live.source import CameraLost, Captured, FrameSource
from realtime.live.stats import LatencyStats
from realtime.live.window import WindowOutput
from realtime.runtime.frames import FrameProcessor

log = logging.getLogger(__name__)

_WAIT_SLICE = 0.02  # longest wait for a frame before the window's events are pumped again


@dataclass
class LiveResult:
    frames_in: int  # frames the source delivered
    frames_out: int  # frames stylized and sent to the outputs
    dropped: int  # frames skipped because the stylizer was busy (or the stream paused)
    seconds: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    stop_reason: str
    outputs: list[str] = field(default_factory=list)  # one summary line per output
    notices: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames_out / self.seconds if self.seconds > 0 else 0.0


def run_live(
    source: FrameSource,
    processor: FrameProcessor,
    outputs: list[LiveOutput],
    config: LiveConfig,
    controls: LiveControls | None = None,
    stats_stream: TextIO | None = None,
) -> LiveResult:
    """Stylize the newest frame of ``source`` into ``outputs`` until a stop condition.

    Stops on: ``config.duration`` / ``config.frames``, q/Esc or closing the window, Ctrl-C or
    SIGTERM, a control's quit, the end of a video file (all normal ends: outputs are finalised
    complete), or CameraLost (outputs finalised complete, then raised). Any other error
    finalises the outputs as incomplete and is raised. ``outputs`` is the list the controls
    add a recording to and remove it from.
    """
    config.check()
    if controls is not None:
        controls.outputs = outputs
    loop = _LiveLoop(source, processor, outputs, config, controls, stats_stream or sys.stderr)
    source.start()
    if controls is not None:
        controls.attach(loop.stats)
    try:
        with stop_signals_set(loop.stop):
            reason = loop.run()
    except CameraLost:
        with stop_signals_ignored():
            for summary in close_all(outputs, complete=True):
                log.info("%s", summary)
        raise
    except BaseException:
        with stop_signals_ignored():
            close_all(outputs, complete=False)
        raise
    finally:
        source.close()
        if controls is not None:
            controls.detach()
    with stop_signals_ignored():  # a second Ctrl-C (or a SIGTERM) must not break a file
        # Ctrl-C and q are how a live run ends; SIGTERM (exit 143) is an end from outside,
        # so a recording says so as every other interrupted output does: NAME.partial.EXT.
        summaries = close_all(outputs, complete=not terminated())
    stats = loop.stats
    return LiveResult(
        frames_in=source.published,
        frames_out=stats.frames,
        dropped=stats.dropped,
        seconds=time.perf_counter() - loop.started,
        latency_p50_ms=stats.overall_ms(50),
        latency_p95_ms=stats.overall_ms(95),
        latency_max_ms=1000 * stats.max_latency,
        stop_reason=reason,
        outputs=summaries,
        notices=list(source.notices),
    )


class _LiveLoop:
    """One run's loop state: the frame it last took, when the next is due, the statistics."""

    def __init__(
        self,
        source: FrameSource,
        processor: FrameProcessor,
        outputs: list[LiveOutput],
        config: LiveConfig,
        controls: LiveControls | None,
        stats_stream: TextIO,
    ) -> None:
        self.source, self.processor, self.outputs = source, processor, outputs
        self.config, self.controls, self.stats_stream = config, controls, stats_stream
        self.window = next((o for o in outputs if isinstance(o, WindowOutput)), None)
        self.stop = threading.Event()
        self.started = time.perf_counter()
        self.stats = LatencyStats(config.stats_interval, self.started)
        self.min_gap = 1.0 / config.max_fps if config.max_fps else 0.0
        self.next_due = self.started
        self.seq = 0
        self.last_output: np.ndarray | None = None
        # A window's events are pumped between waits; controls from the panel are carried
        # out between them too, so neither waits long for a frame.
        self.wait = _WAIT_SLICE if self.window or controls else 0.1

    def run(self) -> str:
        """Turn until a stop condition; returns why it stopped."""
        while True:
            now = time.perf_counter()
            reason = self._stop_reason(now) or self._poll_user(now)
            if reason:
                return reason
            if now < self.next_due:
                # --max-fps: idle until the next slot; the frame taken then is the newest.
                time.sleep(min(self.next_due - now, _WAIT_SLICE))
                continue
            item = self.source.wait_newer(self.seq, self.wait)
            if item is None:
                if self.source.finished:
                    return "the video file ended"
                continue
            self._take(item, now)

    def _take(self, item: Captured, now: float) -> None:
        skipped = item.seq - self.seq - 1
        self.seq = item.seq
        if self.controls is not None:
            self.controls.frame_in(item.image)
        if self.controls is not None and self.controls.paused:
            self.stats.add_dropped(skipped + 1)
            if self.last_output is not None:
                self._show(self.last_output, time.perf_counter(), held=True)
            return
        self.next_due = max(self.next_due + self.min_gap, now) if self.min_gap else now
        frame = self.processor(item.image)
        self.last_output = frame
        if self.controls is not None:
            self.controls.frame_done(frame)
        self._show(frame, item.captured_at, held=False)
        done = time.perf_counter()
        self.stats.add(done - item.captured_at, skipped)
        if self.stats.due(done):
            line = self.stats.roll(done)
            if self.config.log_stats:
                name = self.controls.style_name if self.controls else ""
                print(line.text(name), file=self.stats_stream, flush=True)

    def _stop_reason(self, now: float) -> str:
        """Why the run should end now ('' to go on): a stop signal, --duration or --frames."""
        config = self.config
        if self.stop.is_set():
            return "stopped (SIGTERM)" if terminated() else "stopped (Ctrl-C)"
        if config.duration is not None and now - self.started >= config.duration:
            return f"--duration {config.duration:g} s reached"
        if config.frames is not None and self.stats.frames >= config.frames:
            return f"--frames {config.frames} reached"
        return ""

    def _poll_user(self, now: float) -> str:
        """Hand a pressed key to the controls, carry out queued controls, swap in a loaded
        style, move a morph on; why to stop ('' to go on)."""
        controls = self.controls
        if self.window is not None:
            key = self.window.poll_key(1)
            if key is not None and controls is not None:
                handle_key(controls, key)
            if self.window.closed:
                return "window closed"
        if controls is not None:
            controls.turn(now)
            if controls.quit:
                return "quit"
        return ""

    def _show(self, frame: np.ndarray, timestamp: float, held: bool) -> None:
        if self.window is not None and self.controls is not None:
            self.window.overlay = self.controls.overlay(time.perf_counter())
        for output in self.outputs:
            if held and not output.holds_while_paused:
                continue
            output.write(frame, timestamp)
