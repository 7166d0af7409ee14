"""Dense optical flow, backward warping and trust masks.

Shared by the temporal-consistency stage (``realtime.temporal.stage``), the warping-error
metric (``realtime.temporal.metrics``) and Gatys' video mode (``models.gatys_video``); each
picks its own estimator, resolution and thresholds, and all build their trust mask with
``trust_mask``.

Conventions. A flow field is float32 ``(H, W, 2)`` holding ``(dx, dy)`` in pixels of the
frame it is defined on. ``flow(a, b)`` says, for each pixel ``p`` of ``a``, where it went in
``b``: ``a(p) ~ b(p + flow(p))``. So ``warp(b, flow(a, b)) ~ a``: to bring the previous
frame into the current one, estimate ``flow(current, previous)`` (the *backward* flow) and
warp the previous frame with it.

The trust tests are Ruder et al. 2016 ("Artistic style transfer for videos", eqs. 7-8),
also used by Lai et al. 2018 for their warping error:

- forward-backward consistency: with ``b`` the backward flow (current -> previous) and
  ``f~(p) = f(p + b(p))`` the forward flow (previous -> current) sampled where ``p`` came
  from, a pixel is consistent when ``|f~ + b|^2 <= rel * (|f~|^2 + |b|^2) + abs``
  (Ruder: rel 0.01, abs 0.5 px^2). Disoccluded pixels fail it: nothing in the previous frame
  maps back onto them.
- motion boundaries: ``|grad b_x|^2 + |grad b_y|^2 <= rel * |b|^2 + abs`` (Ruder: rel 0.01,
  abs 0.002), since flow is least reliable where it changes abruptly.
"""

from __future__ import annotations

import cv2
import numpy as np

Frame = np.ndarray
Flow = np.ndarray

# Ruder et al. 2016's constants; the metric uses exactly these.
RUDER_FB_REL, RUDER_FB_ABS = 0.01, 0.5
RUDER_MB_REL, RUDER_MB_ABS = 0.01, 0.002

_DIS_PRESETS = {
    "dis-ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "dis-fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "dis-medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# Presets refined further down than they stop (the fast one at a quarter of the frame, the
# medium one at a half): ``dis-fast-half`` is the fast preset refined to half resolution,
# for the video's temporal stage (a stroke survives the blend only where the flow is right
# to the pixel; about a fifth of dis-medium's time at 640x360 for the same result there,
# docs/TEMPORAL.md); ``dis-fine`` is the medium preset refined to full resolution, the most
# accurate flow OpenCV's main modules have, for the warping-error metric
# (realtime.temporal.metrics), where accuracy matters more than speed.
_REFINED = {
    "dis-fast-half": (cv2.DISOPTICAL_FLOW_PRESET_FAST, 1),
    "dis-fine": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, 0),
}
ESTIMATORS = (*_DIS_PRESETS, *_REFINED, "farneback")

# DIS and Farneback need a few pyramid levels' worth of pixels; below this they return
# noise, and so little content is useless for flow anyway.
MIN_FLOW_SIDE = 16


def flow_size(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """(width, height) to estimate flow at: the long side capped at ``long_side``, never
    enlarged, never below ``MIN_FLOW_SIDE`` on the short side unless the frame is smaller."""
    if long_side is None or max(width, height) <= long_side:
        return width, height
    factor = long_side / max(width, height)
    factor = max(factor, min(1.0, MIN_FLOW_SIDE / min(width, height)))
    return max(1, round(width * factor)), max(1, round(height * factor))


def downscale(frame: Frame, size: tuple[int, int], pyramid: bool = False) -> Frame:
    """Anti-aliased resize to a smaller (width, height), for flow: an area filter.

    ``pyramid`` (the temporal stage) first halves by Gaussian pyramid (``pyrDown``) while
    the result stays at least ``size``, then area-filters the rest: faster than one area
    resize from 720p (docs/TEMPORAL.md, "Cost"). Both average away the aliasing flow would
    see, but they are not the same filter, so the metric keeps the plain area resize its
    recorded numbers were measured with.
    """
    while pyramid and frame.shape[1] // 2 >= size[0] and frame.shape[0] // 2 >= size[1]:
        frame = cv2.pyrDown(frame)
    if (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def to_gray(frame: Frame) -> Frame:
    """uint8 RGB -> uint8 luma, the input every estimator here takes."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _dis(method: str) -> cv2.DISOpticalFlow | None:
    if method in _REFINED:
        preset, finest_scale = _REFINED[method]
        dis = cv2.DISOpticalFlow_create(preset)
        dis.setFinestScale(finest_scale)
        return dis
    return cv2.DISOpticalFlow_create(_DIS_PRESETS[method]) if method in _DIS_PRESETS else None


class FlowEstimator:
    """Dense flow between two uint8 grayscale frames of the same size.

    Not thread-safe (DIS keeps buffers between calls): one instance per stream.
    """

    def __init__(self, method: str = "dis-fast") -> None:
        if method not in ESTIMATORS:
            raise ValueError(f"unknown flow estimator {method!r}; use one of {ESTIMATORS}")
        self.method = method
        self._dis = _dis(method)

    def __call__(self, a: Frame, b: Frame) -> Flow:
        """``flow(a, b)``: for each pixel of ``a``, its displacement into ``b``."""
        if a.shape != b.shape or a.ndim != 2 or a.dtype != np.uint8 or b.dtype != np.uint8:
            raise ValueError(
                f"flow needs two uint8 grayscale frames of one size, got {a.shape} {a.dtype} "
                f"and {b.shape} {b.dtype}"
            )
        if self._dis is not None:
            return self._dis.calc(a, b, None)
        # Farneback: a different algorithm family from DIS (polynomial expansion), so the
        # metric's flow errors are not the stage's flow errors.
        levels = max(1, min(5, int(np.log2(min(a.shape) / MIN_FLOW_SIDE)) + 1))
        return cv2.calcOpticalFlowFarneback(
            a, b, None, pyr_scale=0.5, levels=levels, winsize=15, iterations=3,
            poly_n=5, poly_sigma=1.1, flags=cv2.OPTFLOW_FARNEBACK_GAUSSIAN,
        )  # fmt: skip


def resize_flow(flow: Flow, size: tuple[int, int]) -> Flow:
    """Resample a flow field to (width, height) and rescale its vectors to the new pixels."""
    height, width = flow.shape[:2]
    if (width, height) == tuple(size):
        return flow
    # Scale the vectors first, on the small field: resizing is linear, so the result is the
    # same, and multiplying the large field costs more than the resize itself.
    scaled = flow * np.array([size[0] / width, size[1] / height], np.float32)
    return cv2.resize(scaled, size, interpolation=cv2.INTER_LINEAR)


_GRIDS: dict[tuple[int, int], np.ndarray] = {}


def _grid(width: int, height: int) -> np.ndarray:
    """(H, W, 2) float32 pixel coordinates (x, y), cached per size (immutable once made)."""
    grid = _GRIDS.get((width, height))
    if grid is None:
        xs, ys = np.meshgrid(
            np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
        )
        grid = np.ascontiguousarray(np.stack([xs, ys], axis=-1))
        grid.flags.writeable = False
        if len(_GRIDS) > 8:  # a few sizes per process at most; never grow without bound
            _GRIDS.clear()
        _GRIDS[(width, height)] = grid
    return grid


def sample_positions(flow: Flow) -> np.ndarray:
    """Absolute (x, y) positions ``p + flow(p)`` for each pixel ``p``."""
    height, width = flow.shape[:2]
    return cv2.add(_grid(width, height), flow)  # multithreaded, unlike numpy's add


def warp(image: np.ndarray, flow: Flow, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Backward warp: ``out(p) = image(p + flow(p))``, bilinear by default, with ``image`` and
    ``flow`` of one size. Positions outside ``image`` repeat its border (``inside`` tells
    which).

    The flow goes to ``remap`` as a relative map: no full-size position field to build
    (``p + flow``) or convert, which at 720p was a third of the warp's cost.
    """
    if image.shape[:2] != flow.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and flow {flow.shape[:2]} differ in size")
    return cv2.remap(
        image,
        flow,
        None,
        interpolation | cv2.WARP_RELATIVE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def inside(flow: Flow) -> np.ndarray:
    """True where ``p + flow(p)`` lies within the frame (so the warp read real pixels)."""
    height, width = flow.shape[:2]
    xs, ys = cv2.split(sample_positions(flow))
    return (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)


def squared_norm(field: np.ndarray) -> np.ndarray:
    """Per-pixel sum of squares over the last axis, float32 (H, W)."""
    field = np.asarray(field, np.float32)
    # A matrix product: an order of magnitude faster than einsum or sum(-1) here.
    return np.square(field) @ np.ones(field.shape[-1], np.float32)


def forward_backward_consistent(
    forward: Flow, backward: Flow, rel: float = RUDER_FB_REL, abs_: float = RUDER_FB_ABS
) -> np.ndarray:
    """True where the forward flow, sampled where the backward flow points, cancels it.

    ``forward`` = flow(previous, current), ``backward`` = flow(current, previous), both in
    pixels of the same size; the result is defined on the current frame.
    """
    if forward.shape != backward.shape:
        raise ValueError(f"forward {forward.shape} and backward {backward.shape} flows differ")
    sampled = warp(forward, backward)
    lhs = squared_norm(sampled + backward)
    return lhs <= rel * (squared_norm(sampled) + squared_norm(backward)) + abs_


def smooth_motion(flow: Flow, rel: float = RUDER_MB_REL, abs_: float = RUDER_MB_ABS) -> np.ndarray:
    """True away from motion boundaries: where the flow's gradient is small next to the flow.

    Gradients are central differences per pixel (one-sided at the borders).
    """
    gx, gy = _central_differences(flow)
    return squared_norm(gx) + squared_norm(gy) <= rel * squared_norm(flow) + abs_


def trust_mask(
    forward: Flow,
    backward: Flow,
    fb_rel: float = RUDER_FB_REL,
    fb_abs: float = RUDER_FB_ABS,
    mb_rel: float = RUDER_MB_REL,
    mb_abs: float = RUDER_MB_ABS,
) -> np.ndarray:
    """True where the backward warp can be trusted: it stays ``inside`` the frame, the flows
    are ``forward_backward_consistent`` and the motion is smooth (no motion boundary).

    ``forward`` = flow(previous, current), ``backward`` = flow(current, previous); the mask
    is defined on the current frame. The thresholds default to Ruder et al.'s (the metric's);
    the temporal stage passes its own looser ones.
    """
    return (
        inside(backward)
        & forward_backward_consistent(forward, backward, fb_rel, fb_abs)
        & smooth_motion(backward, mb_rel, mb_abs)
    )


def _central_differences(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d/dx, d/dy) of every channel, as ``np.gradient``: central differences inside,
    one-sided at the borders; OpenCV filters, at a quarter of numpy's time."""
    field = np.asarray(field, np.float32)
    gx = cv2.Sobel(field, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(field, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=cv2.BORDER_REPLICATE)
    gx[:, 0] = field[:, 1] - field[:, 0]
    gx[:, -1] = field[:, -1] - field[:, -2]
    gy[0] = field[1] - field[0]
    gy[-1] = field[-1] - field[-2]
    return gx, gy
