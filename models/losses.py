"""Perceptual losses for TransformerNet training (Johnson et al. 2016), normalised.

Raw feature-reconstruction and Gram losses scale with the VGG weights' activation
magnitudes, which differ by orders of magnitude between torchvision's ImageNet weights and
the Caffe-derived ones. Every term here is divided by the size of its target, so one set of
default weights works with either backbone:

- content, one of ``CONTENT_LOSS_KINDS`` (models/train_config.py), per image, averaged over
  the content layers:
  - ``mse`` (Johnson et al.'s): mse(phi(y), phi(x)) / mean(phi(x)^2);
  - ``cosine``: the mean over positions of ||u(phi(y)) - u(phi(x))||^2, with u the channel
    vector at a position scaled to unit length (LPIPS's normalisation, equal channel
    weights). It asks that every position keeps the *kind* of feature the photo has there,
    not its strength: a stylization may recolour and re-texture, but an edge stays an edge.
    Johnson's mse, dominated by a few strong channels, punishes recolouring as much as lost
    structure (docs/STYLES-LAB.md, A: the reference networks' outputs have a higher relu2_2 mse
    than ours had, and keep far more of the photo);
  - ``weighted-cosine``: ``cosine`` with each position weighted by the photo's feature
    strength there (|phi(x)|, mean 1 per image). Plain cosine holds a dark, flat region's
    feature direction as firmly as an edge's, so a network keeps dark regions as the photo
    has them (docs/STYLES-LAB.md, B7: the door left unpainted); weighted, weak positions give way
    to the painting and strong ones keep the structure;
  - ``pixel``: mse(y, x) on the [0, 1] scale, no VGG (a network that reproduces its input,
    as a starting point for style training);
- style   = sum over layers of w_l * ||G(y) - G(s)||_F^2 / ||G(s)||_F^2, per image, against the
  painting of that image's style (several paintings train a multi-style network);
- laplacian (Li et al. 2017) = ||L(y) - L(x)||^2 / ||L(x)||^2 per image, L the 3x3 Laplacian
  of the grey image averaged over k x k blocks: it keeps where the photo's light meets dark
  (its outlines at a coarse scale) and leaves colour and fine texture to the painting;
- tv      = mean squared difference of neighbouring pixels of y / 255 (range [0, 1]);
- temporal (``models.temporal_loss``, optional) = ``masked_pixel_loss`` of the moved crop's
  output against the output moved: the network follows its input's motion.

All three are averaged over the batch. Grams and losses are computed in float32 even under
autocast: Gram sums over H*W products overflow float16.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import nn

from models.train_config import CONTENT_LOSS_KINDS
from models.vgg import CONTENT_LAYER, STYLE_LAYERS, VGG16Features

# Guards only against 0/0: an absolute epsilon of any real size would dominate for
# backbones with small activations (random weights have ~1e-10 Gram entries at relu4_3).
_TINY = torch.finfo(torch.float32).tiny
# LPIPS's epsilon: a channel vector of all zeros (a dead position) has no direction.
_UNIT_EPS = 1e-10


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Batched Gram matrix ``F F^T / (C*H*W)`` of NCHW features, shape (N, C, C), float32."""
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)
    with torch.autocast(device_type=flat.device.type, enabled=False):
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def content_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image mse normalised by the target's mean square, averaged over the batch."""
    output, target = output.float(), target.float()
    mse = (output - target).pow(2).mean(dim=(1, 2, 3))
    scale = target.pow(2).mean(dim=(1, 2, 3))
    return (mse / scale.clamp_min(_TINY)).mean()


def _unit(features: torch.Tensor) -> torch.Tensor:
    features = features.float()
    return features / (features.norm(dim=1, keepdim=True) + _UNIT_EPS)


def cosine_content_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over positions of the squared distance of unit channel vectors, batch-averaged."""
    return (_unit(output) - _unit(target)).pow(2).sum(dim=1).mean()


def weighted_cosine_content_loss(
    output: torch.Tensor, target: torch.Tensor, power: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """``cosine_content_loss`` with positions weighted by the target's channel-vector length
    to the ``power`` (one for all, or one per image: 0 is plain cosine), normalised to a mean
    of 1 per image (so its scale matches the unweighted loss)."""
    power = torch.as_tensor(power, dtype=torch.float32, device=target.device)
    strength = target.float().norm(dim=1).clamp_min(_TINY).pow(power.reshape(-1, 1, 1))
    weight = strength / strength.mean(dim=(1, 2), keepdim=True).clamp_min(_TINY)
    return (weight * (_unit(output) - _unit(target)).pow(2).sum(dim=1)).mean()


# ITU-R BT.601 luma, as OpenCV's grey conversion and YIQ/YCrCb (the scorer's edges are of
# grey images; Gatys' luminance-only transfer uses it too).
BT601_LUMA = (0.299, 0.587, 0.114)
_LAPLACIAN = ((0.0, -1.0, 0.0), (-1.0, 4.0, -1.0), (0.0, -1.0, 0.0))


def laplacian(image: torch.Tensor, pool: int) -> torch.Tensor:
    """The 3x3 Laplacian of the grey [0, 1] image, average-pooled over ``pool`` blocks first."""
    x = image.float() / 255.0
    luma = torch.tensor(BT601_LUMA, device=x.device).view(1, 3, 1, 1)
    grey = (x * luma).sum(dim=1, keepdim=True)
    if pool > 1:
        grey = nn.functional.avg_pool2d(grey, pool)
    kernel = torch.tensor(_LAPLACIAN, device=x.device).view(1, 1, 3, 3)
    return nn.functional.conv2d(grey, kernel)


def laplacian_loss(output: torch.Tensor, content: torch.Tensor, pool: int) -> torch.Tensor:
    """``||L(y) - L(x)||^2 / ||L(x)||^2`` per image, batch-averaged (``laplacian``)."""
    target = laplacian(content, pool)
    diff = (laplacian(output, pool) - target).pow(2).sum(dim=(1, 2, 3))
    return (diff / target.pow(2).sum(dim=(1, 2, 3)).clamp_min(_TINY)).mean()


def pixel_loss(output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Mean squared pixel difference on the [0, 1] scale."""
    return ((output.float() - content.float()) / 255.0).pow(2).mean()


def masked_pixel_loss(
    output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """``pixel_loss`` over the pixels where ``mask`` (N, 1, H, W, in [0, 1]) is set: the mean
    over the batch's masked pixels and the channels, so the value does not shrink with the
    share of the image that is masked out."""
    squared = ((output.float() - target.float()) / 255.0).pow(2) * mask
    return squared.sum() / (mask.sum() * output.shape[1]).clamp_min(1.0)


def style_layer_loss(output_gram: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """``||G(y) - G(s)||^2 / ||G(s)||^2`` per image, averaged; ``target_gram`` may be (1, C, C)."""
    diff = (output_gram - target_gram).pow(2).sum(dim=(1, 2))
    scale = target_gram.pow(2).sum(dim=(1, 2))
    return (diff / scale.clamp_min(_TINY)).mean()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared neighbour difference of a [0, 255] image, measured on the [0, 1] scale."""
    x = image.float() / 255.0
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).mean()
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).mean()
    return dh + dw


@dataclass(frozen=True)
class LossTerms:
    """One step's losses: ``total`` is the weighted sum of the (unweighted) terms;
    ``laplacian`` and ``temporal`` (``models.temporal_loss``, added by the trainer with
    ``with_temporal``) only when the loss has that term."""

    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor
    laplacian: torch.Tensor | None = None
    temporal: torch.Tensor | None = None

    def with_temporal(self, temporal: torch.Tensor, weight: float) -> LossTerms:
        """These terms and the temporal one, its weighted value added to the total."""
        return replace(self, total=self.total + weight * temporal, temporal=temporal)

    def as_floats(self) -> dict[str, float]:
        optional = tuple(k for k in ("laplacian", "temporal") if getattr(self, k) is not None)
        names = ("total", "content", "style", "tv", *optional)
        return {k: float(getattr(self, k).detach()) for k in names}


class PerceptualLoss(nn.Module):
    """Johnson et al.'s training loss against one or several style images, normalised.

    ``style_images``: one (1, 3, H, W) tensor in [0, 255] per style, each at the size it
    should be matched at (or one tensor, for the single-style call); their Grams are computed
    once here. ``style_weight``: one weight, or one per style. ``style_layer_weights`` defaults
    to 1 for each layer.
    """

    def __init__(
        self,
        vgg: VGG16Features,
        style_images: torch.Tensor | Sequence[torch.Tensor],
        content_weight: float,
        style_weight: float | Sequence[float],
        tv_weight: float = 0.0,
        content_layers: Sequence[str] = (CONTENT_LAYER,),
        style_layers: Sequence[str] = STYLE_LAYERS,
        style_layer_weights: Mapping[str, float] | None = None,
        content_loss: str = "mse",
        pixel_weight: float = 0.0,
        content_strength: float | Sequence[float] = 1.0,
        laplacian_weight: float = 0.0,
        laplacian_pool: int = 4,
    ) -> None:
        super().__init__()
        if content_loss not in CONTENT_LOSS_KINDS:
            raise ValueError(
                f"content_loss must be one of {CONTENT_LOSS_KINDS}, got {content_loss!r}"
            )
        if isinstance(style_images, torch.Tensor):
            style_images = [style_images]
        style_images = list(style_images)
        weights_per_style = (
            [float(style_weight)] * len(style_images)
            if isinstance(style_weight, int | float)
            else [float(w) for w in style_weight]
        )
        if not style_images and not any(weights_per_style):
            weights_per_style = [0.0]  # content only: a network that keeps its input
        elif len(weights_per_style) != len(style_images):
            raise ValueError(
                f"{len(weights_per_style)} style weights for {len(style_images)} style images"
            )
        self.vgg = vgg
        self.content_weight = content_weight
        self.style_weights = torch.tensor(weights_per_style)
        self.tv_weight = tv_weight
        self.pixel_weight = pixel_weight
        self.laplacian_weight = laplacian_weight
        self.laplacian_pool = laplacian_pool
        self.content_kind = content_loss
        # weighted-cosine's power of the photo's feature strength, per style (0: plain cosine).
        strengths = (
            [float(content_strength)] * len(weights_per_style)
            if isinstance(content_strength, int | float)
            else [float(w) for w in content_strength]
        )
        if len(strengths) != len(weights_per_style):
            raise ValueError(
                f"{len(strengths)} content strengths for {len(weights_per_style)} styles"
            )
        self.content_strength = torch.tensor(strengths)
        self.content_layers = () if content_loss == "pixel" else tuple(content_layers)
        self.style_layers = tuple(style_layers) if any(weights_per_style) else ()
        layer_weights = dict(style_layer_weights or {})
        unknown = set(layer_weights) - set(style_layers)
        if unknown:
            raise ValueError(f"style_layer_weights for layers not in style_layers: {unknown}")
        self.style_layer_weights = {name: layer_weights.get(name, 1.0) for name in style_layers}
        grams: dict[str, list[torch.Tensor]] = {name: [] for name in self.style_layers}
        with torch.no_grad():
            for image in style_images:
                feats = vgg(image, self.style_layers)
                for name in self.style_layers:
                    grams[name].append(gram_matrix(feats[name])[0])
        # (styles, C, C) per layer: an image's target is the row of its style.
        self.style_grams = {name: torch.stack(g) for name, g in grams.items()}

    @property
    def num_styles(self) -> int:
        return len(self.style_weights)

    def forward(
        self, output: torch.Tensor, content: torch.Tensor, style: torch.Tensor | None = None
    ) -> LossTerms:
        """Losses of stylized ``output`` for ``content`` (both N x 3 x H x W in [0, 255]);
        ``style`` (N,) is each image's style index (default: all style 0)."""
        device = output.device
        if style is None or not self.style_layers:
            # Without a Gram target every style's weight is 0, and a content-only loss has one:
            # the style indices a distilled multi-style student's crops carry index nothing here.
            style = torch.zeros(output.shape[0], dtype=torch.long, device=device)
        wanted = self.content_layers + self.style_layers
        out_feats = self.vgg(output, wanted) if wanted else {}
        c_loss = self._content(output, content, out_feats, style)
        per_image = torch.zeros(output.shape[0], device=device)
        for name in self.style_layers:
            weight = self.style_layer_weights[name]
            if weight == 0:
                continue
            target = self.style_grams[name].to(device)[style]
            diff = (gram_matrix(out_feats[name]) - target).pow(2).sum(dim=(1, 2))
            per_image = per_image + weight * diff / target.pow(2).sum(dim=(1, 2)).clamp_min(_TINY)
        s_loss = per_image.mean()
        weighted_style = (self.style_weights.to(device)[style] * per_image).mean()
        # Computed even at weight 0: it is cheap and worth logging.
        tv = total_variation(output)
        total = self.content_weight * c_loss + weighted_style + self.tv_weight * tv
        if self.pixel_weight:
            total = total + self.pixel_weight * pixel_loss(output, content)
        lap = None
        if self.laplacian_weight:
            lap = laplacian_loss(output, content, self.laplacian_pool)
            total = total + self.laplacian_weight * lap
        return LossTerms(total=total, content=c_loss, style=s_loss, tv=tv, laplacian=lap)

    def _content(
        self,
        output: torch.Tensor,
        content: torch.Tensor,
        out_feats: dict[str, torch.Tensor],
        style: torch.Tensor,
    ) -> torch.Tensor:
        if self.content_kind == "pixel":
            return pixel_loss(output, content)
        with torch.no_grad():
            target_feats = self.vgg(content, self.content_layers)
        power = self.content_strength.to(output.device)[style]
        layer_loss = {
            "cosine": cosine_content_loss,
            "weighted-cosine": partial(weighted_cosine_content_loss, power=power),
        }.get(self.content_kind, content_loss)
        total = sum(
            (layer_loss(out_feats[n], target_feats[n]) for n in self.content_layers),
            start=torch.zeros((), device=output.device),
        )
        # Averaged over layers for cosine (each term is in [0, 4]); summed for Johnson's mse,
        # whose recipes are written for one layer.
        return total if self.content_kind == "mse" else total / len(self.content_layers)
