"""Temporal consistency: stop a per-frame stylizer from flickering, without ghost trails.

A feed-forward style network sees each frame alone, so its brush strokes jump from frame to
frame. This stage runs at the processing size right after the network
(``FrameProcessor.at_process_size``) and blends each stylized frame with its own previous
output:

- ``ema``: a plain exponential moving average of the outputs, ``out = a * prev + (1 - a) *
  cur``. No motion compensation, so anything that moves leaves a trail: the baseline.
- ``flow``: the previous output is first warped into the current frame with dense optical
  flow (OpenCV's DIS) estimated on the *input* frames, on grayscale copies downscaled to at
  most the quality's long side (``SHARP``: 640 px, DIS fast refined to half of it, for
  ``video`` and ``batch`` on a CPU; ``FAST``: 320 px, DIS fast, for ``webcam`` and a GPU),
  then upscaled and rescaled.
  It is blended only where that warp can be trusted:

      out = m * (a * warp(prev_out) + (1 - a) * cur) + (1 - m) * cur

  with ``a`` the strength and the confidence ``m`` in [0, 1] the product of
  * forward-backward flow consistency and a motion-boundary test (Ruder et al. 2016), plus
    "the warp stays inside the frame", eroded by two flow pixels so the blend keeps off
    the rims of disocclusions;
  * Lai et al. 2018's visibility weight ``exp(-50 * |I_t - warp(I_t-1)|^2)`` (RGB in [0, 1],
    squared norm over channels): where the warped previous *input* does not match the
    current input (new content, lighting change, a wrong flow vector), the previous output
    is not used.
  Since the output is recursive, a stroke survives along its motion path about
  ``1 / (1 - a)`` frames: flicker averages out while moving objects carry their style.
  Averaging strokes that do not line up exactly takes most from the finest detail and
  lowers the contrast. ``SHARP`` gives the blend's finest band the energy of the fresh
  stylization's (``restore_detail``); both match the blend's per-channel standard deviation
  to the fresh stylization's (``match_contrast``). A stroke a pixel wide survives the blend
  only where the flow is right to the pixel: ``SHARP``'s flow is what keeps the video
  sharp, and ``FAST`` keeps the cheaper one the webcam's frame budget allows
  (docs/TEMPORAL.md, "Where the softening comes from"). The warp is bilinear in both.

Scene cuts reset the state (the next output is the stylized frame as is): a large change in
the grayscale histogram of the inputs (both modes), a low correlation of tiny grey
thumbnails (``ema``: the same content rearranged keeps its histogram), or too little
confidently warpable area (``flow``: covers that case too).

``--temporal-strength`` is ``a``, 0..1: 0 is off; 1 keeps the previous output wherever it
is trusted (``ema`` then holds the first frame until a cut), which is rarely wanted.

Thread-safety: one instance per stream, frames in order. ``__call__`` and ``reset()`` take a
lock, so ``reset()`` may come from another thread (e.g. a webcam UI switching styles).
Outputs are rounded to uint8 each frame, so ``ema`` settles within ``0.5 / (1 - a)`` grey
levels of a constant input rather than exactly on it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from realtime.core.config import DEFAULT_TEMPORAL_STRENGTH, TEMPORAL_MODES
from realtime.core.errors import UserError
from realtime.runtime.frames import Frame, Stage
from realtime.vision.cuts import gray_histogram, histogram_cut
from realtime.vision.flow import (
    MIN_FLOW_SIDE,
    FlowEstimator,
    downscale,
    flow_size,
    resize_flow,
    squared_norm,
    to_gray,
    trust_mask,
    warp,
)


@dataclass(frozen=True)
class FlowQuality:
    """How hard the flow stage works: its flow, and how much fine detail it gives back.

    A stroke a pixel wide can only be carried to the next frame by a flow right to the
    pixel; where the flow misses, blending averages two strokes into a blur, and the warping
    error charges the miss as flicker. DIS's fast preset at 320 px stops at an 80x45 grid.
    """

    flow_method: str
    flow_long_side: int
    # Cap of the per-channel gain that gives the blend's finest detail (below a Gaussian of
    # DETAIL_SIGMA) the energy of the fresh stylization's; 1 turns it off (restore_detail).
    detail_gain: float


# ``video`` and ``batch`` on a CPU: the flow at 640 px, refined to half of that, and the
# detail given back. Against FAST on the first 100 frames of cockatoo.mp4 with mosaic-lite:
# warping error -62% of --temporal off instead of -55%, sharpness 0.96 of off's instead of
# 0.70, style distance -2% instead of +6% (docs/TEMPORAL.md, "Stable and sharp").
SHARP = FlowQuality(flow_method="dis-fast-half", flow_long_side=640, detail_gain=1.3)
# ``webcam``, and ``video`` on a GPU: the stage as it was, within a tight frame budget (flow
# about 1 ms at 320 px). SHARP costs about 20 ms a 360p frame more on this 2-core CPU: more
# than the 5% of its fps the lite network's live run may lose, and a serial step that would
# set the pace of a GPU's video run.
FAST = FlowQuality(flow_method="dis-fast", flow_long_side=320, detail_gain=1.0)
# The stage's own tuning. These are deliberately not the metric's settings
# (realtime.temporal.metrics): the metric refines its flow to full resolution and has no
# photometric term.
DETAIL_SIGMA = 1.5  # px at the processing size: the band restore_detail works on
# Ruder et al.'s absolute terms, applied in pixels of the flow resolution, where DIS-fast is
# accurate to a few tenths of a pixel. The relative terms are 5x Ruder's 0.01: the strict
# tests threw away most of a moving object, whose fresh, flickering stylization then
# dominated the warping error; the looser ones leave a little more trail behind it
# (tests/test_temporal.py) and cost a little style (docs/TEMPORAL.md, the defaults' table).
FB_REL, FB_ABS = 0.05, 0.5
MB_REL, MB_ABS = 0.05, 0.002
# Erode the trusted area by 2 flow pixels: flow next to an occlusion or a motion boundary
# is smeared across it (a 3x3 kernel left more trail: docs/TEMPORAL.md).
_ERODE_KERNEL = np.ones((5, 5), np.uint8)
VISIBILITY_SHARPNESS = 50.0  # Lai et al. 2018, eq. 3 (RGB in [0, 1])
# A cut when less than this share of the frame is confidently warpable.
MIN_CONFIDENT_FRACTION = 0.25
# Cap of the blend's contrast matching (per channel, whole frame; see match_contrast).
CONTRAST_MAX_GAIN = 1.5
STATS_STRIDE = 4  # match_contrast's statistics: every 4th pixel per direction ...
STATS_MIN_PIXELS = 160 * 90 * STATS_STRIDE**2  # ... from 640x360 up
# ema only: a cut when 32x18 grey thumbnails correlate less than this (a 20 px pan with a
# 10% zoom at 640x360 still correlates at about 0.5; a cut near 0).
CUT_THUMBNAIL_CORRELATION = 0.3
_MIN_THUMBNAIL_STD = 2.0  # grey levels: flatter thumbnails have no pattern to correlate
_THUMB = (32, 18)


def check_temporal(mode: str, strength: float) -> None:
    if mode not in TEMPORAL_MODES:
        raise UserError(f"unknown --temporal mode {mode!r}; use one of {', '.join(TEMPORAL_MODES)}")
    if not 0.0 <= strength <= 1.0:
        raise UserError(
            f"--temporal-strength must be between 0 and 1, got {strength} "
            f"(default {DEFAULT_TEMPORAL_STRENGTH})"
        )


def temporal_stage(
    mode: str, strength: float = DEFAULT_TEMPORAL_STRENGTH, fast: bool = False
) -> Stage | None:
    """The processing-size stage for ``--temporal MODE --temporal-strength S``; None for off.
    ``fast``: within a tight frame budget (``FAST``: live runs, a GPU), else ``SHARP``.

    Each call makes a new stage with its own state: build one per stream.
    """
    check_temporal(mode, strength)
    if mode == "off" or strength == 0.0:
        return None
    if mode == "ema":
        return EmaSmoother(strength)
    return FlowSmoother(strength, FAST if fast else SHARP)


def _normalised_thumbnail(gray: Frame) -> np.ndarray | None:
    """Zero-mean, unit-variance 32x18 thumbnail; None when it is (nearly) flat."""
    thumb = cv2.resize(gray, _THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
    std = float(thumb.std())
    return None if std < _MIN_THUMBNAIL_STD else (thumb - thumb.mean()) / std


def _thumbnail_cut(previous: np.ndarray | None, current: np.ndarray | None) -> bool:
    if previous is None or current is None:
        return False  # flat frames: the histogram test decides alone
    return float(np.mean(previous * current)) < CUT_THUMBNAIL_CORRELATION


class _Smoother:
    """State and locking shared by both modes."""

    def __init__(self, strength: float) -> None:
        check_temporal("flow", strength)
        self.strength = float(strength)
        self.cuts = 0  # scene cuts detected since creation (resets by reset() not counted)
        self._lock = threading.Lock()
        self._previous: Frame | None = None  # own last output, at the processing size
        self._previous_hist: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the past: the next output is the stylized frame as is (style switch)."""
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._previous = None
        self._previous_hist = None

    def __call__(self, frame: Frame, source: Frame) -> Frame:
        if frame.shape != source.shape:
            raise ValueError(f"stylized {frame.shape} and source {source.shape} frames differ")
        with self._lock:
            if self._previous is not None and self._previous.shape[:2] != frame.shape[:2]:
                self._clear()  # a new stream size (webcam reconfigured): nothing to carry
            out = self._step(frame, source)
            self._previous = self._remember(out)
            return out

    def _remember(self, out: Frame) -> Frame:
        """The state kept of an output. A copy: the caller owns both ``frame`` and the
        result and may reuse or draw on them (a webcam overlay); the state must not change
        with them."""
        return out.copy()

    def _step(self, frame: Frame, source: Frame) -> Frame:
        raise NotImplementedError


class EmaSmoother(_Smoother):
    """``out = a * previous_out + (1 - a) * stylized``: no motion compensation (baseline)."""

    def __init__(self, strength: float = DEFAULT_TEMPORAL_STRENGTH) -> None:
        super().__init__(strength)
        self._previous_thumb: np.ndarray | None = None

    def _clear(self) -> None:
        super()._clear()
        self._previous_thumb = None

    def _step(self, frame: Frame, source: Frame) -> Frame:
        gray = to_gray(source)
        hist = gray_histogram(gray)
        thumb = _normalised_thumbnail(gray)
        previous, previous_hist, previous_thumb = (
            self._previous,
            self._previous_hist,
            self._previous_thumb,
        )
        self._previous_hist, self._previous_thumb = hist, thumb
        if previous is None or previous_hist is None:
            return frame
        if histogram_cut(previous_hist, hist) or _thumbnail_cut(previous_thumb, thumb):
            self.cuts += 1
            return frame
        return cv2.addWeighted(previous, self.strength, frame, 1.0 - self.strength, 0.0)


def _every_nth(frame: Frame) -> Frame:
    """Every STATS_STRIDE-th pixel in both directions (nearest-neighbour decimation, no
    filtering: the statistics are of the pixels themselves), for frames large enough that
    this still leaves many thousands; smaller frames whole."""
    height, width = frame.shape[:2]
    if height * width < STATS_MIN_PIXELS:
        return frame
    size = (width // STATS_STRIDE, height // STATS_STRIDE)
    return cv2.resize(frame, size, interpolation=cv2.INTER_NEAREST)


def match_contrast(blended: Frame, frame: Frame) -> Frame:
    """Give the blend back the contrast that averaging unaligned strokes takes away.

    Per colour channel, the blend's deviation from its mean is scaled so its standard
    deviation matches the fresh stylization's, never down and at most by
    CONTRAST_MAX_GAIN; the blend's mean (its brightness) is kept. One gain per channel and
    frame: a local (windowed) gain also gave back the fresh frame's frame-to-frame variation,
    i.e. flicker, and cost several times as much (docs/TEMPORAL.md).
    """
    # The statistics from every STATS_STRIDE-th pixel in each direction: one number per
    # channel needs no more, and two full-frame passes were half of this function's cost.
    mean_b, std_b = cv2.meanStdDev(_every_nth(blended))
    _, std_f = cv2.meanStdDev(_every_nth(frame))
    mean_b, std_b, std_f = mean_b.ravel(), std_b.ravel(), std_f.ravel()
    gain = np.clip(std_f / np.maximum(std_b, 1e-3), 1.0, CONTRAST_MAX_GAIN)
    # out_c = gain_c * in_c + (1 - gain_c) * mean_c, in one saturating uint8 pass.
    matrix = np.zeros((3, 4), np.float32)
    matrix[:, :3] = np.diag(gain)
    matrix[:, 3] = (1.0 - gain) * mean_b
    return cv2.transform(blended, matrix)


def restore_detail(blended: Frame, frame: Frame, max_gain: float) -> Frame:
    """Give the blend's finest detail the energy of the fresh stylization's.

    Blending the warped previous output with the new one averages strokes that do not line
    up to the pixel, which takes most from the finest band: the lead lines and brush edges.
    Per colour channel, the blend's band below a Gaussian of DETAIL_SIGMA is scaled so its
    standard deviation matches the fresh frame's, never down and at most by ``max_gain``:
    a larger gain also gives back the flicker the blend removed (while tuning, with the
    320-px flow on cockatoo.mp4's first 100 frames, mosaic-lite, the metric at
    ``--flow dis-medium``: warping error -31% of off's uncapped, -44% capped at 1.3, -63%
    without). One gain per channel and frame, as in match_contrast, for the same reason.
    """
    if max_gain <= 1.0:
        return blended
    # uint8 blurs (OpenCV's fixed-point path, several times the float one's speed) and the
    # statistics from every STATS_STRIDE-th pixel, as in match_contrast.
    low = cv2.GaussianBlur(blended, (0, 0), DETAIL_SIGMA)
    fresh_low = cv2.GaussianBlur(frame, (0, 0), DETAIL_SIGMA)
    gains = np.clip(
        _band_std(frame, fresh_low) / np.maximum(_band_std(blended, low), 1e-3), 1.0, max_gain
    )
    # blended + (g - 1) * (blended - low) = g * blended + (1 - g) * low, saturated, per channel.
    channels = [
        cv2.addWeighted(b, float(g), lo, float(1.0 - g), 0.0)
        for b, lo, g in zip(cv2.split(blended), cv2.split(low), gains, strict=True)
    ]
    return cv2.merge(channels)


def _band_std(frame: Frame, low: Frame) -> np.ndarray:
    """Per-channel standard deviation of ``frame - low``, from every STATS_STRIDE-th pixel."""
    band = _every_nth(frame).astype(np.int16) - _every_nth(low)
    return band.reshape(-1, 3).std(axis=0)


class FlowSmoother(_Smoother):
    """Blend with the flow-warped previous output where the warp is trustworthy."""

    def __init__(
        self, strength: float = DEFAULT_TEMPORAL_STRENGTH, quality: FlowQuality = SHARP
    ) -> None:
        super().__init__(strength)
        self.quality = quality
        self._flow = FlowEstimator(quality.flow_method)
        self._previous_small: Frame | None = None  # input RGB at the flow size
        self._previous_gray: Frame | None = None
        # Share of the last frame blended with confidence > 0.5 (diagnostics and tests).
        self.last_confident_fraction = 0.0

    def _clear(self) -> None:
        super()._clear()
        self._previous_small = None
        self._previous_gray = None

    def _step(self, frame: Frame, source: Frame) -> Frame:
        height, width = frame.shape[:2]
        if min(width, height) < MIN_FLOW_SIDE:
            raise UserError(
                f"--temporal flow needs frames of at least {MIN_FLOW_SIDE}x{MIN_FLOW_SIDE} "
                f"pixels at the processing size, got {width}x{height}; use a larger --size "
                "or --temporal ema"
            )
        size = flow_size(width, height, self.quality.flow_long_side)
        small = downscale(source, size, pyramid=True)
        if small is source:  # not downscaled: keep our own copy, the caller owns ``source``
            small = source.copy()
        gray = to_gray(small)
        hist = gray_histogram(gray)
        previous, previous_small, previous_gray, previous_hist = (
            self._previous,
            self._previous_small,
            self._previous_gray,
            self._previous_hist,
        )
        self._previous_small, self._previous_gray, self._previous_hist = small, gray, hist
        self.last_confident_fraction = 0.0
        if previous is None or previous_small is None or previous_gray is None:
            return frame
        if previous_hist is not None and histogram_cut(previous_hist, hist):
            self.cuts += 1
            return frame
        backward = self._flow(gray, previous_gray)  # current -> previous
        forward = self._flow(previous_gray, gray)  # previous -> current
        confidence = self._confidence(forward, backward, small, previous_small)
        self.last_confident_fraction = float(np.mean(confidence > 0.5))
        if float(np.mean(confidence)) < MIN_CONFIDENT_FRACTION:
            self.cuts += 1
            return frame
        weight = cv2.resize(
            confidence * np.float32(self.strength), (width, height), interpolation=cv2.INTER_LINEAR
        )
        warped = cv2.cvtColor(
            warp(previous, resize_flow(backward, (width, height))), cv2.COLOR_RGBA2RGB
        )
        blended = cv2.blendLinear(warped, frame, weight, 1.0 - weight)
        blended = restore_detail(blended, frame, self.quality.detail_gain)
        return match_contrast(blended, frame)

    def _remember(self, out: Frame) -> Frame:
        # RGBA: OpenCV's bilinear remap has a vector path for four 8-bit channels and not
        # for three, so warping RGBA and dropping alpha costs half of warping RGB
        # (docs/TEMPORAL.md, "Cost"). The conversion is the copy the state needs anyway.
        return cv2.cvtColor(out, cv2.COLOR_RGB2RGBA)

    def _confidence(
        self, forward: np.ndarray, backward: np.ndarray, small: Frame, previous_small: Frame
    ) -> np.ndarray:
        """Per flow-size pixel: how far the warped previous frame can be trusted, 0..1."""
        valid = trust_mask(forward, backward, FB_REL, FB_ABS, MB_REL, MB_ABS)
        valid = cv2.erode(valid.astype(np.uint8), _ERODE_KERNEL).astype(np.float32)
        difference = (warp(previous_small, backward).astype(np.float32) - small) / 255.0
        visibility = cv2.exp(squared_norm(difference) * np.float32(-VISIBILITY_SHARPNESS))
        return valid * visibility
