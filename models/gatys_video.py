"""Video by optimisation: Gatys et al.'s method made temporally consistent (Ruder et al. 2016).

Two offline modes, both frame-in/frame-out objects for ``realtime.runtime.frames.FrameProcessor``:

- ``GatysVideoStylizer`` (``realtime video IN OUT --style-image PAINTING``, no network).
  The first frame and every scene cut are optimised fully, coarse to fine, from the content.
  Every other frame starts from the previous output warped onto it by optical flow on the
  *inputs*, and takes ``frame_steps`` steps with Ruder et al.'s short-term temporal loss on
  the pixels the warp can be trusted on (forward-backward consistent, away from motion
  boundaries, inside the frame); every ``interval``-th frame (a keyframe) takes the full step
  count that way. Disoccluded areas have no temporal term and are free to take the style
  from the content. ``keyframe_start="content"`` starts interval keyframes from the content
  instead (with ``interval=1``: per-frame Gatys, each frame on its own).
- ``KeyframeRefiner`` (``--style NAME --keyframes gatys``): a stage after the network. On
  keyframes the network's output is refined by Gatys (it is the initialisation, so far fewer
  steps reach a good optimum than from the content); other frames pass through, and the
  temporal stage behind it carries the keyframe's look onto them.

The optical flow here is DIS at its "medium" preset on the processing size: offline, accuracy
is worth the few extra milliseconds next to seconds of optimisation per frame. The trust
tests use Ruder et al.'s own constants (eqs. 7-8), in processing-size pixels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.gatys import GatysStylizer
from realtime.core.config import KEYFRAME_STARTS
from realtime.core.errors import UserError
from realtime.vision.cuts import gray_histogram, histogram_cut
from realtime.vision.flow import FlowEstimator, to_gray, trust_mask, warp

Frame = np.ndarray
FLOW_METHOD = "dis-medium"
# Erode the trusted area by one pixel: flow right at an occlusion edge is smeared across it.
_ERODE = np.ones((3, 3), np.uint8)


@dataclass
class FrameReport:
    """What happened to one frame, for progress lines and tests."""

    index: int
    kind: str  # "keyframe" or "frame"
    reason: str  # keyframe: "first", "cut" or "interval"; frame: "warped"
    steps: int
    seconds: float
    loss: float
    trusted: float  # share of pixels with a temporal term (0 on keyframes)


Report = Callable[[FrameReport], None]


class KeyframeSchedule:
    """Decides which frames are keyframes: the first, scene cuts, and every ``interval``-th
    frame since the last keyframe."""

    def __init__(self, interval: int) -> None:
        if interval < 1:
            raise UserError(f"--keyframe-interval must be at least 1, got {interval}")
        self.interval = interval
        self._since = 0
        self._histogram: np.ndarray | None = None

    def __call__(self, gray: Frame) -> str | None:
        """The reason the frame with this grayscale image is a keyframe, or None."""
        histogram, previous = gray_histogram(gray), self._histogram
        self._histogram = histogram
        if previous is None:
            reason: str | None = "first"
        elif histogram_cut(previous, histogram):
            reason = "cut"
        elif self._since + 1 >= self.interval:
            reason = "interval"
        else:
            reason = None
        self._since = 0 if reason else self._since + 1
        return reason


def trusted_mask(current_gray: Frame, previous_gray: Frame, flow: FlowEstimator) -> tuple:
    """(backward flow current -> previous, float32 mask in {0, 1}) at the frames' size."""
    import cv2

    backward = flow(current_gray, previous_gray)
    forward = flow(previous_gray, current_gray)
    valid = trust_mask(forward, backward)
    mask = cv2.erode(valid.astype(np.uint8), _ERODE).astype(np.float32)
    return backward, mask


class GatysVideoStylizer:
    """Stylize a stream of frames (in order, at the processing size) without a network."""

    def __init__(
        self,
        optimiser: GatysStylizer,
        interval: int = 10,
        frame_steps: int = 40,
        report: Report | None = None,
        keyframe_start: str = "warped",
    ) -> None:
        if frame_steps < 1:
            raise UserError(f"--frame-steps must be at least 1, got {frame_steps}")
        if keyframe_start not in KEYFRAME_STARTS:
            known = " or ".join(KEYFRAME_STARTS)
            raise UserError(f"--keyframe-start {keyframe_start!r} is unknown; use {known}")
        self.keyframe_start = keyframe_start
        self.optimiser = optimiser
        self.frame_steps = frame_steps
        self.report = report
        self._schedule = KeyframeSchedule(interval)
        self._flow = FlowEstimator(FLOW_METHOD)
        self._index = 0
        self._previous: tuple[Frame, Frame] | None = None  # (input gray, output)

    def __call__(self, frame: Frame) -> Frame:
        started = time.perf_counter()
        gray = to_gray(frame)
        reason = self._schedule(gray)
        losses: list[float] = []

        def progress(step: int, total: int, loss: float) -> None:
            losses.append(loss)

        if self._previous is not None and self._previous[1].shape != frame.shape:
            reason = reason or "cut"  # a new size: nothing to carry over
        trusted = 0.0
        fresh = reason in ("first", "cut") or (
            reason == "interval" and self.keyframe_start == "content"
        )
        if fresh or self._previous is None:
            out = self.optimiser.stylize(frame, progress=progress)
            kind, steps = "keyframe", self.optimiser.config.steps
        else:
            # Interval keyframes (by default) and in-between frames both continue from the
            # warped previous output under the temporal loss; a keyframe just takes the full
            # step count, which clears what short optimisations leave behind (blur, drift)
            # without starting afresh, so it does not pop.
            previous_gray, previous_out = self._previous
            backward, mask = trusted_mask(gray, previous_gray, self._flow)
            warped = warp(previous_out, backward)
            trusted = float(mask.mean())
            steps = self.optimiser.config.steps if reason else self.frame_steps
            out = self.optimiser.stylize(
                frame, init=warped, temporal=(warped, mask), steps=steps, progress=progress
            )
            kind, reason = ("keyframe", reason) if reason else ("frame", "warped")
        self._previous = (gray, out)
        if self.report is not None:
            self.report(
                FrameReport(
                    index=self._index,
                    kind=kind,
                    reason=reason,
                    steps=steps,
                    seconds=time.perf_counter() - started,
                    loss=losses[-1] if losses else float("nan"),
                    trusted=trusted,
                )
            )
        self._index += 1
        return out


class KeyframeRefiner:
    """A processing-size stage after the network: keyframes refined by Gatys, others as is."""

    def __init__(
        self,
        optimiser: GatysStylizer,
        interval: int = 10,
        report: Report | None = None,
    ) -> None:
        self.optimiser = optimiser
        self.report = report
        self._schedule = KeyframeSchedule(interval)
        self._index = 0

    def __call__(self, frame: Frame, source: Frame) -> Frame:
        started = time.perf_counter()
        reason = self._schedule(to_gray(source))
        losses: list[float] = []
        out = frame
        if reason:
            out = self.optimiser.stylize(
                source, init=frame, progress=lambda step, total, loss: losses.append(loss)
            )
        if self.report is not None:
            self.report(
                FrameReport(
                    index=self._index,
                    kind="keyframe" if reason else "frame",
                    reason=reason or "network",
                    steps=self.optimiser.config.steps if reason else 0,
                    seconds=time.perf_counter() - started,
                    loss=losses[-1] if losses else float("nan"),
                    trusted=0.0,
                )
            )
        self._index += 1
        return out


def expected_seconds(
    seconds_per_step: float,
    frames: int,
    interval: int,
    keyframe_steps: float,
    frame_steps: int,
    network_mode: bool = False,
) -> float:
    """Expected optimisation time: keyframes every ``interval`` frames (cuts add more) at
    ``keyframe_steps`` full-size-equivalent steps each, the rest ``frame_steps`` each
    (none when a network does the frames in between)."""
    keyframes = -(-frames // interval)
    others = 0 if network_mode else frames - keyframes
    return seconds_per_step * (keyframes * keyframe_steps + others * frame_steps)
