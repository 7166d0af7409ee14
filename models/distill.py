"""Distillation: a trained network as the teacher of another (a lite one, usually).

The student learns to reproduce the teacher's output on the training crops: the teacher's
output becomes the content target of the loss (``models.train``), so no Gram target is
needed and the student inherits a style the teacher already paints well.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from models.style_norm import num_styles_of_state, single_style_state
from models.transformer_net import build_network, load_state, load_transformer_net
from realtime.core.cards import card_styles, read_card
from realtime.core.errors import UserError


def load_teacher(path: Path, style: str | None, device: torch.device) -> nn.Module:
    """The teacher network at ``path`` (a .pth), frozen, in eval mode. A multi-style teacher
    paints ``style``, one of the names its card lists."""
    styles = num_styles_of_state(load_state(path))
    if not styles:
        if style is not None:
            raise UserError(
                f"--teacher-style {style}: {path.name} is a single-style network; drop the option"
            )
        teacher = load_transformer_net(path)
    else:
        names = card_styles(read_card(path))
        if style not in names:
            raise UserError(
                f"{path.name} paints several styles; choose one with --teacher-style "
                f"({', '.join(names) or 'its card NAME.json, which lists them, is missing'})"
            )
        weights = torch.zeros(styles)
        weights[names.index(style)] = 1.0
        teacher = build_network("full")
        teacher.load_state_dict(single_style_state(load_state(path), weights))
    teacher = teacher.to(device).eval()
    for param in teacher.parameters():
        param.requires_grad_(False)
    return teacher
