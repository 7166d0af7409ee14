"""Distillation: a trained network as the teacher of another (a lite one, usually).

The student learns to reproduce the teacher's output on the training crops: the teacher's
output becomes the content target of the loss (``models.train``), so no Gram target is
needed and the student inherits a style the teacher already paints well.

A multi-style teacher is distilled one style at a time (``--teacher-style``: a single-style
student) or whole: the student gets the teacher's styles, named as its card names them, and
each crop is painted by the teacher in the style the student is learning on that crop. Some
of those styles may be painted by other networks (``--teacher-row NAME=NET.pth``), when the
styles the student stands in for ship from different networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.transformer_net import load_transformer_net, pick_style, style_network
from realtime.core.cards import card_styles, read_card
from realtime.core.errors import UserError
from realtime.core.files import sha256_file


@dataclass(frozen=True)
class Teacher:
    """A frozen teacher network and what the student learns from it."""

    path: Path
    net: nn.Module
    card: dict[str, Any] | None
    # A multi-style teacher distilled whole: its style names, in its style input's order;
    # () when it paints one style (a single-style network, or one picked by --teacher-style).
    styles: tuple[str, ...] = ()
    style: str | None = None  # --teacher-style: the one style of a multi-style teacher
    # --teacher-row: (index in ``styles``, that style's network, its file) for the styles
    # painted by another network than ``net``.
    rows: tuple[tuple[int, nn.Module, Path], ...] = ()

    @torch.no_grad()
    def __call__(self, crops: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """The teacher's painting of ``crops``; ``style`` (N, styles): each crop's style, the
        student's own style input, for a teacher distilled whole."""
        if not self.styles:
            return self.net(crops)
        if not self.rows:
            return self.net(crops, style)
        # Each crop painted once: a row's crops (one-hot inputs) by its network, the rest by
        # the teacher.
        rest = torch.ones(len(crops), dtype=torch.bool, device=crops.device)
        parts = []
        for index, net, _ in self.rows:
            mine = style[:, index] == 1
            rest &= ~mine
            if bool(mine.any()):
                parts.append((mine, net(crops[mine])))
        if bool(rest.any()):
            parts.append((rest, self.net(crops[rest], style[rest])))
        out = parts[0][1].new_empty((len(crops), *parts[0][1].shape[1:]))
        for mask, painted in parts:
            out[mask] = painted
        return out

    def style_entries(self) -> list[dict[str, Any]]:
        """The card entries of the styles the student learns (name, painting, ...): the
        teacher's own, so that the student's card names its styles as the teacher's does."""
        wanted = list(self.styles) or ([self.style] if self.style else [])
        entries = {
            entry["name"]: entry
            for entry in (self.card or {}).get("styles", [])
            if isinstance(entry, dict) and isinstance(entry.get("name"), str)
        }
        return [dict(entries.get(name, {"name": name})) for name in wanted]

    def provenance(self) -> dict[str, Any]:
        """What the student's card records of where its painting comes from."""
        out: dict[str, Any] = {"path": str(self.path), "sha256": sha256_file(self.path)}
        if self.card and isinstance(self.card.get("name"), str):
            out["name"] = self.card["name"]
        if self.styles:
            out["styles"] = list(self.styles)
        if self.style is not None:
            out["style"] = self.style
        if self.rows:
            out["rows"] = {
                self.styles[index]: {"path": str(path), "sha256": sha256_file(path)}
                for index, _, path in self.rows
            }
        return out


def load_teacher(
    path: Path,
    style: str | None,
    device: torch.device,
    rows: tuple[tuple[str, Path], ...] = (),
) -> Teacher:
    """The teacher network at ``path`` (a .pth), frozen, in eval mode. A multi-style teacher
    paints ``style``, one of the names its card lists, or all its styles when it is None;
    then ``rows`` may give some of them to other networks (NAME, NET.pth): NET's NAME."""
    net = load_transformer_net(path)  # one line naming the problem if it is not one
    card = read_card(path)
    styles: tuple[str, ...] = ()
    count = getattr(net, "num_styles", None)
    if not count:
        if style is not None:
            raise UserError(
                f"--teacher-style {style}: {path.name} is a single-style network; drop the option"
            )
    else:
        names = card_styles(card)
        if style is None and count == 1 and len(names) == 1:
            style = names[0]  # its only style: the student is a single-style network of it
        if style is not None:
            net = pick_style(net, names, style, f"--teacher-style {style}", path)
        elif len(names) != count:
            # The student's card must name its styles: the export names its style input so.
            raise UserError(
                f"{path.name} paints {count} styles but its card names {len(names)}; "
                "distilling them all needs its card NAME.json listing them (or give "
                "--teacher-style NAME to distil one)"
            )
        else:
            styles = tuple(names)
    if rows and not styles:
        raise UserError(
            "--teacher-row goes with a multi-style --teacher distilled whole "
            f"(without --teacher-style); {path.name} paints one style here"
        )
    loaded = []
    for name, row_path in rows:
        if name not in styles:
            raise UserError(
                f"--teacher-row {name}={row_path}: {path.name} has no style {name}; "
                f"it paints {', '.join(styles)}"
            )
        loaded.append(
            (
                styles.index(name),
                _frozen(style_network(row_path, name, f"--teacher-row {name}={row_path}"), device),
                row_path,
            )
        )
    if len({index for index, _, _ in loaded}) != len(loaded):
        raise UserError("--teacher-row: each style at most once")
    return Teacher(
        path=path, net=_frozen(net, device), card=card, styles=styles, style=style,
        rows=tuple(loaded),
    )  # fmt: skip


def _frozen(net: nn.Module, device: torch.device) -> nn.Module:
    net = net.to(device).eval()
    for param in net.parameters():
        param.requires_grad_(False)
    return net
