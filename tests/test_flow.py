"""Optical flow, warping and trust masks (realtime.flow), on images with known motion.

The synthetic-scene helpers here (``textured``, ``pan_zoom_frame``, ``pan_zoom_flow``) are
also used by test_temporal.py and test_eval_temporal.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.vision.flow import (
    ESTIMATORS,
    FlowEstimator,
    downscale,
    flow_size,
    forward_backward_consistent,
    inside,
    resize_flow,
    smooth_motion,
    to_gray,
    warp,
)

# -- synthetic scenes with known motion ---------------------------------------------------


def textured(width: int, height: int, seed: int = 0, cells: tuple[int, ...] = (4, 16, 64)):
    """uint8 RGB multi-scale smooth noise: texture at every scale, like a photograph."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for cell in cells:
        noise = rng.random((height // cell + 2, width // cell + 2, 3)).astype(np.float32)
        size = (width + 2 * cell, height + 2 * cell)
        image += cv2.resize(noise, size, interpolation=cv2.INTER_CUBIC)[:height, :width]
    image -= image.min()
    return (image * (255.0 / image.max())).astype(np.uint8)


# Camera motion per frame: a pan of (PAN_X, PAN_Y) pixels of the base image, and a zoom
# by ZOOM about the frame centre.
PAN_X, PAN_Y, ZOOM = 2.0, 1.0, 0.01


def _pan_zoom_params(index: int) -> tuple[float, float, float]:
    return 1.0 + ZOOM * index, PAN_X * index, PAN_Y * index


def pan_zoom_frame(base: np.ndarray, index: int, width: int, height: int) -> np.ndarray:
    """Frame ``index`` of a camera panning over and zooming into ``base`` (2x the frame).

    Pixel ``p`` shows base point ``c + (p - m) / s + d`` (``c`` the base centre, ``m`` the
    frame centre, ``s`` the zoom, ``d`` the pan), so the true flow is known exactly.
    """
    scale, dx, dy = _pan_zoom_params(index)
    cx, cy = base.shape[1] / 2, base.shape[0] / 2
    matrix = np.array(
        [
            [1 / scale, 0, cx - width / 2 / scale + dx],
            [0, 1 / scale, cy - height / 2 / scale + dy],
        ],
        np.float32,
    )
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(base, matrix, (width, height), flags=flags)


def pan_zoom_flow(index: int, width: int, height: int) -> np.ndarray:
    """The true flow from frame ``index`` to frame ``index - 1`` (the backward flow)."""
    s_now, dx_now, dy_now = _pan_zoom_params(index)
    s_before, dx_before, dy_before = _pan_zoom_params(index - 1)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    # Base point seen at p now, relative to the base centre; then where it was before.
    qx, qy = (xs - width / 2) / s_now + dx_now, (ys - height / 2) / s_now + dy_now
    px, py = width / 2 + s_before * (qx - dx_before), height / 2 + s_before * (qy - dy_before)
    return np.stack([px - xs, py - ys], axis=-1).astype(np.float32)


# -- warping --------------------------------------------------------------------------------


@pytest.mark.parametrize("dx, dy", [(3, -2), (0, 5), (-4, 0), (7, 6)])
def test_warp_is_exact_for_integer_shifts(dx: int, dy: int) -> None:
    image = np.random.default_rng(1).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    flow = np.zeros((32, 40, 2), np.float32)
    flow[...] = (dx, dy)
    warped = warp(image, flow)
    # out(x, y) = image(x + dx, y + dy) wherever that is inside the image.
    ys = slice(max(0, -dy), 32 - max(0, dy))
    xs = slice(max(0, -dx), 40 - max(0, dx))
    src_ys = slice(ys.start + dy, ys.stop + dy)
    src_xs = slice(xs.start + dx, xs.stop + dx)
    np.testing.assert_array_equal(warped[ys, xs], image[src_ys, src_xs])
    # ``inside`` is exactly the region where the warp read real pixels.
    expected = np.zeros((32, 40), bool)
    expected[ys, xs] = True
    np.testing.assert_array_equal(inside(flow), expected)


def test_warp_interpolates_at_subpixel_shifts() -> None:
    # A smooth image moved by a fraction of a pixel: the warp matches the image's own value
    # there (computed analytically), to uint8 rounding plus bilinear interpolation's error.
    ys, xs = np.mgrid[0:48, 0:64].astype(np.float32)

    def picture(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 127 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)

    image = picture(xs, ys).astype(np.uint8)
    flow = np.dstack([np.full_like(xs, 0.37), np.full_like(ys, -1.61)])
    warped = warp(image, flow).astype(float)
    truth = picture(xs + 0.37, ys - 1.61)
    interior = (slice(3, -3), slice(3, -3))
    assert np.abs(warped - truth)[interior].max() <= 2.5
    assert np.abs(image.astype(float) - truth)[interior].max() > 10  # it moved


def test_warp_of_a_flow_field_and_size_mismatch() -> None:
    field = np.random.default_rng(2).normal(size=(20, 30, 2)).astype(np.float32)
    shift = np.zeros((20, 30, 2), np.float32)
    shift[..., 0] = 1.0
    np.testing.assert_array_equal(warp(field, shift)[:, :-1], field[:, 1:])
    with pytest.raises(ValueError, match="differ in size"):
        warp(field, shift[:10])


def test_resize_flow_rescales_vectors() -> None:
    flow = np.zeros((18, 32, 2), np.float32)
    flow[...] = (1.0, 2.0)
    big = resize_flow(flow, (64, 54))
    assert big.shape == (54, 64, 2)
    np.testing.assert_allclose(big[..., 0], 2.0, rtol=1e-6)
    np.testing.assert_allclose(big[..., 1], 6.0, rtol=1e-6)
    assert resize_flow(flow, (32, 18)) is flow


def test_flow_size_caps_the_long_side_only() -> None:
    assert flow_size(1280, 720, 320) == (320, 180)
    assert flow_size(720, 1280, 320) == (180, 320)
    assert flow_size(200, 100, 320) == (200, 100)  # never enlarged
    assert flow_size(1280, 720, None) == (1280, 720)
    assert flow_size(4000, 40, 320) == (1600, 16)  # the short side keeps 16 pixels


# -- estimation -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ESTIMATORS)
@pytest.mark.parametrize("long_side", [None, 80])
def test_estimators_recover_a_translation(method: str, long_side: int | None) -> None:
    a = textured(160, 120, seed=3)
    shift_x, shift_y = 3, -2
    b = np.roll(a, (shift_y, shift_x), axis=(0, 1))  # b(q) = a(q - shift)
    size = flow_size(160, 120, long_side)
    flow = FlowEstimator(method)(to_gray(downscale(a, size)), to_gray(downscale(b, size)))
    flow = resize_flow(flow, (160, 120))
    interior = flow[20:-20, 20:-20]
    # a(p) = b(p + flow(p)) with flow = shift.
    assert np.median(np.abs(interior[..., 0] - shift_x)) < 0.25
    assert np.median(np.abs(interior[..., 1] - shift_y)) < 0.25


@pytest.mark.parametrize("method, long_side", [("dis-fast", 160), ("farneback", None)])
def test_flow_on_pan_and_zoom_matches_the_true_flow(method: str, long_side: int | None) -> None:
    width, height = 320, 180
    base = textured(2 * width, 2 * height)
    now, before = pan_zoom_frame(base, 5, width, height), pan_zoom_frame(base, 4, width, height)
    size = flow_size(width, height, long_side)
    estimate = FlowEstimator(method)(
        to_gray(downscale(now, size)), to_gray(downscale(before, size))
    )
    estimate = resize_flow(estimate, (width, height))
    error = np.linalg.norm(estimate - pan_zoom_flow(5, width, height), axis=-1)[16:-16, 16:-16]
    assert np.median(error) < 0.3
    # And the warp then reproduces the frame: the previous frame warped by the estimated
    # flow is much closer to the current one than the previous frame itself.
    inner = (slice(16, -16), slice(16, -16))
    warped_error = np.abs(warp(before, estimate).astype(int) - now)[inner].mean()
    assert warped_error < 0.25 * np.abs(before.astype(int) - now)[inner].mean()


def test_estimator_rejects_bad_frames() -> None:
    with pytest.raises(ValueError, match="unknown flow estimator"):
        FlowEstimator("lucas-kanade")
    gray = np.zeros((20, 20), np.uint8)
    with pytest.raises(ValueError, match="grayscale"):
        FlowEstimator()(gray, np.zeros((20, 21), np.uint8))
    with pytest.raises(ValueError, match="grayscale"):
        FlowEstimator()(np.zeros((20, 20, 3), np.uint8), np.zeros((20, 20, 3), np.uint8))


# -- trust masks ----------------------------------------------------------------------------


def _object_moving_right(step: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Exact flows of a 10x10 block moving ``step`` px right over a still background.

    Previous frame: block at columns 10..19; current: 10+step..19+step; rows 10..19.
    """
    forward = np.zeros((30, 40, 2), np.float32)  # previous -> current
    backward = np.zeros((30, 40, 2), np.float32)  # current -> previous
    forward[10:20, 10:20, 0] = step
    backward[10:20, 10 + step : 20 + step, 0] = -step
    return forward, backward


def test_forward_backward_consistency_flags_disocclusion() -> None:
    forward, backward = _object_moving_right(step=6)
    consistent = forward_backward_consistent(forward, backward)
    # Columns 10..15 of rows 10..19 are uncovered background: in the previous frame the
    # block stood there, so the forward flow there does not cancel the (zero) backward flow.
    assert not consistent[10:20, 10:16].any()
    # The moved block and the untouched background are consistent.
    assert consistent[10:20, 17:26].all()
    assert consistent[:8].all() and consistent[22:].all() and consistent[:, 28:].all()


def test_forward_backward_consistency_scales_with_motion() -> None:
    # Ruder's test tolerates errors relative to the motion: 1% of |f|^2 + |b|^2, plus 0.5.
    backward = np.full((8, 8, 2), (-20.0, 0.0), np.float32)
    slightly_off = np.full((8, 8, 2), (20.8, 0.0), np.float32)  # |sum|^2 = 0.64 <= 8.3 + 0.5
    far_off = np.full((8, 8, 2), (24.0, 0.0), np.float32)  # 16 > 9.8 + 0.5
    assert forward_backward_consistent(slightly_off, backward)[4, 4]
    assert not forward_backward_consistent(far_off, backward)[4, 4]
    with pytest.raises(ValueError, match="differ"):
        forward_backward_consistent(far_off, backward[:4])


def test_motion_boundary_test_flags_only_flow_edges() -> None:
    _, backward = _object_moving_right(step=6)
    smooth = smooth_motion(backward)
    # The block's left and right edges (where the flow jumps by 6 px) are boundaries...
    assert not smooth[12:18, 15:17].any() and not smooth[12:18, 25:27].any()
    # ...its inside and the background are not.
    assert smooth[12:18, 18:24].all() and smooth[:, :14].all()
    # A gentle zoom has a small, uniform gradient: no boundaries anywhere.
    assert smooth_motion(pan_zoom_flow(3, 64, 48)).all()
