"""Perceptual losses for TransformerNet training (Johnson et al. 2016), normalised.

Raw feature-reconstruction and Gram losses scale with the VGG weights' activation
magnitudes, which differ by orders of magnitude between torchvision's ImageNet weights and
the Caffe-derived ones. Every term here is divided by the size of its target, so one set of
default weights works with either backbone:

- content = mse(phi(y), phi(x)) / mean(phi(x)^2), per image, at each content layer;
- style   = sum over layers of w_l * ||G(y) - G(s)||_F^2 / ||G(s)||_F^2, per image;
- tv      = mean squared difference of neighbouring pixels of y / 255 (range [0, 1]).

All three are averaged over the batch. Grams and losses are computed in float32 even under
autocast: Gram sums over H*W products overflow float16.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from models.vgg import CONTENT_LAYER, STYLE_LAYERS, VGG16Features

# Guards only against 0/0: an absolute epsilon of any real size would dominate for
# backbones with small activations (random weights have ~1e-10 Gram entries at relu4_3).
_TINY = torch.finfo(torch.float32).tiny


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
    """One step's losses: ``total`` is the weighted sum of the three (unweighted) terms."""

    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {k: float(getattr(self, k).detach()) for k in ("total", "content", "style", "tv")}


class PerceptualLoss(nn.Module):
    """Johnson et al.'s training loss against one style image, with normalised terms.

    ``style_image`` is (1, 3, H, W) in [0, 255] at the size it should be matched at; its
    Grams are computed once here. ``style_layer_weights`` defaults to 1 for each layer.
    """

    def __init__(
        self,
        vgg: VGG16Features,
        style_image: torch.Tensor,
        content_weight: float,
        style_weight: float,
        tv_weight: float = 0.0,
        content_layers: Sequence[str] = (CONTENT_LAYER,),
        style_layers: Sequence[str] = STYLE_LAYERS,
        style_layer_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.vgg = vgg
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        weights = dict(style_layer_weights or {})
        unknown = set(weights) - set(self.style_layers)
        if unknown:
            raise ValueError(f"style_layer_weights for layers not in style_layers: {unknown}")
        self.style_layer_weights = {name: weights.get(name, 1.0) for name in self.style_layers}
        with torch.no_grad():
            feats = vgg(style_image, self.style_layers)
            grams = {name: gram_matrix(feats[name]) for name in self.style_layers}
        self.style_grams = grams

    def forward(self, output: torch.Tensor, content: torch.Tensor) -> LossTerms:
        """Losses of stylized ``output`` for ``content`` (both N x 3 x H x W in [0, 255])."""
        out_feats = self.vgg(output, self.content_layers + self.style_layers)
        with torch.no_grad():
            target_feats = self.vgg(content, self.content_layers)
        c_loss = sum(
            (content_loss(out_feats[n], target_feats[n]) for n in self.content_layers),
            start=torch.zeros((), device=output.device),
        )
        s_loss = sum(
            (
                self.style_layer_weights[n]
                * style_layer_loss(gram_matrix(out_feats[n]), self.style_grams[n])
                for n in self.style_layers
            ),
            start=torch.zeros((), device=output.device),
        )
        # Computed even at weight 0: it is cheap and worth logging.
        tv = total_variation(output)
        total = self.content_weight * c_loss + self.style_weight * s_loss + self.tv_weight * tv
        return LossTerms(total=total, content=c_loss, style=s_loss, tv=tv)
