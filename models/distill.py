"""Distillation: a trained network as the teacher of another (a lite one, usually).

The student learns to reproduce the teacher's output on the training crops: the teacher's
output becomes the content target of the loss (``models.train``), so no Gram target is
needed and the student inherits a style the teacher already paints well.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from models.transformer_net import load_transformer_net, one_style_network
from realtime.core.cards import card_styles, read_card
from realtime.core.errors import UserError


def load_teacher(path: Path, style: str | None, device: torch.device) -> nn.Module:
    """The teacher network at ``path`` (a .pth), frozen, in eval mode. A multi-style teacher
    paints ``style``, one of the names its card lists."""
    teacher = load_transformer_net(path)  # one line naming the problem if it is not one
    if not getattr(teacher, "num_styles", None):
        if style is not None:
            raise UserError(
                f"--teacher-style {style}: {path.name} is a single-style network; drop the option"
            )
    else:
        names = card_styles(read_card(path))
        if style not in names:
            raise UserError(
                f"{path.name} paints several styles; choose one with --teacher-style "
                f"({', '.join(names) or 'its card NAME.json, which lists them, is missing'})"
            )
        teacher = one_style_network(teacher, names.index(style))
    teacher = teacher.to(device).eval()
    for param in teacher.parameters():
        param.requires_grad_(False)
    return teacher
