"""Evaluation metrics for stylized images, shared by ``realtime eval style`` and the docs.

Both are relative Frobenius distances in VGG-16 feature space, so they are unitless and
comparable across VGG weight sets (to the extent the backbones agree):

- ``style_distance(out, style)`` = mean over l in (relu1_2, relu2_2, relu3_3, relu4_3) of
  ``||G_l(out) - G_l(style)||_F / ||G_l(style)||_F``, where ``G_l`` is the Gram matrix
  ``F F^T / (C*H*W)`` of the layer's activations. The style image's Grams are taken at the
  style image's own size (it is not resized to the output's size): the Gram's size-normalisation
  makes images of different sizes comparable. 0 means identical feature statistics.
- ``content_distance(out, content)`` = ``||phi(out) - phi(content)||_F / ||phi(content)||_F``
  with ``phi`` the relu3_3 activations; ``out`` and ``content`` must have the same size.
  0 means identical features; about 1 means nothing of the content's features is left.

Inputs are float RGB tensors in [0, 255], (3, H, W) or (N, 3, H, W); for a batch the mean
over images is returned. The style image is a single image.
"""

from __future__ import annotations

import torch

from models.losses import gram_matrix
from models.vgg import STYLE_LAYERS, VGG16Features

CONTENT_METRIC_LAYER = "relu3_3"


def _batch(image: torch.Tensor) -> torch.Tensor:
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[1] != 3:
        shape = tuple(image.shape)
        raise ValueError(f"expected a (3, H, W) or (N, 3, H, W) RGB tensor, got {shape}")
    return image.float()


@torch.no_grad()
def style_distance(vgg: VGG16Features, output: torch.Tensor, style: torch.Tensor) -> float:
    """Mean relative Gram distance over relu1_2..relu4_3 (see the module docstring)."""
    out_feats = vgg(_batch(output), STYLE_LAYERS)
    style_feats = vgg(_batch(style)[:1], STYLE_LAYERS)
    per_layer = []
    for name in STYLE_LAYERS:
        g_out, g_style = gram_matrix(out_feats[name]), gram_matrix(style_feats[name])
        dist = torch.linalg.matrix_norm(g_out - g_style) / torch.linalg.matrix_norm(g_style)
        per_layer.append(dist.mean())
    return float(torch.stack(per_layer).mean())


@torch.no_grad()
def content_distance(vgg: VGG16Features, output: torch.Tensor, content: torch.Tensor) -> float:
    """Relative relu3_3 feature distance between ``output`` and ``content`` (same size)."""
    output, content = _batch(output), _batch(content)
    if output.shape != content.shape:
        raise ValueError(
            f"output {tuple(output.shape)} and content {tuple(content.shape)} differ in shape"
        )
    f_out = vgg(output, (CONTENT_METRIC_LAYER,))[CONTENT_METRIC_LAYER].float()
    f_con = vgg(content, (CONTENT_METRIC_LAYER,))[CONTENT_METRIC_LAYER].float()
    diff = (f_out - f_con).flatten(1).norm(dim=1)
    return float((diff / f_con.flatten(1).norm(dim=1)).mean())
