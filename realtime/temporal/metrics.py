"""Temporal-consistency metrics for a stylized video: warping error, style change, sharpness.

Frames are uint8 RGB ``(H, W, 3)``, read as RGB in [0, 1]. ``I_t`` are the input frames,
``O_t`` the stylized output frames, ``R_t`` a reference stylization (the same network with
no temporal blending), t = 1..T, all of one size.

**Warping error** (Lai et al. 2018, "Learning Blind Video Temporal Consistency", sec. 5):

    E_warp = 1/P * sum over scored pairs t of
             sum_p M_t(p) * sum_c (O_t(p, c) - O~_{t-1}(p, c))^2 / (3 * sum_p M_t(p))

i.e. the mean squared RGB difference between each output frame and the previous output
frame warped onto it, over the pixels the mask keeps, averaged over frame pairs. Here
``O~_{t-1}(p) = O_{t-1}(p + b_t(p))`` (bilinear), with ``b_t`` the flow from ``I_t`` to
``I_{t-1}`` and ``f_t`` the flow from ``I_{t-1}`` to ``I_t``, both estimated on the
*inputs* (so the output cannot steer its own mask). ``M_t(p) = 1`` where all of:

- ``p + b_t(p)`` lies inside the frame;
- forward-backward consistency (Ruder et al. 2016, eq. 7): ``|f~ + b|^2 <= 0.01 *
  (|f~|^2 + |b|^2) + 0.5``, with ``f~(p) = f_t(p + b_t(p))``;
- no motion boundary (Ruder et al. 2016, eq. 8): ``|grad b_x|^2 + |grad b_y|^2 <=
  0.01 * |b|^2 + 0.002``;

all in pixels of the full frame. Flow is OpenCV's DIS, refined down to full resolution
(``dis-fine``: the medium preset with finest scale 0), on grayscale inputs downscaled to a
long side of at most ``METRIC_FLOW_LONG_SIDE`` px, then upscaled and rescaled. It is not the
stage's flow (DIS's fast preset, which stops at a quarter of a 320-px copy), so the stage's
flow errors are not excused by the same errors here. Until 2026-12 the metric used
Farneback, chosen as a different algorithm family; on the real motion of ``cockatoo.mp4``
it mis-tracked: the previous *input* warped with it differed from the current input by 2.7
grey levels (mean absolute, over the pixels its own mask kept) against 1.4 with
``dis-fine``, and a flow that misses by a pixel charges every sharp stroke as flicker, so
the metric rewarded blur (docs/TEMPORAL.md, "Where the softening comes from").
Pairs whose mask is empty are skipped and counted. Lower is better; 0 means perfectly
motion-consistent. The inputs' own warping error is reported beside it: the floor that
flow errors and lighting changes leave even for a perfectly consistent video. Lai et al.
used FlowNet2 and ``M`` from Ruder's code, so absolute values differ from their tables.

**Style change** against a reference (so a blend cannot win by fading the style):

    S = sum_t sum_p,c |O_t - R_t| / sum_t sum_p,c |R_t - I_t|

the mean absolute difference between the output and the unblended stylization, relative to
how far the stylization itself is from the input. 0 means the output is the reference; 1
means the output differs from the reference as much as the reference differs from the
input. Temporal blending removes flicker, which also counts here, so a small S is expected;
a large S means the style was washed out or smeared.

**Sharpness** (what a blend must not take away while it removes flicker):

    G(X) = mean over pixels of sqrt(Sx^2 + Sy^2) / 8

the mean gradient magnitude of the grey frame (BT.601 luma, 0..255) with 3x3 Sobel
filters (``/ 8``: a ramp of one grey level per pixel scores 1), summed over frames. Reported
as ``G(output)`` per frame and, with a reference, as ``G(output) / G(reference)``: 1 keeps
every stroke's edges as sharp as the unblended stylization; averaging strokes that do not
line up, or resampling them again and again, lowers it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from realtime.core.errors import UserError
from realtime.vision.flow import (
    FlowEstimator,
    downscale,
    flow_size,
    resize_flow,
    squared_norm,
    to_gray,
    trust_mask,
    warp,
)

Frame = np.ndarray
METRIC_FLOW_METHOD = "dis-fine"
METRIC_FLOW_LONG_SIDE = 640


@dataclass(frozen=True)
class TemporalScores:
    frames: int
    pairs: int  # frame pairs scored
    skipped_pairs: int  # pairs with an empty mask (e.g. scene cuts with nothing to match)
    warping_error: float  # of the output, RGB in [0, 1]; see the module docstring
    input_warping_error: float  # the same measure on the input frames: the floor
    valid_fraction: float  # mean share of pixels the mask kept, over scored pairs
    style_change: float | None = None  # against the reference; None without one
    sharpness: float = 0.0  # mean gradient magnitude of the output, grey levels per pixel
    sharpness_ratio: float | None = None  # the output's sharpness / the reference's

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


class WarpingErrorMeter:
    """Warping error accumulated one (input, output) frame at a time, in order."""

    def __init__(
        self, flow_method: str = METRIC_FLOW_METHOD, flow_long_side: int = METRIC_FLOW_LONG_SIDE
    ) -> None:
        self._flow = FlowEstimator(flow_method)
        self._long_side = flow_long_side
        self._previous: tuple[Frame, Frame, Frame] | None = None  # gray, input, output
        self._errors: list[float] = []
        self._input_errors: list[float] = []
        self._valid: list[float] = []
        self.skipped = 0

    def add(self, input_frame: Frame, output_frame: Frame) -> None:
        height, width = input_frame.shape[:2]
        gray = to_gray(downscale(input_frame, flow_size(width, height, self._long_side)))
        previous, self._previous = self._previous, (gray, input_frame, output_frame)
        if previous is None:
            return
        previous_gray, previous_input, previous_output = previous
        backward = resize_flow(self._flow(gray, previous_gray), (width, height))
        forward = resize_flow(self._flow(previous_gray, gray), (width, height))
        mask = trust_mask(forward, backward)  # Ruder et al.'s thresholds
        kept = int(mask.sum())
        if kept == 0:
            self.skipped += 1
            return
        self._errors.append(_masked_mse(output_frame, warp(previous_output, backward), mask, kept))
        self._input_errors.append(
            _masked_mse(input_frame, warp(previous_input, backward), mask, kept)
        )
        self._valid.append(kept / mask.size)

    @property
    def pairs(self) -> int:
        return len(self._errors)

    def result(self) -> tuple[float, float, float]:
        """(output warping error, input warping error, mean kept fraction)."""
        if not self._errors:
            raise UserError(
                "no frame pair could be scored (fewer than 2 frames, or no pixel passed the "
                "occlusion test); give a clip with at least 2 frames of continuous footage"
            )
        return (
            float(np.mean(self._errors)),
            float(np.mean(self._input_errors)),
            float(np.mean(self._valid)),
        )


def _masked_mse(a: Frame, b: Frame, mask: np.ndarray, kept: int) -> float:
    difference = (a.astype(np.float32) - b.astype(np.float32)) / 255.0
    squared = squared_norm(difference)
    return float(squared[mask].sum(dtype=np.float64)) / (3 * kept)


class StyleChangeMeter:
    """Style change against a reference, accumulated frame by frame."""

    def __init__(self) -> None:
        self._changed = 0.0
        self._stylized = 0.0

    def add(self, input_frame: Frame, output_frame: Frame, reference_frame: Frame) -> None:
        reference = reference_frame.astype(np.int16)
        self._changed += float(np.abs(output_frame.astype(np.int16) - reference).sum())
        self._stylized += float(np.abs(reference - input_frame.astype(np.int16)).sum())

    def result(self) -> float:
        if self._stylized == 0:
            raise UserError(
                "the reference video equals the input, so there is no style to retain; "
                "give the unblended stylized video as --reference"
            )
        return self._changed / self._stylized


def gradient_magnitude(frame: Frame) -> float:
    """Mean Sobel gradient magnitude of the grey frame, grey levels per pixel."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    return float(cv2.magnitude(dx, dy).mean()) / 8.0


class SharpnessMeter:
    """Sharpness of the output and, if given, of the reference, frame by frame."""

    def __init__(self) -> None:
        self._output = 0.0
        self._reference = 0.0
        self._frames = 0

    def add(self, output_frame: Frame, reference_frame: Frame | None = None) -> None:
        self._output += gradient_magnitude(output_frame)
        if reference_frame is not None:
            self._reference += gradient_magnitude(reference_frame)
        self._frames += 1

    def result(self) -> tuple[float, float | None]:
        """(mean sharpness of the output, output / reference or None without one)."""
        output = self._output / max(self._frames, 1)
        return output, (self._output / self._reference if self._reference > 0 else None)


def _check_frame(frame: Frame, name: str, index: int, expected: tuple[int, ...] | None) -> None:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"{name} frame {index}: expected uint8 (H, W, 3), got {frame.shape}")
    if expected is not None and frame.shape != expected:
        h, w = frame.shape[:2]
        raise UserError(
            f"{name} frame {index} is {w}x{h} but the input is {expected[1]}x{expected[0]}; "
            "the metrics compare pixel for pixel: give videos of the same size"
        )


def _aligned(
    streams: dict[str, Iterable[Frame]],
) -> Iterator[tuple[Frame, ...]]:
    """Yield one frame from each stream at a time; a one-line UserError if counts differ."""
    iterators = {name: iter(stream) for name, stream in streams.items()}
    count = 0
    while True:
        frames = {name: next(it, None) for name, it in iterators.items()}
        ended = [name for name, frame in frames.items() if frame is None]
        if len(ended) == len(frames):
            return
        if ended:
            # Count the rest so the message says how long each one is.
            totals = {
                name: count + (0 if frame is None else 1 + sum(1 for _ in iterators[name]))
                for name, frame in frames.items()
            }
            listing = ", ".join(f"{name} has {n}" for name, n in totals.items())
            raise UserError(
                f"frame counts differ: {listing} frames; give the output made from this "
                "very input (same frames, no trimming)"
            )
        count += 1
        yield tuple(frames.values())


def evaluate_temporal(
    inputs: Iterable[Frame],
    outputs: Iterable[Frame],
    references: Iterable[Frame] | None = None,
    flow_method: str = METRIC_FLOW_METHOD,
    flow_long_side: int = METRIC_FLOW_LONG_SIDE,
    on_frame: Callable[[], None] | None = None,
) -> TemporalScores:
    """Warping error of ``outputs`` (flow from ``inputs``), and style change if given
    ``references``. Streams are consumed once, frame by frame (memory stays flat)."""
    streams: dict[str, Iterable[Frame]] = {"input": inputs, "output": outputs}
    if references is not None:
        streams["reference"] = references
    warping = WarpingErrorMeter(flow_method, flow_long_side)
    style = StyleChangeMeter() if references is not None else None
    sharpness = SharpnessMeter()
    frames = 0
    shape: tuple[int, ...] | None = None
    for group in _aligned(streams):
        for name, frame in zip(streams, group, strict=True):
            _check_frame(frame, name, frames, shape)
            shape = shape or frame.shape
        warping.add(group[0], group[1])
        if style is not None:
            style.add(group[0], group[1], group[2])
        sharpness.add(group[1], group[2] if style is not None else None)
        frames += 1
        if on_frame is not None:
            on_frame()
    error, input_error, valid = warping.result()
    return TemporalScores(
        frames=frames,
        pairs=warping.pairs,
        skipped_pairs=warping.skipped,
        warping_error=error,
        input_warping_error=input_error,
        valid_fraction=valid,
        style_change=style.result() if style is not None else None,
        sharpness=sharpness.result()[0],
        sharpness_ratio=sharpness.result()[1],
    )
