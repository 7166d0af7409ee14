"""Every control of a live run, in one object that the window keys and the panel both drive.

Each control is a method that checks its input (a ``UserError`` for a bad one, the current
look unchanged), changes the run, and says what it did in the window's overlay. The frame loop
owns the processor, so a control called from another thread (the panel's server) is queued
and carried out by the loop between two frames; the call returns once it has taken effect,
with its result or its error. ``state()`` is the run as it is, for the panel and the API.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from realtime.core.errors import UserError
from realtime.live.look import LiveLook, TemporalSlot
from realtime.live.mixing import Mixer
from realtime.live.outputs import LiveOutput
from realtime.live.stats import LatencyStats
from realtime.live.switcher import StyleSwitcher
from realtime.runtime.frames import FrameProcessor

log = logging.getLogger(__name__)

_MESSAGE_SECONDS = 2.5  # how long a control's feedback stays in the overlay
# How long a control from another thread waits for the loop: a frame of the full network on a
# CPU takes a few hundred ms; a loop that does not turn in this long is stuck.
_CALL_TIMEOUT = 10.0

R = TypeVar("R")


def on_loop_thread(method: Callable[..., R]) -> Callable[..., R]:
    """Run the control on the frame loop's thread (queued when called from another)."""

    @functools.wraps(method)
    def call(self: LiveControls, *args: Any, **kwargs: Any) -> R:
        return self.call(lambda: method(self, *args, **kwargs))

    return call


@dataclass(frozen=True)
class LiveState:
    """A live run as it is: what ``GET /api/state`` returns, and what the overlay shows."""

    style: str
    mix: dict[str, float] | None  # a multi-style network's weights; None for one style
    morphing: bool
    strength: float
    preserve_color: bool
    temporal: bool
    temporal_strength: float
    paused: bool
    recording: str | None  # the file being recorded, if any
    loading: str | None  # a style being loaded in the background
    fps: float
    latency_p50_ms: float
    latency_p95_ms: float
    dropped: int
    frames: int
    provider: str
    arch: str  # full | lite
    styles: list[str]  # what set_style takes
    mixable: list[str]  # what set_mix and morph_to take (empty: no mixing)
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LiveControls:
    """The controls of one live run around its FrameProcessor."""

    def __init__(
        self,
        processor: FrameProcessor,
        look: LiveLook,
        temporal: TemporalSlot,
        *,
        mixer: Mixer | None = None,
        switcher: StyleSwitcher | None = None,
        snapshot_dir: Path = Path("."),
        outputs: list[LiveOutput] | None = None,
        open_recording: Callable[[Path], LiveOutput] | None = None,
        recording: LiveOutput | None = None,
        provider: str = "",
        arch: str = "",
    ) -> None:
        self.processor, self.look, self.temporal = processor, look, temporal
        self.mixer, self.switcher = mixer, switcher
        self.snapshot_dir = snapshot_dir
        self.outputs = outputs if outputs is not None else []
        self._open_recording = open_recording
        self.recording = recording
        self.provider, self.arch = provider, arch
        self.paused = False
        self.quit = False
        self.message, self.message_until = "", 0.0
        self.snapshots: list[Path] = []
        self.last_output: np.ndarray | None = None
        # The newest camera frame the loop took, as it came (paused too): what a painting added
        # from the panel trains on and previews with (realtime.app.add_style).
        self.last_input: np.ndarray | None = None
        self.outputs_done = 0  # frames sent to the outputs, numbering last_output
        self.stats: LatencyStats | None = None
        self._loop_thread: threading.Thread | None = None
        self._ended = False
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future]]
        self._commands = queue.SimpleQueue()

    # -- the loop's side ---------------------------------------------------------------------

    def attach(self, stats: LatencyStats) -> None:
        """The calling thread runs the frame loop from now on; controls from others queue."""
        self.stats = stats
        self._loop_thread = threading.current_thread()

    def detach(self) -> None:
        """The loop ended: controls run where they are called, and queued ones are answered."""
        self._loop_thread = None
        self.run_pending()
        self._ended = True
        if self.switcher is not None:
            self.switcher.close()

    def call(self, action: Callable[[], R]) -> R:
        if self._ended:
            raise UserError("the live run has ended")
        loop = self._loop_thread
        if loop is None or loop is threading.current_thread():
            return action()
        future: concurrent.futures.Future[R] = concurrent.futures.Future()
        self._commands.put((action, future))
        try:
            return future.result(timeout=_CALL_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise UserError(
                f"the live loop did not answer within {_CALL_TIMEOUT:g} s; it may be stuck "
                "in an output"
            ) from None

    def run_pending(self) -> None:
        """Carry out the controls queued by other threads (on the loop's thread)."""
        while True:
            try:
                action, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(action())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                future.set_exception(exc)

    def turn(self, now: float) -> None:
        """Once per loop turn: queued controls, a style that finished loading, a morph."""
        self.run_pending()
        self._poll_style()
        if self.mixer is not None:
            self.mixer.tick(now)

    def frame_in(self, frame: np.ndarray) -> None:
        self.last_input = frame

    def frame_done(self, frame: np.ndarray) -> None:
        self.last_output = frame
        self.outputs_done += 1

    def say(self, text: str) -> None:
        """Shown in the window's overlay for a few seconds, in the panel's state, and logged
        (a headless run's only witness of what a key or the panel did)."""
        self.message = text
        self.message_until = time.perf_counter() + _MESSAGE_SECONDS
        log.info("%s", text)

    # -- style -------------------------------------------------------------------------------

    @property
    def style_name(self) -> str:
        if self.mixer is not None:
            return self.mixer.styles[self.mixer.dominant]
        return self.switcher.current if self.switcher else ""

    @property
    def styles(self) -> list[str]:
        if self.mixer is not None:
            return self.mixer.styles
        return list(self.switcher.names) if self.switcher else []

    @on_loop_thread
    def set_style(self, name: str) -> None:
        """Paint ``name`` alone: at once with a multi-style network, else once it has loaded."""
        if self.mixer is not None:
            self.mixer.switch(self.mixer.index(name))
            self.say(f"style {name}")
            return
        if self.switcher is None:
            raise UserError("style switching is off in this run")
        self.switcher.request_name(name)
        self.say(f"loading style {name}" if self.switcher.loading else f"style {name}")

    @on_loop_thread
    def step_style(self, step: int) -> None:
        """The next (1) or previous (-1) style."""
        styles = self.styles
        if len(styles) < 2:
            raise UserError("only one style here; 'realtime styles' lists what can be added")
        current = self.switcher.requested if self.switcher else self.style_name
        self.set_style(styles[(styles.index(current) + step) % len(styles)])

    def _poll_style(self) -> None:
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
            self.temporal.reset()  # the previous style's history would bleed into the new one
            self.say(f"style {name}")

    # -- mixing ------------------------------------------------------------------------------

    def _need_mixer(self) -> Mixer:
        if self.mixer is None:
            raise UserError("mixing needs a multi-style network (see 'realtime styles', MIXES)")
        return self.mixer

    @on_loop_thread
    def set_mix(self, weights: dict[str, float]) -> None:
        """Paint this mix of the network's styles (weights need not sum to 1)."""
        mixer = self._need_mixer()
        for name, weight in weights.items():
            mixer.index(name)
            if not (isinstance(weight, int | float) and math.isfinite(weight)) or weight < 0:
                raise UserError(f"the weight of {name!r} must be a number 0 or more, got {weight}")
        if sum(weights.values()) <= 0:
            raise UserError("a mix needs at least one weight above 0")
        mixer.set_weights(weights)
        self.say(mixer.describe())

    @on_loop_thread
    def morph_to(self, name: str, seconds: float | None = None) -> None:
        """Move from the current mix to ``name`` alone over ``seconds`` (the run's default)."""
        mixer = self._need_mixer()
        target = mixer.index(name)
        if seconds is not None:
            if not math.isfinite(seconds) or seconds <= 0:
                raise UserError(f"morph seconds must be positive, got {seconds}")
            mixer.morph_seconds = float(seconds)
        mixer.morph_to(target, time.perf_counter())
        self.say(f"morphing to {name}")

    @on_loop_thread
    def replace_network(self, stylizer: Any, select: str) -> None:
        """Paint with ``stylizer`` from the next frame: a multi-style network with the running
        one's styles in their order and more after them (a painting added from the panel),
        loaded and warmed up elsewhere; then ``select`` alone. The mix's morph speed carries
        over; the temporal history does not (the old network's strokes would bleed in)."""
        old = self._need_mixer()
        styles = list(stylizer.styles)
        if styles[: len(old.styles)] != old.styles or select not in styles:
            raise UserError(
                f"the new network paints {', '.join(styles)}, not the running "
                f"{', '.join(old.styles)} and {select}; restart the run to use it"
            )
        mixer = Mixer(stylizer, old.morph_seconds)
        mixer.switch(mixer.index(select))
        self.processor.stylize = stylizer
        self.mixer = mixer
        self.temporal.reset()
        self.say(f"new style {select}: painting it")

    @on_loop_thread
    def morph_next(self) -> None:
        mixer = self._need_mixer()
        self.morph_to(mixer.styles[(mixer.dominant + 1) % len(mixer.styles)])

    @on_loop_thread
    def shift_mix(self, step: float) -> None:
        """Move ``step`` of weight to the next style of the pair ([ and ])."""
        mixer = self._need_mixer()
        mixer.shift(step)
        self.say(mixer.describe())

    # -- the look ----------------------------------------------------------------------------

    @on_loop_thread
    def set_strength(self, amount: float) -> None:
        if not isinstance(amount, int | float) or not math.isfinite(amount):
            raise UserError(f"strength must be a number between 0 and 1, got {amount!r}")
        self.look.strength = amount
        self.say(f"strength {self.look.strength:.2g}")

    @on_loop_thread
    def change_strength(self, delta: float) -> None:
        self.set_strength(min(1.0, max(0.0, round(self.look.strength + delta, 2))))

    @on_loop_thread
    def set_preserve_color(self, on: bool) -> None:
        self.look.preserve_color = bool(on)
        self.say("colours of the camera kept" if on else "colours of the painting")

    @on_loop_thread
    def set_temporal(self, on: bool, strength: float | None = None) -> None:
        if strength is not None and not isinstance(strength, int | float):
            raise UserError(f"temporal strength must be a number, got {strength!r}")
        self.temporal.set(bool(on), strength)
        self.say("temporal smoothing on" if on else "temporal smoothing off")

    @on_loop_thread
    def toggle_temporal(self) -> None:
        self.set_temporal(not self.temporal.on)

    @on_loop_thread
    def set_paused(self, paused: bool) -> None:
        self.paused = bool(paused)
        self.say("paused" if self.paused else "resumed")

    def request_quit(self) -> None:
        """Stop the run at the loop's next turn (a flag: safe from any thread)."""
        self.quit = True

    # -- files -------------------------------------------------------------------------------

    @on_loop_thread
    def snapshot(self) -> Path:
        """Save the last output frame as a PNG in the snapshot folder; returns its path."""
        frame = self.last_output
        if frame is None:
            raise UserError("no frame to save yet")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = f"realtime-{self.style_name or 'live'}-{stamp}"
        path = self.snapshot_dir / f"{base}.png"
        n = 1
        while path.exists():
            path = self.snapshot_dir / f"{base}-{n}.png"
            n += 1
        if not cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
            raise UserError(f"could not save a snapshot to {path}; check the folder is writable")
        self.snapshots.append(path)
        self.say(f"saved {path}")
        return path

    @on_loop_thread
    def start_recording(self, path: Path) -> None:
        """Record the stylized stream to ``path`` from the next frame on."""
        if self.recording is not None:
            raise UserError(f"already recording to {_recording_path(self.recording)}")
        if self._open_recording is None:
            raise UserError("this run cannot record")
        self.recording = self._open_recording(Path(path))
        self.outputs.append(self.recording)
        self.say(f"recording to {path}")

    @on_loop_thread
    def stop_recording(self) -> str:
        """Finalise the recording; returns its summary line."""
        if self.recording is None:
            raise UserError("not recording")
        recording, self.recording = self.recording, None
        self.outputs.remove(recording)
        summary = recording.close(complete=True)
        self.say(summary)
        return summary

    # -- what the run is ---------------------------------------------------------------------

    def state(self) -> LiveState:
        """Read without waiting for the loop: every field is a plain value it replaces whole,
        so a reader on another thread sees each one either before or after a change."""
        line = self.stats.last if self.stats is not None else None
        mixer = self.mixer
        now = time.perf_counter()
        return LiveState(
            style=self.style_name,
            mix=dict(zip(mixer.styles, map(float, mixer.weights), strict=True)) if mixer else None,
            morphing=bool(mixer and mixer.morphing),
            strength=self.look.strength,
            preserve_color=self.look.preserve_color,
            temporal=self.temporal.on,
            temporal_strength=self.temporal.strength,
            paused=self.paused,
            recording=str(_recording_path(self.recording)) if self.recording else None,
            loading=self.switcher.loading if self.switcher else None,
            fps=line.fps if line else 0.0,
            latency_p50_ms=line.p50_ms if line else 0.0,
            latency_p95_ms=line.p95_ms if line else 0.0,
            dropped=self.stats.dropped if self.stats else 0,
            frames=self.stats.frames if self.stats else 0,
            provider=self.provider,
            arch=self.arch,
            styles=self.styles,
            mixable=mixer.styles if mixer else [],
            message=self.message if now < self.message_until else "",
        )

    def overlay(self, now: float) -> list[str]:
        """The window's text: rate and latency, the style or mix and the look, the message."""
        lines = []
        line = self.stats.last if self.stats is not None else None
        if line is not None:
            lines.append(
                f"{line.fps:.1f} fps  latency p50 {line.p50_ms:.0f} ms  p95 {line.p95_ms:.0f} ms"
            )
        look = f"strength {self.look.strength:.1f}" + ("  temporal" if self.temporal.on else "")
        name = self.mixer.describe() if self.mixer is not None else self.style_name
        lines.append(f"{name}  {look}".strip())
        if self.paused:
            lines.append("PAUSED")
        if self.message and now < self.message_until:
            lines.append(self.message)
        return lines


def _recording_path(recording: LiveOutput) -> Path:
    return Path(getattr(recording, "path", recording.name))
