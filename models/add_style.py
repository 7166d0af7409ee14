"""A new style for a trained multi-style network: ``realtime train --add-style P --base M``.

In a multi-style network (``models.style_norm``) every convolution is shared and a style is
nothing but its rows of norm parameters. Dumoulin, Shlens and Kudlur (2017) add a style by
training only those rows. Here the new style trains as a single-style network that starts
from the mean of the base's rows, with every shared weight frozen; the trained norms are
then appended to the base as one more row. The base's styles are untouched, bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.style_norm import norm_keys, num_styles_of_state, single_style_state
from models.transformer_net import build_network, load_state
from realtime.core.cards import read_card
from realtime.core.errors import UserError


def load_base(path: Path, arch: str) -> dict[str, torch.Tensor]:
    """The base network's state, checked to be a multi-style network of ``arch``."""
    state = load_state(path)
    styles = num_styles_of_state(state)
    if styles is None:
        raise UserError(
            f"--base {path} is a single-style network; give a multi-style one (trained with "
            "several --style-image), or train the new style on its own with --init"
        )
    if not _fits(state, arch, styles):
        other = _other(arch)
        fix = f"add --arch {other}" if _fits(state, other, styles) else "give one"
        raise UserError(f"--base {path} is not a multi-style {arch} network; {fix}")
    return state


def _fits(state: dict[str, torch.Tensor], arch: str, styles: int) -> bool:
    expected = build_network(arch, styles).state_dict()
    return set(state) == set(expected) and all(
        state[k].shape == v.shape for k, v in expected.items()
    )


def _other(arch: str) -> str:
    return "lite" if arch == "full" else "full"


def base_styles(path: Path, new_name: str) -> list[dict[str, Any]]:
    """The base's style entries from its card, in the order of its style input."""
    card = read_card(path)
    styles = (card or {}).get("styles")
    if not styles:
        raise UserError(
            f"--base {path} has no model card listing its styles (NAME.json beside it); "
            "give a network written by 'realtime train'"
        )
    if new_name in [entry.get("name") for entry in styles]:
        raise UserError(
            f"--base {path} already has a style named {new_name!r}; styles are named after "
            "their files, so rename the new painting"
        )
    return list(styles)


def starting_state(base: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The single-style network the new style starts as: the mean of the base's styles."""
    styles = num_styles_of_state(base)
    assert styles is not None
    return single_style_state(base, torch.full((styles,), 1.0 / styles))


def freeze_shared(model: nn.Module) -> None:
    """Only the norms' scale and shift learn; every convolution stays the base's."""
    for module in model.modules():
        learns = isinstance(module, nn.InstanceNorm2d)
        for parameter in module.parameters(recurse=False):
            parameter.requires_grad_(learns)


def appended_state(
    base: dict[str, torch.Tensor], new: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The base with the new style's norms as its last row; shared weights from the base."""
    out = {k: v.detach().cpu() for k, v in base.items()}
    for key in norm_keys(base):
        out[key] = torch.cat([base[key].float(), new[key].detach().cpu().float()[None]])
    return out
