"""Instance norms for one style or several (conditional instance normalisation).

A single-style network uses ``nn.InstanceNorm2d(affine=True)``: the PyTorch examples' layout,
so their checkpoints load unchanged. A multi-style network (Dumoulin, Shlens and Kudlur 2017)
keeps one scale and shift row per style in each norm, and mixes the rows with per-image style
weights: ``gamma = w @ weight``, ``beta = w @ bias`` for ``w`` of shape (N, styles). Every
convolution is shared by all styles; a style is nothing but its rows of norm parameters,
which is why a mix of styles is a mix of those rows, and why one style of a multi-style
network is exactly a single-style network (``single_style_state``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# nn.InstanceNorm2d's default: the two kinds of norm must agree for a style to be extractable.
EPS = 1e-5


class ConditionalInstanceNorm2d(nn.Module):
    """Instance norm with a (styles, channels) scale and shift, mixed per image."""

    def __init__(self, channels: int, num_styles: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_styles, channels))
        self.bias = nn.Parameter(torch.zeros(num_styles, channels))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """``x`` (N, C, H, W); ``style`` (N, styles) mixing weights, one row per image."""
        gamma = style.to(self.weight.dtype) @ self.weight  # (N, C)
        beta = style.to(self.bias.dtype) @ self.bias
        # One instance norm over the batch's N*C channels, with each image's scale and shift
        # as the norm's own affine parameters (instance norm is per image and channel anyway,
        # so this is exact). Exported, it is ONNX's InstanceNormalization with its scale and B
        # inputs, which ONNX Runtime runs in one pass as it does a single-style network's;
        # normalising, then multiplying and adding (N, C, 1, 1) tensors took two more passes
        # over every activation, 11% of the lite network's time (docs/BENCHMARKS.md).
        merged = F.instance_norm(
            x.flatten(0, 1).unsqueeze(0), weight=gamma.flatten(), bias=beta.flatten(), eps=EPS
        )
        return merged.view_as(x)


def make_norm(channels: int, num_styles: int | None) -> nn.Module:
    """The norm layer of a network with ``num_styles`` styles (None: a single-style one)."""
    if num_styles is None:
        return nn.InstanceNorm2d(channels, affine=True, eps=EPS)
    return ConditionalInstanceNorm2d(channels, num_styles)


def apply_norm(norm: nn.Module, x: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
    if isinstance(norm, ConditionalInstanceNorm2d):
        if style is None:
            raise ValueError("a multi-style network needs style weights (N, styles)")
        return norm(x, style)
    return norm(x)


def num_styles_of_state(state: dict[str, torch.Tensor]) -> int | None:
    """How many styles a checkpoint's norms hold: None for a single-style network."""
    weight = state.get("in1.weight")
    if weight is None or weight.dim() != 2:
        return None
    return int(weight.shape[0])


def norm_keys(state: dict[str, torch.Tensor]) -> list[str]:
    """The norm parameters of a multi-style state: the (styles, channels) tensors."""
    return [k for k, v in state.items() if v.dim() == 2 and k.endswith((".weight", ".bias"))]


def single_style_state(
    state: dict[str, torch.Tensor], weights: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The single-style network a multi-style state computes for fixed style ``weights``.

    ``weights`` (styles,): a one-hot row picks one style; any other mix gives the network
    that paints that mix. The result loads into the single-style architecture.
    """
    weights = weights.to(torch.float32)
    out = dict(state)
    for key in norm_keys(state):
        out[key] = weights @ state[key].float()
    return out
