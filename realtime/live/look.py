"""The parts of a live frame processor that change while the camera runs, held by name.

A live run's FrameProcessor is built with exactly one ``TemporalSlot`` at the processing size
and one ``LiveLook`` at the output size; the controls keep these two objects and change them
between frames, so nothing depends on where a stage sits in a list.
"""

from __future__ import annotations

from realtime.core.config import ProcessConfig
from realtime.core.errors import UserError
from realtime.runtime.frames import Frame, PreserveColor, Stage, Strength
from realtime.temporal.stage import check_temporal, temporal_stage


class LiveLook:
    """Strength and colour preservation at the output size (the ``+``/``-`` keys, the panel)."""

    def __init__(self, strength: float = 1.0, preserve_color: bool = False) -> None:
        self._strength = Strength(strength)  # checks the range
        self._preserve = PreserveColor()
        self.preserve_color = preserve_color

    @property
    def strength(self) -> float:
        return self._strength.amount

    @strength.setter
    def strength(self, amount: float) -> None:
        self._strength = Strength(round(float(amount), 3))

    def __call__(self, frame: Frame, source: Frame) -> Frame:
        if self.preserve_color:
            frame = self._preserve(frame, source)
        return self._strength(frame, source)


class TemporalSlot:
    """The live run's temporal stage, or none: switched on and off and re-tuned live.

    ``mode`` is the stage turned on by the ``t`` key: the run's own mode, or flow when the run
    started with it off (the better of the two)."""

    def __init__(self, mode: str, strength: float, on: bool) -> None:
        check_temporal(mode, strength)
        self.mode = "flow" if mode == "off" else mode
        self.strength = strength
        self.stage: Stage | None = temporal_stage(self.mode, strength, fast=True) if on else None

    @classmethod
    def for_process(cls, process: ProcessConfig) -> TemporalSlot:
        on = process.temporal != "off"
        return cls(process.temporal, process.temporal_strength, on)

    @property
    def on(self) -> bool:
        return self.stage is not None

    def set(self, on: bool, strength: float | None = None) -> None:
        """Turn smoothing on or off, at a new strength if given (a fresh stage: no history)."""
        if strength is not None:
            check_temporal(self.mode, strength)
            self.strength = float(strength)
        if on and self.strength == 0:
            raise UserError("temporal smoothing is off at --temporal-strength 0; give 0.1 to 1")
        self.stage = temporal_stage(self.mode, self.strength, fast=True) if on else None

    def reset(self) -> None:
        """Forget the history, e.g. at a style switch: the old style would bleed into the new."""
        reset = getattr(self.stage, "reset", None)
        if reset is not None:
            reset()
        elif self.stage is not None:
            self.stage = temporal_stage(self.mode, self.strength, fast=True)

    def __call__(self, frame: Frame, source: Frame) -> Frame:
        return frame if self.stage is None else self.stage(frame, source)
