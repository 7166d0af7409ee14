"""Losses and metrics: Gram, normalised terms (backbone-scale independence), TV, metrics."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from models.losses import (
    PerceptualLoss,
    content_loss,
    cosine_content_loss,
    gram_matrix,
    laplacian_loss,
    style_layer_loss,
    total_variation,
    weighted_cosine_content_loss,
)
from models.metrics import content_distance, edge_correlation, style_distance
from models.transformer_net import TransformerNet
from models.vgg import STYLE_LAYERS, VGG16Features, load_vgg16


def _vgg(seed: int = 0, zero_bias: bool = False) -> VGG16Features:
    torch.manual_seed(seed)
    vgg = VGG16Features()
    if zero_bias:
        for layer in vgg.features:
            if isinstance(layer, torch.nn.Conv2d):
                torch.nn.init.zeros_(layer.bias)
    return vgg


def _image(seed: int, h: int = 32, w: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # Smooth random colour fields: more image-like than white noise.
    small = torch.rand(1, 3, max(2, h // 8), max(2, w // 8), generator=g)
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear") * 255


def test_gram_matrix_definition() -> None:
    f = torch.randn(2, 5, 4, 3)
    g = gram_matrix(f)
    expected = torch.einsum("nchw,ndhw->ncd", f, f) / (5 * 4 * 3)
    torch.testing.assert_close(g, expected)
    assert g.shape == (2, 5, 5) and g.dtype == torch.float32
    torch.testing.assert_close(g, g.transpose(1, 2))


def test_gram_matrix_is_size_normalised_and_float32_for_half_input() -> None:
    f = torch.rand(1, 4, 6, 5)
    tiled = f.repeat(1, 1, 3, 2)  # same statistics, six times the positions
    torch.testing.assert_close(gram_matrix(tiled), gram_matrix(f))
    big = torch.full((1, 2, 64, 64), 200.0, dtype=torch.float16)
    g = gram_matrix(big)  # sum of 4096 products of 200^2 overflows float16
    assert g.dtype == torch.float32
    torch.testing.assert_close(g, torch.full((1, 2, 2), 200.0**2 / 2))


def test_content_loss_is_relative_and_scale_free() -> None:
    target = torch.rand(3, 4, 5, 5) + 0.5
    assert content_loss(target, target) == 0
    assert content_loss(torch.zeros_like(target), target).item() == pytest.approx(1.0, rel=1e-5)
    out = target + 0.3 * torch.randn_like(target)
    a = content_loss(out, target)
    assert content_loss(out * 1000, target * 1000).item() == pytest.approx(a.item(), rel=1e-4)


def test_cosine_content_loss_ignores_strength_and_sees_direction() -> None:
    target = torch.rand(2, 8, 6, 6) + 0.1
    assert cosine_content_loss(target * 7.0, target).item() == pytest.approx(0.0, abs=1e-6)
    # Opposite directions everywhere: |u - (-u)|^2 = 4 at every position.
    assert cosine_content_loss(-target, target).item() == pytest.approx(4.0, rel=1e-5)


def test_weighted_cosine_weights_positions_by_the_photos_strength() -> None:
    target = torch.rand(1, 8, 4, 4) + 0.5
    uniform = target / target.norm(dim=1, keepdim=True)  # every position of strength 1
    out = torch.rand(1, 8, 4, 4)
    # Equal strengths: the weighting is a no-op.
    assert weighted_cosine_content_loss(out, uniform).item() == pytest.approx(
        cosine_content_loss(out, uniform).item(), rel=1e-5
    )
    # The same wrong direction costs less at a weak (dark) position than at a strong one.
    target = uniform.clone()
    target[..., 0, 0] *= 0.1
    target[..., 3, 3] *= 3.0
    wrong_at = {}
    for pos in ((0, 0), (3, 3)):
        out = target.clone()
        out[(..., *pos)] = -out[(..., *pos)]
        wrong_at[pos] = weighted_cosine_content_loss(out, target).item()
    assert wrong_at[(0, 0)] < cosine_content_loss(-target, target).item() / 16 < wrong_at[(3, 3)]
    # Strength is relative to the image's own mean: scaling the photo changes nothing.
    assert weighted_cosine_content_loss(out, target * 100).item() == pytest.approx(
        weighted_cosine_content_loss(out, target).item(), rel=1e-5
    )


def test_weighted_cosine_power_per_image_runs_from_plain_to_weighted() -> None:
    torch.manual_seed(0)
    target = torch.rand(2, 8, 5, 5) * torch.rand(2, 1, 5, 5) * 4  # uneven strengths
    out = torch.rand(2, 8, 5, 5)
    plain = [cosine_content_loss(out[i : i + 1], target[i : i + 1]).item() for i in range(2)]
    full = [
        weighted_cosine_content_loss(out[i : i + 1], target[i : i + 1]).item() for i in range(2)
    ]
    assert plain[0] != pytest.approx(full[0], rel=1e-3)  # the weighting matters here
    mixed = weighted_cosine_content_loss(out, target, power=torch.tensor([0.0, 1.0])).item()
    assert mixed == pytest.approx((plain[0] + full[1]) / 2, rel=1e-5)


def test_perceptual_loss_applies_each_styles_content_strength() -> None:
    vgg = _vgg()
    styles = [_image(1), _image(2)]
    content, output = _image(3).repeat(2, 1, 1, 1), _image(4).repeat(2, 1, 1, 1)
    kinds = {
        p: PerceptualLoss(vgg, styles, 1.0, 1.0, content_loss="weighted-cosine", content_strength=p)
        for p in (0.0, 1.0, (0.0, 1.0))
    }
    plain = PerceptualLoss(vgg, styles, 1.0, 1.0, content_loss="cosine")
    index = torch.tensor([0, 1])
    assert kinds[0.0](output, content, index).content.item() == pytest.approx(
        plain(output, content, index).content.item(), rel=1e-5
    )
    mixed = kinds[(0.0, 1.0)](output, content, index).content.item()
    halves = [kinds[p](output, content, index).content.item() for p in (0.0, 1.0)]
    assert mixed == pytest.approx(sum(halves) / 2, rel=1e-4)
    with pytest.raises(ValueError, match="content strengths"):
        PerceptualLoss(vgg, styles, 1.0, 1.0, content_strength=(1.0, 1.0, 1.0))


def test_laplacian_loss_lets_colour_change_and_sees_moved_outlines() -> None:
    # A bright square on a dark field: its outline is the structure the term keeps.
    photo = torch.full((1, 3, 64, 64), 40.0)
    photo[..., 16:48, 16:48] = 200.0
    assert laplacian_loss(photo, photo, pool=4).item() == 0
    # The same grey in other colours (BT.601 luma kept): a recolouring costs nothing.
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    shift = torch.tensor([30.0, -20.0, 0.0]).view(1, 3, 1, 1)
    shift[:, 2] = -(shift * luma).sum() / luma[:, 2]
    recoloured = photo + shift
    assert laplacian_loss(recoloured, photo, pool=4).item() == pytest.approx(0.0, abs=1e-9)
    # Fine texture below the pooling scale barely counts; the outline moved counts in full.
    texture = photo.clone()
    texture[..., ::2, ::2] += 20.0
    moved = torch.roll(photo, shifts=(8, 8), dims=(2, 3))
    assert laplacian_loss(texture, photo, pool=4) < 0.01 * laplacian_loss(moved, photo, pool=4)
    assert laplacian_loss(moved, photo, pool=4).item() > 1.0
    # In the total, with its weight; off by default.
    vgg = _vgg()
    on = PerceptualLoss(vgg, _image(1), 1.0, 1.0, laplacian_weight=2.0, laplacian_pool=4)
    off = PerceptualLoss(vgg, _image(1), 1.0, 1.0)
    output = moved.requires_grad_()
    terms_on, terms_off = on(output, photo), off(output, photo)
    torch.testing.assert_close(
        terms_on.total - terms_off.total, 2.0 * laplacian_loss(moved, photo, pool=4)
    )
    assert terms_off.laplacian is None and "laplacian" not in terms_off.as_floats()
    assert terms_on.as_floats()["laplacian"] == pytest.approx(terms_on.laplacian.item())
    terms_on.total.backward()
    assert output.grad is not None and output.grad.abs().sum() > 0


def test_style_layer_loss_is_relative_and_broadcasts_target() -> None:
    target = gram_matrix(torch.rand(1, 6, 5, 5))
    out = gram_matrix(torch.rand(4, 6, 5, 5))
    assert style_layer_loss(target.expand(3, 6, 6), target) == 0
    zero = style_layer_loss(torch.zeros(4, 6, 6), target)
    assert zero.item() == pytest.approx(1.0, rel=1e-5)
    per_image = [style_layer_loss(out[i : i + 1], target) for i in range(4)]
    assert style_layer_loss(out, target).item() == pytest.approx(
        torch.stack(per_image).mean().item(), rel=1e-5
    )


def test_total_variation_on_unit_scale() -> None:
    assert total_variation(torch.full((1, 3, 8, 8), 77.0)) == 0
    # Vertical stripes alternating 0 / 255: every horizontal neighbour differs by 1.0.
    stripes = torch.zeros(1, 3, 6, 8)
    stripes[..., 1::2] = 255.0
    assert total_variation(stripes).item() == pytest.approx(1.0)
    ramp = torch.arange(8.0).repeat(1, 3, 6, 1) * 25.5  # steps of 0.1 on the [0, 1] scale
    assert total_variation(ramp).item() == pytest.approx(0.01, rel=1e-5)


def test_perceptual_loss_terms_and_gradients() -> None:
    vgg = _vgg()
    style = _image(1, 40, 48)
    loss = PerceptualLoss(vgg, style, content_weight=2.0, style_weight=3.0, tv_weight=5.0)
    content = torch.cat([_image(2), _image(3)])
    same = loss(content, content)
    assert same.content.item() == 0
    assert same.style.item() > 0
    output = (content + 20 * torch.randn_like(content)).requires_grad_()
    terms = loss(output, content)
    expected = 2.0 * terms.content + 3.0 * terms.style + 5.0 * terms.tv
    torch.testing.assert_close(terms.total, expected)
    terms.total.backward()
    assert output.grad is not None and output.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())
    floats = terms.as_floats()
    assert set(floats) == {"total", "content", "style", "tv"}
    assert all(math.isfinite(v) for v in floats.values())


def test_style_layer_weights_select_layers() -> None:
    vgg = _vgg()
    style, content = _image(1), _image(2)
    output = _image(4)
    weights = {name: 0.0 for name in STYLE_LAYERS} | {"relu3_3": 1.0}
    only33 = PerceptualLoss(vgg, style, 1.0, 1.0, style_layer_weights=weights)
    expected = style_layer_loss(
        gram_matrix(vgg(output, ["relu3_3"])["relu3_3"]),
        gram_matrix(vgg(style, ["relu3_3"])["relu3_3"]),
    )
    torch.testing.assert_close(only33(output, content).style, expected)
    with pytest.raises(ValueError, match="relu5_1"):
        PerceptualLoss(vgg, style, 1.0, 1.0, style_layer_weights={"relu5_1": 1.0})


def test_normalised_losses_do_not_depend_on_backbone_activation_scale() -> None:
    # With zero biases, scaling the first convolution scales every later activation by the
    # same factor (ReLU and max-pool are positively homogeneous): a backbone with 100x larger
    # activations, as the Caffe-derived weights have, must give the same losses.
    base, scaled = _vgg(zero_bias=True), _vgg(zero_bias=True)
    with torch.no_grad():
        scaled.features[0].weight.mul_(100.0)
    style, content, output = _image(1), _image(2), _image(5)
    a = PerceptualLoss(base, style, 1.0, 10.0)(output, content)
    b = PerceptualLoss(scaled, style, 1.0, 10.0)(output, content)
    assert b.content.item() == pytest.approx(a.content.item(), rel=1e-3)
    assert b.style.item() == pytest.approx(a.style.item(), rel=1e-3)
    assert b.total.item() == pytest.approx(a.total.item(), rel=1e-3)


def _rgb(seed: int, height: int = 40, width: int = 48) -> np.ndarray:
    return _image(seed, height, width)[0].permute(1, 2, 0).round().byte().numpy()


def test_metrics_definitions() -> None:
    vgg = _vgg()
    style, content, output = _rgb(1, 48, 40), _rgb(2), _rgb(6)
    assert style_distance(vgg, style, style) == pytest.approx(0.0, abs=1e-6)
    assert content_distance(vgg, content, content) == pytest.approx(0.0, abs=1e-6)
    # Recompute the documented definitions by hand.

    def feats(image: np.ndarray) -> dict[str, torch.Tensor]:
        return vgg(torch.from_numpy(image).permute(2, 0, 1)[None].float(), STYLE_LAYERS)

    fo, fs, fc = feats(output), feats(style), feats(content)
    expected = sum(
        (
            torch.linalg.norm(gram_matrix(fo[n]) - gram_matrix(fs[n]))
            / torch.linalg.norm(gram_matrix(fs[n]))
        ).item()
        for n in STYLE_LAYERS
    ) / len(STYLE_LAYERS)
    assert style_distance(vgg, output, style) == pytest.approx(expected, rel=1e-5)

    def unit(f: torch.Tensor) -> torch.Tensor:
        return f / (f.norm(dim=1, keepdim=True) + 1e-10)

    expected_c = sum(
        (unit(fo[n]) - unit(fc[n])).pow(2).sum(dim=1).mean().item() for n in STYLE_LAYERS
    ) / len(STYLE_LAYERS)
    assert content_distance(vgg, output, content) == pytest.approx(expected_c, rel=1e-5)
    assert edge_correlation(content, content) == pytest.approx(1.0)
    assert edge_correlation(output, content) < 0.5  # two unrelated noise images
    with pytest.raises(ValueError, match="differ in shape"):
        content_distance(vgg, output, _rgb(2, 32, 40))


def test_shared_vgg_weights_shapes_and_loss_scale(vgg_weights: Path, shared_dir: Path) -> None:
    vgg, identity = load_vgg16(vgg_weights)
    assert identity.startswith("file:vgg16-imagenet-features.pth sha256:07918786189b")
    from models.data import load_image_tensor

    style = load_image_tensor(shared_dir / "data/styles/mosaic.jpg", 64)
    content = load_image_tensor(shared_dir / "data/samples/amber.jpg", 48)
    feats = vgg(content, STYLE_LAYERS)
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "relu1_2": (1, 64, 48, 48),
        "relu2_2": (1, 128, 24, 24),
        "relu3_3": (1, 256, 12, 12),
        "relu4_3": (1, 512, 6, 6),
    }
    torch.manual_seed(0)
    output = TransformerNet()(content)  # an untrained network: the start of training
    terms = PerceptualLoss(vgg, style, 1.0, 1.0)(output, content)
    # Raw Caffe-scale terms would be ~1e5..1e11; normalised ones are about 1 (per layer).
    assert 0.1 < terms.content.item() < 10
    assert 0.1 * len(STYLE_LAYERS) < terms.style.item() < 10 * len(STYLE_LAYERS)
    assert math.isfinite(terms.total.item())

    def rgb(image: torch.Tensor) -> np.ndarray:
        return image[0].permute(1, 2, 0).clamp(0, 255).round().byte().numpy()

    assert 0.05 < style_distance(vgg, rgb(content), rgb(style)) < 10
    assert 0.05 < content_distance(vgg, rgb(output.detach()), rgb(content)) < 4
