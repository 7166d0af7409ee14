"""Gatys et al. by optimisation (models.gatys): loss, init, temporal term, colour, caching.

All but one test use a VGG-16 with random weights at 32-64 px: the mechanics do not need
ImageNet features, and each step then takes milliseconds. One test uses the shared weights
to check that the result moves towards the painting in ``models.metrics``' terms.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import models.gatys as gatys
from models.gatys import GatysConfig, GatysStylizer, luminance
from models.gatys_balance import MAX_STEP, SETTLE_SEGMENTS, WEIGHT_RANGE, next_weight
from models.vgg import VGG16Features
from realtime.core.errors import UserError

CPU = torch.device("cpu")


class CountingVGG(VGG16Features):
    """Random-weight VGG recording each forward: (input height, width, grad enabled)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, int, bool]] = []

    def forward(self, x, layers=("relu1_1",)):  # type: ignore[override]
        self.calls.append((x.shape[-2], x.shape[-1], torch.is_grad_enabled()))
        return super().forward(x, layers)


@pytest.fixture()
def vgg() -> CountingVGG:
    torch.manual_seed(0)
    return CountingVGG()


def smooth_image(seed: int, height: int = 32, width: int = 32, low: int = 0, high: int = 255):
    """A smooth random colour field, uint8 RGB in [low, high]: more image-like than noise."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(low, high, (max(2, height // 8), max(2, width // 8), 3))
    image = cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(image, low, high).round().astype(np.uint8)


def painting(height: int = 40, width: int = 40) -> np.ndarray:
    """Saturated diagonal stripes: statistics nothing like a smooth field's."""
    yy, xx = np.mgrid[0:height, 0:width]
    phase = ((xx + yy) // 4) % 3
    colours = np.array([[230, 30, 40], [20, 200, 60], [250, 220, 20]], np.uint8)
    return colours[phase]


def chroma(image: np.ndarray) -> np.ndarray:
    """BT.601 Cr and Cb (float, HxWx2) of uint8 RGB."""
    rgb = image.astype(np.float64)
    y = rgb @ np.array([0.299, 0.587, 0.114])
    return np.stack([0.713 * (rgb[..., 0] - y), 0.564 * (rgb[..., 2] - y)], axis=-1)


def config(**changes) -> GatysConfig:
    # float32 whatever the CPU: the mechanics below must not depend on the machine.
    return dataclasses.replace(GatysConfig(scales=1, precision="fp32"), **changes)


def run(stylizer: GatysStylizer, content: np.ndarray, **kwargs) -> tuple[np.ndarray, list]:
    calls: list[tuple[int, int, float]] = []
    out = stylizer.stylize(content, progress=lambda *args: calls.append(args), **kwargs)
    return out, calls


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loss_falls_and_progress_counts_every_step(vgg: CountingVGG, optimizer: str) -> None:
    content = smooth_image(1)
    stylizer = GatysStylizer(vgg, painting(), config(optimizer=optimizer, steps=15), CPU)
    out, calls = run(stylizer, content)
    assert [step for step, _, _ in calls] == list(range(1, 16))
    assert {total for _, total, _ in calls} == {15}
    losses = [loss for _, _, loss in calls]
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0], losses
    assert out.shape == content.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - content).mean() > 1.0  # the pixels did move


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1.0, 1e-4])
def test_lbfgs_progress_does_not_depend_on_the_loss_scale(vgg: CountingVGG, scale: float) -> None:
    # Gradients of ~1e-10 a pixel: L-BFGS's own first step would move no pixel at all.
    weights = {"content_weight": scale, "style_weight": 0.5 * scale, "tv_weight": scale}
    stylizer = GatysStylizer(vgg, painting(), config(steps=10, **weights), CPU)
    _, calls = run(stylizer, smooth_image(2, low=60, high=190))
    assert calls[-1][2] < 0.5 * calls[0][2], [loss for _, _, loss in calls]


def test_preserve_color_keeps_the_inputs_chroma(vgg: CountingVGG) -> None:
    # Moderate colours, so that the new luminance rarely pushes a channel out of gamut.
    content = smooth_image(2, low=60, high=190)
    colour = GatysStylizer(vgg, painting(), config(steps=10), CPU).stylize(content)
    luma_only = GatysStylizer(vgg, painting(), config(steps=10, preserve_color=True), CPU)
    out = luma_only.stylize(content)

    inside = ((out > 0) & (out < 255)).all(axis=-1)
    assert inside.mean() > 0.95
    # Each channel is rounded by at most 0.5, which moves Cr and Cb by at most 0.5.
    drift = np.abs(chroma(out) - chroma(content))[inside]
    assert drift.max() <= 0.51
    # Not vacuous: the luminance did change, and plain transfer does change the chroma.
    assert np.abs(luminance(out) - luminance(content)).mean() > 1.0
    assert np.abs(chroma(colour) - chroma(content)).mean() > 2.0


def test_given_init_is_the_start(vgg: CountingVGG) -> None:
    content, init = smooth_image(3), smooth_image(4)
    stylizer = GatysStylizer(vgg, painting(), config(steps=5), CPU)
    # No steps: the init comes back as it went in.
    np.testing.assert_array_equal(stylizer.stylize(content, init=init, steps=0), init)
    _, from_content = run(stylizer, content, steps=3)
    _, init_is_content = run(stylizer, content, init=content, steps=3)
    out, from_init = run(stylizer, content, init=init, steps=3)
    # The first loss is the start's: the same for the content given as init, not for another.
    assert init_is_content[0][2] == pytest.approx(from_content[0][2], rel=1e-6)
    assert abs(from_init[0][2] - from_content[0][2]) > 0.05 * from_content[0][2]
    # A few steps from the init stay near it.
    assert np.abs(out.astype(int) - init).mean() < 0.5 * np.abs(out.astype(int) - content).mean()


def test_init_config_content_noise_and_image(vgg: CountingVGG) -> None:
    content = smooth_image(5)
    as_content = GatysStylizer(vgg, painting(), config(steps=0), CPU).stylize(content)
    np.testing.assert_array_equal(as_content, content)
    noise = GatysStylizer(vgg, painting(), config(steps=0, init="noise", seed=1), CPU)
    first, again = noise.stylize(content), noise.stylize(content)
    np.testing.assert_array_equal(first, again)  # seeded
    assert np.abs(first.astype(int) - content).mean() > 30
    other = GatysStylizer(vgg, painting(), config(steps=0, init="noise", seed=2), CPU)
    assert not np.array_equal(other.stylize(content), first)
    needs_image = GatysStylizer(vgg, painting(), config(init="image"), CPU)
    with pytest.raises(UserError, match="init"):
        needs_image.stylize(content)


@pytest.mark.slow
def test_temporal_term_pulls_trusted_pixels_to_the_warped_output(vgg: CountingVGG) -> None:
    content = smooth_image(6)
    warped = smooth_image(7)
    mask = np.zeros(content.shape[:2], np.float32)
    mask[:, :16] = 1.0  # left half trusted
    stylizer = GatysStylizer(vgg, painting(), config(steps=10, temporal_weight=200.0), CPU)
    free = stylizer.stylize(content, init=content)
    held = stylizer.stylize(content, init=content, temporal=(warped, mask))

    def distance(out: np.ndarray, region: np.ndarray) -> float:
        return float(np.abs(out.astype(float) - warped)[region].mean())

    trusted, untrusted = mask > 0, mask == 0
    assert distance(held, trusted) < 0.5 * distance(free, trusted)
    # The pull is the mask's: untrusted pixels are not dragged along as much.
    pull_trusted = distance(held, trusted) / distance(free, trusted)
    pull_untrusted = distance(held, untrusted) / distance(free, untrusted)
    assert pull_trusted < 0.75 * pull_untrusted


def test_style_grams_once_per_size_content_targets_once_per_call(vgg: CountingVGG) -> None:
    style = painting(24, 40)  # resized to the content's long side: 32 -> 19x32, 48 -> 29x48
    stylizer = GatysStylizer(vgg, style, config(steps=3), CPU)

    def no_grad_calls() -> list[tuple[int, int]]:
        return [(h, w) for h, w, grad in vgg.calls if not grad]

    stylizer.stylize(smooth_image(8))
    assert no_grad_calls() == [(32, 32), (19, 32)]  # content target, painting's Grams
    vgg.calls.clear()
    stylizer.stylize(smooth_image(9))  # another frame of the same size
    assert no_grad_calls() == [(32, 32)]
    assert len(vgg.calls) == 1 + 3  # and one forward per step
    vgg.calls.clear()
    stylizer.stylize(smooth_image(10, 48, 48))
    assert no_grad_calls() == [(48, 48), (29, 48)]


@pytest.mark.slow
def test_coarse_to_fine_levels(vgg: CountingVGG, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gatys, "MIN_LEVEL_SIDE", 16)
    content = smooth_image(11, 64, 64)
    stylizer = GatysStylizer(vgg, painting(), config(scales=3, steps=2, coarse_steps=3), CPU)
    out, calls = run(stylizer, content)
    assert out.shape == content.shape
    assert [step for step, _, _ in calls] == list(range(1, 9))
    assert {total for _, total, _ in calls} == {8}
    grad_sizes = [(h, w) for h, w, grad in vgg.calls if grad]
    assert grad_sizes == [(16, 16)] * 3 + [(32, 32)] * 3 + [(64, 64)] * 2
    # A given init is the full-size start: one level only, whatever ``scales`` says.
    vgg.calls.clear()
    _, calls = run(stylizer, content, init=content, steps=2)
    assert [total for _, total, _ in calls] == [2, 2]
    assert {(h, w) for h, w, _ in vgg.calls} == {(64, 64)}


def test_next_weight_moves_towards_the_target_within_bounds() -> None:
    low, high = WEIGHT_RANGE
    assert next_weight(3.0, 0.5, 0.4) > 3.0  # further from the painting: more style
    assert next_weight(3.0, 0.3, 0.4) < 3.0  # closer than needed: keep more of the photo
    assert next_weight(3.0, 0.4, 0.4) == pytest.approx(3.0)
    assert next_weight(3.0, 9.0, 0.4) == pytest.approx(3.0 * MAX_STEP)  # one step at most
    assert next_weight(high, 9.0, 0.4) == high and next_weight(low, 0.01, 0.4) == low


def test_next_weight_gives_way_to_the_photos_edges() -> None:
    # Too far from the painting, but the photo's structure is going: the edges win.
    assert next_weight(3.0, 0.5, 0.4, edges=0.4, edge_floor=0.6) < 3.0
    # Edges above the floor leave the distance in charge, either way.
    assert next_weight(3.0, 0.5, 0.4, edges=0.7, edge_floor=0.6) == next_weight(3.0, 0.5, 0.4)
    assert next_weight(3.0, 0.3, 0.4, edges=0.7, edge_floor=0.6) == next_weight(3.0, 0.3, 0.4)
    # Closer than needed and edges short: lowered by whichever asks for more.
    assert next_weight(3.0, 0.3, 0.4, edges=0.3, edge_floor=0.6) <= next_weight(3.0, 0.3, 0.4)
    assert next_weight(3.0, 0.4, 0.4, edges=0.0, edge_floor=0.6) == pytest.approx(3.0 / MAX_STEP)


@pytest.mark.parametrize(("target", "direction"), [(1e-6, 1), (1e6, -1)])
def test_steering_re_aims_the_weight_and_keeps_it(
    vgg: CountingVGG, target: float, direction: int
) -> None:
    # No edge floor: this tests the distance's steering (the floor's is tested above).
    steered = config(
        style_weight=None, balance_target=target, balance_segment=4, steps=16, balance_edges=0
    )
    stylizer = GatysStylizer(vgg, painting(), steered, CPU)
    out, calls = run(stylizer, smooth_image(13))
    assert [step for step, _, _ in calls] == list(range(1, 17))  # segments cost no steps
    weights = [weight for _, _, weight, _ in stylizer.steering]
    # Four segments: the first settles unmeasured, none follows the last.
    assert len(weights) == 4 - SETTLE_SEGMENTS - 1
    start = steered.balance_start
    assert all((w - start) * direction > 0 for w in weights), weights
    # The weight found on the first image is kept: a video's next frame is not re-steered.
    stylizer.stylize(smooth_image(14))
    assert len(stylizer.steering) == len(weights) and stylizer.style_weight == weights[-1]


def test_steering_measures_the_photos_edges(vgg: CountingVGG) -> None:
    steered = config(style_weight=None, balance_segment=4, steps=12, balance_edges=1.0)
    stylizer = GatysStylizer(vgg, painting(), steered, CPU)
    stylizer.stylize(smooth_image(13))
    edges = [e for _, _, _, e in stylizer.steering]
    assert edges and all(-1.0 <= e < 1.0 for e in edges)  # measured, not the 1.0 of "off"
    # Below the floor the weight only falls, whatever the distance asked for.
    assert all(w < steered.balance_start for _, _, w, _ in stylizer.steering)


def test_a_given_style_weight_is_not_steered(vgg: CountingVGG) -> None:
    stylizer = GatysStylizer(vgg, painting(), config(style_weight=2.0, steps=60), CPU)
    stylizer.stylize(smooth_image(15))
    assert stylizer.steering == [] and stylizer.style_weight == 2.0


class AutocastVGG(CountingVGG):
    """Records whether each forward ran under bfloat16 autocast."""

    def forward(self, x, layers=("relu1_1",)):  # type: ignore[override]
        self.autocast = [*getattr(self, "autocast", []), torch.is_autocast_enabled("cpu")]
        return super().forward(x, layers)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_precision_applies_to_the_optimisation_passes_only(precision: str) -> None:
    torch.manual_seed(0)
    vgg = AutocastVGG()
    stylizer = GatysStylizer(vgg, painting(), config(precision=precision, steps=3), CPU)
    stylizer.stylize(smooth_image(16))
    passes = list(zip(vgg.calls, vgg.autocast, strict=True))
    assert {cast for (_, _, grad), cast in passes if grad} == {precision == "bf16"}
    assert not any(cast for (_, _, grad), cast in passes if not grad)  # targets in float32


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"steps": -1}, "steps"),
        ({"coarse_steps": 1.5}, "coarse_steps"),
        ({"scales": 0}, "scales"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"init": "zeros"}, "init"),
        ({"content_layer": "relu9_1"}, "relu9_1"),
        ({"style_layers": ("relu1_1", "pool2")}, "pool2"),
        ({"style_layers": (), "style_layer_weights": ()}, "style_layers"),
        ({"style_layer_weights": (1.0, 1.0)}, "style_layer_weights"),
        ({"style_layer_weights": (1.0, 1.0, -1.0, 1.0, 1.0)}, "style_layer_weights"),
        ({"style_weight": -1.0}, "style_weight"),
        ({"content_weight": float("nan")}, "content_weight"),
        ({"temporal_weight": -0.1}, "temporal_weight"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"style_scale": 0.0}, "style_scale"),
        ({"precision": "fp16"}, "precision"),
        ({"balance_segment": 0}, "balance_segment"),
        ({"balance_target": -0.1}, "balance_target"),
        ({"balance_edges": float("inf")}, "balance_edges"),
    ],
)
def test_bad_config_is_a_one_line_user_error(vgg: CountingVGG, changes: dict, named: str) -> None:
    bad = dataclasses.replace(GatysConfig(), **changes)
    with pytest.raises(UserError) as caught:
        bad.check()
    message = str(caught.value)
    assert named in message and "\n" not in message
    with pytest.raises(UserError):
        GatysStylizer(vgg, painting(), bad, CPU)


def test_defaults_pass_and_bad_inputs_are_refused(vgg: CountingVGG) -> None:
    GatysConfig().check()
    with pytest.raises(UserError, match="style image"):
        GatysStylizer(vgg, painting().astype(np.float32), GatysConfig(), CPU)
    stylizer = GatysStylizer(vgg, painting(), config(steps=1), CPU)
    with pytest.raises(ValueError, match="init"):
        stylizer.stylize(smooth_image(12), init=smooth_image(12, 16, 16))
    with pytest.raises(UserError, match="steps"):
        stylizer.stylize(smooth_image(12), steps=-2)


@pytest.mark.slow
def test_real_weights_move_towards_the_painting(vgg_weights: Path, shared_dir: Path) -> None:
    from models.metrics import content_distance, style_distance
    from models.vgg import load_vgg16

    def read(path: Path, side: int) -> np.ndarray:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)

    real, _ = load_vgg16(vgg_weights)
    content = read(shared_dir / "data" / "samples" / "amber.jpg", 64)
    style = read(shared_dir / "data" / "styles" / "mosaic.jpg", 64)
    out = GatysStylizer(real, style, config(steps=30), CPU).stylize(content)
    before = style_distance(real, content, style)
    after = style_distance(real, out, style)
    assert after < 0.6 * before, (before, after)
    # The content survives: the result is much nearer to it than the painting is.
    kept = content_distance(real, out, content)
    assert kept < 0.8 * content_distance(real, style, content)
