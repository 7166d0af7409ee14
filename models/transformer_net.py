"""Johnson et al.'s TransformerNet (Perceptual Losses for Real-Time Style Transfer, 2016).

Layer names and shapes follow the PyTorch examples' ``fast_neural_style`` so that their
checkpoints load unchanged: reflection padding, affine instance norm, five residual blocks,
and nearest upsampling followed by a convolution (no transposed convolutions, which leave
checkerboard artefacts).

Inputs are float RGB in [0, 255], NCHW, as in the PyTorch examples. Any height and width of
at least ``MIN_SIDE`` work: the decoder upsamples to the exact size of the matching encoder
stage, so the output always has the input's size, also for sizes that are not multiples of 4.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.style_norm import apply_norm, make_norm, num_styles_of_state, single_style_state
from realtime.core.cards import card_styles, read_card
from realtime.core.errors import UserError
from realtime.core.model_io import MIN_SIDE

log = logging.getLogger(__name__)

__all__ = ["MIN_SIDE", "TransformerNet", "arch_of", "build_network", "load_transformer_net"]

# Checkpoints from PyTorch < 0.4 carry instance-norm running statistics that the
# affine, non-tracking InstanceNorm2d does not have (the examples drop them the same way).
_LEGACY_NORM_KEY = re.compile(r"(^|\.)in\d+\.(running_mean|running_var|num_batches_tracked)$")


class ConvLayer(nn.Module):
    """Reflection padding then convolution: keeps borders free of zero-padding artefacts."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, num_styles: int | None = None) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = make_norm(channels, num_styles)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = make_norm(channels, num_styles)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        out = self.relu(apply_norm(self.in1, self.conv1(x), style))
        return apply_norm(self.in2, self.conv2(out), style) + x


class UpsampleConvLayer(nn.Module):
    """Nearest upsampling to an explicit size, then a reflection-padded convolution.

    Upsampling to the size of the matching encoder stage (instead of a fixed factor of 2)
    is what makes the output size equal the input size for any input size. For sizes that
    are multiples of 4 it is exactly the examples' ``scale_factor=2``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
        x = F.interpolate(x, size=size, mode="nearest")
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    """``num_styles`` None: one style (the examples' layout); N: a multi-style network whose
    forward takes (N, styles) mixing weights beside the image (``models.style_norm``)."""

    def __init__(self, num_styles: int | None = None) -> None:
        super().__init__()
        self.num_styles = num_styles
        self.conv1 = ConvLayer(3, 32, kernel_size=9, stride=1)
        self.in1 = make_norm(32, num_styles)
        self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = make_norm(64, num_styles)
        self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = make_norm(128, num_styles)
        self.res1 = ResidualBlock(128, num_styles)
        self.res2 = ResidualBlock(128, num_styles)
        self.res3 = ResidualBlock(128, num_styles)
        self.res4 = ResidualBlock(128, num_styles)
        self.res5 = ResidualBlock(128, num_styles)
        self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, stride=1)
        self.in4 = make_norm(64, num_styles)
        self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, stride=1)
        self.in5 = make_norm(32, num_styles)
        self.deconv3 = ConvLayer(32, 3, kernel_size=9, stride=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        y1 = self.relu(apply_norm(self.in1, self.conv1(x), style))
        y2 = self.relu(apply_norm(self.in2, self.conv2(y1), style))
        y = self.relu(apply_norm(self.in3, self.conv3(y2), style))
        for block in (self.res1, self.res2, self.res3, self.res4, self.res5):
            y = block(y, style)
        y = self.relu(apply_norm(self.in4, self.deconv1(y, y2.shape[-2:]), style))
        y = self.relu(apply_norm(self.in5, self.deconv2(y, x.shape[-2:]), style))
        return self.deconv3(y)


def clean_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop legacy instance-norm running statistics, warning once if there were any."""
    legacy = [k for k in state if _LEGACY_NORM_KEY.search(k)]
    if legacy:
        log.warning(
            f"dropped {len(legacy)} legacy instance-norm running-statistics keys "
            f"(e.g. {legacy[0]}): they come from PyTorch < 0.4 and are unused"
        )
    return {k: v for k, v in state.items() if k not in set(legacy)}


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """Read a TransformerNet ``state_dict`` from a plain ``.pth``, a training checkpoint, or
    a network exported to ONNX (``models.onnx_weights``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path} (give the path of a .pth file)")
    if path.suffix.lower() == ".onnx":
        from models.onnx_weights import onnx_state

        return onnx_state(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for non-checkpoint files
        raise UserError(
            f"cannot read {path} as a PyTorch checkpoint ({type(exc).__name__}); "
            "give a .pth saved by 'realtime train' or the PyTorch examples"
        ) from exc
    # Training checkpoints (``realtime train``) wrap the weights with optimiser state.
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} holds no state_dict; give a TransformerNet .pth checkpoint")
    return clean_state_dict(obj)


# Architectures ``realtime train --arch`` builds; a checkpoint's is recognised from its keys.
ARCHS = ("full", "lite")
# What model cards call them ("TransformerNet" is also what the PyTorch examples' nets are).
ARCH_CARD_NAMES = {"full": "TransformerNet", "lite": "TransformerNet-lite"}


def build_network(arch: str = "full", num_styles: int | None = None) -> nn.Module:
    """A fresh network of architecture ``arch`` (one of ``ARCHS``), single-style or with
    ``num_styles`` styles."""
    if arch == "full":
        return TransformerNet(num_styles)
    if arch == "lite":
        from models.lite_net import LiteTransformerNet

        return LiteTransformerNet(num_styles=num_styles)
    raise UserError(f"unknown architecture {arch!r}; use one of {', '.join(ARCHS)}")


def arch_of(model: nn.Module) -> str:
    """The architecture (one of ``ARCHS``) ``model`` is a network of."""
    from models.lite_net import LiteTransformerNet

    return "lite" if isinstance(model, LiteTransformerNet) else "full"


def _mismatch(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> str:
    """What keeps ``state`` from loading into a model with ``expected``; '' when it loads."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(
        k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape)
    )
    return "; ".join(
        f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong_shape),
        )
        if keys
    )


def arch_of_state(state: dict[str, torch.Tensor]) -> str | None:
    """The architecture whose parameters ``state`` holds exactly, or None."""
    styles = num_styles_of_state(state)
    for arch in ARCHS:
        if not _mismatch(build_network(arch, styles).state_dict(), state):
            return arch
    return None


def load_transformer_net(path: Path) -> nn.Module:
    """Build the network a checkpoint holds (full or lite), or fail with one line saying why."""
    state = load_state(path)
    arch = arch_of_state(state)
    if arch is None:
        # Described against the full network: that is what foreign checkpoints are meant to be.
        detail = _mismatch(TransformerNet().state_dict(), state)
        raise UserError(
            f"{path} is not a TransformerNet checkpoint ({detail}); "
            "give a .pth saved by 'realtime train' or the PyTorch examples' fast_neural_style"
        )
    model = build_network(arch, num_styles_of_state(state))
    model.load_state_dict(state)
    return model.eval()


def one_style_network(model: nn.Module, index: int) -> nn.Module:
    """Style ``index`` of a multi-style network, as the single-style network of the same
    architecture that it is."""
    weights = torch.zeros(model.num_styles)
    weights[index] = 1.0
    single = build_network(arch_of(model))
    single.load_state_dict(single_style_state(model.state_dict(), weights))
    return single.eval()


def style_network(path: Path, name: str, option: str) -> nn.Module:
    """The network at ``path`` painting ``name``: itself when it paints one style, else its
    style of that name (as its card names them); ``option`` is what asked, for the error."""
    if not Path(path).is_file():
        raise UserError(f"{option}: network not found")
    net = load_transformer_net(path)
    if not getattr(net, "num_styles", None):
        return net
    return pick_style(net, card_styles(read_card(path)), name, option, path)


def pick_style(net: nn.Module, names: list[str], name: str, option: str, path: Path) -> nn.Module:
    """The multi-style ``net``'s style ``name`` (of its card's ``names``) as a single-style
    network; ``option`` is what asked for it, for the error."""
    if name not in names:
        raise UserError(
            f"{option}: {path.name} has no such style; it paints "
            f"{', '.join(names) or 'styles its missing card NAME.json would name'}"
        )
    return one_style_network(net, names.index(name))
