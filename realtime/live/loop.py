"""The live loop: newest camera frame -> stylize -> outputs, with latency and fps statistics.

Policy: latency stays bounded when the stylizer is slower than the camera. The loop always
takes the newest frame (``realtime.camera``: latest frame wins) and the frames that arrived
while it was busy are dropped, never queued. Latency is measured from the moment a frame left
the source to the moment every output has taken the stylized frame, and reported once a
second (p50, p95, output fps) on stderr and in the window overlay.

The stylizer runs in the calling thread, which must be the main thread when a window is
shown (OpenCV's GUI needs it on macOS); Ctrl-C there stops the loop cleanly and every output
is finalised.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from realtime.core.errors import UserError
from realtime.live.camera import CameraLost, FrameSource
from realtime.live.mixing import SHIFT_STEP, Mixer
from realtime.live.outputs import LiveOutput, WindowOutput
from realtime.runtime.frames import FrameProcessor, Stage, Strength, Stylize

log = logging.getLogger(__name__)

STRENGTH_STEP = 0.1
_MESSAGE_SECONDS = 2.5  # how long a hotkey's feedback stays in the overlay
_WAIT_SLICE = 0.02  # longest wait for a frame before the window's events are pumped again
# Latency histogram: 1 ms bins up to a minute, so whole-run percentiles take bounded memory.
_HIST_BINS = 60_000

KEYS_HELP = (
    "n/p next/previous style, m morph to the next style, [/] shift the mix, t temporal on/off, "
    "+/- strength, space pause, s snapshot, q/Esc quit"
)


@dataclass(frozen=True)
class LiveConfig:
    """How the live loop runs (the stylizing itself is RunConfig's)."""

    max_fps: float | None = None  # cap the output rate; None: as fast as frames come
    duration: float | None = None  # stop after this many seconds
    frames: int | None = None  # stop after this many output frames
    stats_interval: float = 1.0  # seconds between statistics lines
    log_stats: bool = True  # print the statistics line on stderr
    snapshot_dir: Path = Path(".")

    def check(self) -> None:
        for name, value in (
            ("--max-fps", self.max_fps),
            ("--duration", self.duration),
            ("--frames", self.frames),
        ):
            if value is not None and value <= 0:
                raise UserError(f"{name} must be positive, got {value}")
        if self.stats_interval <= 0:
            raise ValueError("stats_interval must be positive")


@dataclass(frozen=True)
class StatsLine:
    fps: float
    p50_ms: float
    p95_ms: float
    frames: int  # output frames in the interval
    dropped: int  # source frames skipped in the interval

    def text(self, style: str = "") -> str:
        tail = f" | style {style}" if style else ""
        return (
            f"live: {self.fps:.1f} fps | latency p50 {self.p50_ms:.0f} ms, "
            f"p95 {self.p95_ms:.0f} ms | dropped {self.dropped}{tail}"
        )


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


class LatencyStats:
    """Capture-to-output latency and output rate, per interval and over the whole run."""

    def __init__(self, interval: float = 1.0, now: float | None = None) -> None:
        self.interval = interval
        self._interval_start = time.perf_counter() if now is None else now
        self._latencies: list[float] = []
        self._dropped = 0
        self._hist = np.zeros(_HIST_BINS + 1, dtype=np.int64)
        self.frames = 0
        self.dropped = 0
        self.max_latency = 0.0
        self.last: StatsLine | None = None

    def add(self, latency: float, dropped_before: int = 0) -> None:
        self._latencies.append(latency)
        self._dropped += dropped_before
        self.frames += 1
        self.dropped += dropped_before
        self.max_latency = max(self.max_latency, latency)
        self._hist[min(_HIST_BINS, max(0, int(latency * 1000)))] += 1

    def add_dropped(self, count: int) -> None:
        self._dropped += count
        self.dropped += count

    def due(self, now: float) -> bool:
        return now - self._interval_start >= self.interval

    def roll(self, now: float) -> StatsLine:
        """Close the current interval and return its numbers."""
        elapsed = max(now - self._interval_start, 1e-9)
        line = StatsLine(
            fps=len(self._latencies) / elapsed,
            p50_ms=1000 * _percentile(self._latencies, 50),
            p95_ms=1000 * _percentile(self._latencies, 95),
            frames=len(self._latencies),
            dropped=self._dropped,
        )
        self._latencies.clear()
        self._dropped = 0
        self._interval_start = now
        self.last = line
        return line

    def overall_ms(self, q: float) -> float:
        """Whole-run latency percentile in milliseconds (1 ms resolution)."""
        total = int(self._hist.sum())
        if total == 0:
            return 0.0
        rank = int(np.searchsorted(np.cumsum(self._hist), q / 100 * total, side="left"))
        return float(rank) + 0.5


class StyleSwitcher:
    """Cycles through style names; loads the next stylizer in a thread while the current one
    keeps running, and keeps loaded ones so switching back is instant."""

    def __init__(
        self,
        names: Sequence[str],
        current: str,
        current_stylizer: Stylize,
        load: Callable[[str], Stylize],
    ) -> None:
        self.names = list(names) if current in names else [current, *names]
        self.index = self.names.index(current)
        self._target = self.index
        self._load = load
        self._loaded: dict[int, Stylize] = {self.index: current_stylizer}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loading: tuple[int, concurrent.futures.Future[Stylize]] | None = None

    @property
    def current(self) -> str:
        return self.names[self.index]

    @property
    def loading(self) -> str | None:
        return self.names[self._loading[0]] if self._loading else None

    def request(self, step: int) -> str:
        """Ask for the style ``step`` places on from the last one asked for; returns its name."""
        if len(self.names) < 2:
            raise UserError(
                "only one style is installed; add NAME.onnx files to the styles folder "
                "(see 'realtime styles') to switch with n/p"
            )
        self._target = (self._target + step) % len(self.names)
        self._start_loading()
        return self.names[self._target]

    def poll(self) -> tuple[str, Stylize] | None:
        """The newly selected (name, stylizer) once it is loaded, else None.

        A style that fails to load raises UserError; the current style stays in use.
        """
        if self._loading is not None and self._loading[1].done():
            index, future = self._loading
            self._loading = None
            try:
                self._loaded[index] = future.result()
            except UserError as exc:
                self._target = self.index
                raise UserError(f"style {self.names[index]} not loaded: {exc}") from exc
            self._start_loading()
        if self._target != self.index and self._target in self._loaded:
            self.index = self._target
            return self.current, self._loaded[self.index]
        return None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _start_loading(self) -> None:
        if self._loading is not None or self._target in self._loaded:
            return
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, "load style")
        name = self.names[self._target]
        self._loading = (self._target, self._executor.submit(self._load, name))


@dataclass
class LiveControls:
    """What the hotkeys change. Created once per run around its FrameProcessor."""

    processor: FrameProcessor
    strength: Strength
    temporal: list[Stage]  # the processor's at_process_size list, edited in place
    switcher: StyleSwitcher | None = None
    snapshot_dir: Path = Path(".")
    # Fresh temporal stages for the t key (realtime.app.build.temporal_maker); None from it
    # means the configured strength turns smoothing off.
    temporal_maker: Callable[[], Stage | None] = lambda: None
    # A multi-style network's mix (realtime.live.mixing): then n/p switch and m/[/] mix
    # without any reload; None: styles are separate networks (the switcher loads them).
    mixer: Mixer | None = None
    paused: bool = False
    quit: bool = False
    message: str = ""
    message_until: float = 0.0
    snapshots: list[Path] = field(default_factory=list)

    def say(self, text: str) -> None:
        """Shown in the window's overlay for a few seconds, and logged."""
        self.message = text
        self.message_until = time.perf_counter() + _MESSAGE_SECONDS
        log.info("%s", text)

    @property
    def style_name(self) -> str:
        if self.mixer is not None:
            return self.mixer.styles[self.mixer.dominant]
        return self.switcher.current if self.switcher else ""

    def handle_key(self, key: int, last_output: np.ndarray | None) -> None:
        char = chr(key) if 0 <= key < 256 else ""
        if char in ("q", "Q") or key == 27:
            self.quit = True
        elif char == " ":
            self.paused = not self.paused
            self.say("paused" if self.paused else "resumed")
        elif char in ("n", "p"):
            self.switch_style(1 if char == "n" else -1)
        elif char == "t":
            self.toggle_temporal()
        elif char in ("+", "="):
            self.change_strength(STRENGTH_STEP)
        elif char in ("-", "_"):
            self.change_strength(-STRENGTH_STEP)
        elif char == "s":
            self.snapshot(last_output)
        elif char in ("m", "[", "]"):
            self.mix_key(char)

    def mix_key(self, char: str) -> None:
        if self.mixer is None:
            self.say("mixing needs a multi-style network (see 'realtime styles', MIXES)")
            return
        if char == "m":
            target = (self.mixer.dominant + 1) % len(self.mixer.styles)
            self.mixer.morph_to(target, time.perf_counter())
            self.say(f"morphing to {self.mixer.styles[target]}")
        else:
            self.mixer.shift(SHIFT_STEP if char == "]" else -SHIFT_STEP)
            self.say(self.mixer.describe())

    def tick(self, now: float) -> None:
        """Per frame, before it is stylized: a morph moves on."""
        if self.mixer is not None:
            self.mixer.tick(now)

    def switch_style(self, step: int) -> None:
        if self.mixer is not None:
            self.mixer.switch((self.mixer.dominant + step) % len(self.mixer.styles))
            self.say(f"style {self.mixer.styles[self.mixer.dominant]}")
            return
        if self.switcher is None:
            self.say("style switching is off")
            return
        try:
            name = self.switcher.request(step)
        except UserError as exc:
            self.say(str(exc))
            return
        self.say(f"loading style {name}" if self.switcher.loading else f"style {name}")

    def poll_style(self) -> None:
        """Swap in a style that finished loading (called once per loop turn)."""
        if self.switcher is None:
            return
        try:
            ready = self.switcher.poll()
        except UserError as exc:
            self.say(str(exc))
            return
        if ready is not None:
            name, stylize = ready
            self.processor.stylize = stylize
            # The previous style's history would bleed into the new one.
            self.temporal[:] = [self._fresh(stage) for stage in self.temporal]
            self.say(f"style {name}")

    def toggle_temporal(self) -> None:
        if self.temporal:
            self.temporal.clear()
            self.say("temporal smoothing off")
            return
        stage = self.temporal_maker()
        if stage is None:
            self.say("temporal smoothing is off at --temporal-strength 0; give 0.1 to 1")
            return
        self.temporal.append(stage)
        self.say("temporal smoothing on")

    def _fresh(self, stage: Stage) -> Stage:
        """``stage`` without its history: reset in place when it can, else a new one."""
        reset = getattr(stage, "reset", None)
        if reset is not None:
            reset()
            return stage
        fresh = self.temporal_maker()
        if fresh is None:  # it made the stage being replaced
            raise RuntimeError("the temporal maker stopped making stages while running")
        return fresh

    def change_strength(self, delta: float) -> None:
        self.strength.amount = round(min(1.0, max(0.0, self.strength.amount + delta)), 2)
        self.say(f"strength {self.strength.amount:.1f}")

    def snapshot(self, frame: np.ndarray | None) -> Path | None:
        if frame is None:
            self.say("no frame to save yet")
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = f"realtime-{self.style_name or 'live'}-{stamp}"
        path = self.snapshot_dir / f"{base}.png"
        n = 1
        while path.exists():
            path = self.snapshot_dir / f"{base}-{n}.png"
            n += 1
        if not cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
            self.say(f"could not save a snapshot to {path}; check the folder is writable")
            return None
        self.snapshots.append(path)
        self.say(f"saved {path}")
        return path

    def overlay(self, stats: StatsLine | None, now: float) -> list[str]:
        lines = []
        if stats is not None:
            lines.append(
                f"{stats.fps:.1f} fps  latency p50 {stats.p50_ms:.0f} ms  p95 {stats.p95_ms:.0f} ms"
            )
        look = f"strength {self.strength.amount:.1f}" + ("  temporal" if self.temporal else "")
        name = self.mixer.describe() if self.mixer is not None else self.style_name
        lines.append(f"{name}  {look}".strip())
        if self.paused:
            lines.append("PAUSED")
        if self.message and now < self.message_until:
            lines.append(self.message)
        return lines


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


@contextlib.contextmanager
def _ctrl_c_stops(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C sets ``stop`` instead of raising mid-frame: the loop ends at the next turn and
    every output is finalised. A second Ctrl-C raises, for a loop stuck in an output (the
    recording is then kept as NAME.partial.EXT). Only the main thread may install signal
    handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_live(
    source: FrameSource,
    processor: FrameProcessor,
    outputs: Sequence[LiveOutput],
    config: LiveConfig,
    controls: LiveControls | None = None,
    stats_stream: TextIO | None = None,
) -> LiveResult:
    """Stylize the newest frame of ``source`` into ``outputs`` until a stop condition.

    Stops on: ``config.duration`` / ``config.frames``, q/Esc or closing the window, Ctrl-C,
    the end of a video file (all normal ends: outputs are finalised complete), or
    CameraLost (outputs finalised complete, then raised). Any other error finalises the
    outputs as incomplete and is raised.
    """
    config.check()
    stats_stream = stats_stream or sys.stderr
    window = next((o for o in outputs if isinstance(o, WindowOutput)), None)
    stop = threading.Event()
    started = time.perf_counter()
    stats = LatencyStats(config.stats_interval, started)
    min_gap = 1.0 / config.max_fps if config.max_fps else 0.0
    next_due = started
    seq = 0
    last_output: np.ndarray | None = None
    reason = ""
    summaries: list[str] = []
    source.start()
    try:
        with _ctrl_c_stops(stop):
            while True:
                now = time.perf_counter()
                reason = _stop_reason(config, stop, stats, started, now) or _poll_user(
                    window, controls, last_output
                )
                if reason:
                    break
                if now < next_due:
                    # --max-fps: idle until the next slot; the frame taken then is the newest.
                    time.sleep(min(next_due - now, _WAIT_SLICE))
                    continue
                item = source.wait_newer(seq, _WAIT_SLICE if window else 0.1)
                if item is None:
                    if source.finished:
                        reason = "the video file ended"
                        break
                    continue
                skipped = item.seq - seq - 1
                seq = item.seq
                if controls is not None and controls.paused:
                    stats.add_dropped(skipped + 1)
                    if last_output is not None:
                        show = (window, controls, stats)
                        _show(outputs, last_output, time.perf_counter(), *show, held=True)
                    continue
                next_due = max(next_due + min_gap, now) if min_gap else now
                if controls is not None:
                    controls.tick(time.perf_counter())
                last_output = processor(item.image)
                _show(outputs, last_output, item.captured_at, window, controls, stats, held=False)
                done = time.perf_counter()
                stats.add(done - item.captured_at, skipped)
                if stats.due(done):
                    line = stats.roll(done)
                    if config.log_stats:
                        name = controls.style_name if controls else ""
                        print(line.text(name), file=stats_stream, flush=True)
    except CameraLost:
        summaries = _close_all(outputs, complete=True)
        for summary in summaries:
            log.info("%s", summary)
        raise
    except BaseException:
        _close_all(outputs, complete=False)
        raise
    finally:
        source.close()
        if controls is not None and controls.switcher is not None:
            controls.switcher.close()
    summaries = _close_all(outputs, complete=True)
    return LiveResult(
        frames_in=source.published,
        frames_out=stats.frames,
        dropped=stats.dropped,
        seconds=time.perf_counter() - started,
        latency_p50_ms=stats.overall_ms(50),
        latency_p95_ms=stats.overall_ms(95),
        latency_max_ms=1000 * stats.max_latency,
        stop_reason=reason,
        outputs=summaries,
        notices=list(source.notices),
    )


def _stop_reason(
    config: LiveConfig, stop: threading.Event, stats: LatencyStats, started: float, now: float
) -> str:
    """Why the run should end now ('' to go on): Ctrl-C, --duration or --frames."""
    if stop.is_set():
        return "stopped (Ctrl-C)"
    if config.duration is not None and now - started >= config.duration:
        return f"--duration {config.duration:g} s reached"
    if config.frames is not None and stats.frames >= config.frames:
        return f"--frames {config.frames} reached"
    return ""


def _poll_user(
    window: WindowOutput | None, controls: LiveControls | None, last_output: np.ndarray | None
) -> str:
    """Hand a pressed key to the controls, swap in a loaded style; why to stop ('' to go on)."""
    if window is not None:
        key = window.poll_key(1)
        if key is not None and controls is not None:
            controls.handle_key(key, last_output)
        if window.closed:
            return "window closed"
    if controls is not None:
        if controls.quit:
            return "quit"
        controls.poll_style()
    return ""


def _show(
    outputs: Sequence[LiveOutput],
    frame: np.ndarray,
    timestamp: float,
    window: WindowOutput | None,
    controls: LiveControls | None,
    stats: LatencyStats,
    held: bool,
) -> None:
    if window is not None and controls is not None:
        window.overlay = controls.overlay(stats.last, time.perf_counter())
    for output in outputs:
        if held and not output.holds_while_paused:
            continue
        output.write(frame, timestamp)


def _close_all(outputs: Sequence[LiveOutput], complete: bool) -> list[str]:
    """Close every output even if one fails; the first failure is raised after the rest."""
    summaries: list[str] = []
    first_error: BaseException | None = None
    for output in outputs:
        try:
            summaries.append(output.close(complete=complete))
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the others closed
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return summaries
