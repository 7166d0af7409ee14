"""VGG-16 feature extractor for perceptual losses (Johnson et al. 2016, Gatys et al. 2016).

The layers and their indices are those of ``torchvision.models.vgg16().features``, so its
state_dicts load unchanged. Input is float RGB in [0, 255], NCHW (the TransformerNet range);
the module scales to [0, 1] and applies torchvision's ImageNet mean/std itself.

Weights come from, in order: an explicit file, the ``REALTIME_VGG_WEIGHTS`` environment
variable, or torchvision's ``VGG16_Weights.IMAGENET1K_V1`` (downloaded and cached by torch).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from http.client import HTTPException
from pathlib import Path

import torch
from torch import nn

from realtime.core.errors import UserError
from realtime.core.files import sha256_file

ENV_VAR = "REALTIME_VGG_WEIGHTS"
TORCHVISION_IDENTITY = "torchvision:IMAGENET1K_V1"

# torchvision's ImageNet preprocessing, which both supported weight sets expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# VGG-16 configuration "D": output channels per conv, "M" for a 2x2 max-pool.
_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _layer_table() -> dict[str, int]:
    """Name -> index in ``vgg16().features`` for every conv and relu (conv1_1 ... relu5_3)."""
    table: dict[str, int] = {}
    index, block, conv = 0, 1, 1
    for item in _CONFIG:
        if item == "M":
            index += 1
            block, conv = block + 1, 1
            continue
        table[f"conv{block}_{conv}"] = index
        table[f"relu{block}_{conv}"] = index + 1
        index += 2
        conv += 1
    return table


LAYERS: dict[str, int] = _layer_table()
# Johnson et al.'s choice: style at these four, content at relu2_2.
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_LAYER = "relu2_2"


def _build_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for item in _CONFIG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1))
            # Not in-place (torchvision's are): a caller asking for conv4_2 and relu4_2
            # together must get the conv output unmodified.
            layers.append(nn.ReLU(inplace=False))
            in_channels = int(item)
    return nn.Sequential(*layers)


class VGG16Features(nn.Module):
    """Frozen VGG-16 convolutional base returning named intermediate activations."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _build_features()
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0
        # Not persistent: the state_dict stays exactly torchvision's features layout.
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.freeze()

    def freeze(self) -> VGG16Features:
        for param in self.parameters():
            param.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> VGG16Features:
        # Always eval: there is nothing to train, and a parent's .train() must not flip it.
        return super().train(False)

    def forward(
        self, x: torch.Tensor, layers: Iterable[str] = STYLE_LAYERS
    ) -> dict[str, torch.Tensor]:
        """Activations at ``layers`` (names from ``LAYERS``) for RGB input in [0, 255]."""
        wanted = {name: layer_index(name) for name in layers}
        if not wanted:
            return {}
        by_index: dict[int, list[str]] = {}
        for name, index in wanted.items():
            by_index.setdefault(index, []).append(name)
        out: dict[str, torch.Tensor] = {}
        h = (x - self.mean) / self.std
        # Stop at the deepest requested layer: the rest would be wasted work.
        for index in range(max(wanted.values()) + 1):
            h = self.features[index](h)
            for name in by_index.get(index, ()):
                out[name] = h
        return out


def layer_index(name: str) -> int:
    try:
        return LAYERS[name]
    except KeyError:
        raise UserError(
            f"unknown VGG-16 layer {name!r}; use one of conv1_1 ... relu5_3 (e.g. relu2_2, relu4_3)"
        ) from None


def _features_state(obj: object, source: str) -> dict[str, torch.Tensor]:
    """Accept a ``vgg16().features`` state_dict or a full ``vgg16()`` one (``features.N.*``)."""
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(
            f"{source} holds no state_dict; give a state_dict of torchvision's "
            "vgg16().features (keys 0.weight ... 28.bias) or of vgg16()"
        )
    if any(k.startswith("features.") for k in obj):
        return {k[len("features.") :]: v for k, v in obj.items() if k.startswith("features.")}
    return dict(obj)


def _load_state(module: VGG16Features, state: dict[str, torch.Tensor], source: str) -> None:
    expected = module.features.state_dict()
    missing = sorted(set(expected) - set(state), key=_key_order)
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        (k for k in set(expected) & set(state) if expected[k].shape != state[k].shape),
        key=_key_order,
    )
    if missing or unexpected or wrong:
        problems = [
            f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("wrong shape", wrong),
            )
            if keys
        ]
        raise UserError(
            f"{source} is not a VGG-16 features state_dict ({'; '.join(problems)}); "
            "give a state_dict of torchvision's vgg16().features (keys 0.weight ... 28.bias)"
        )
    module.features.load_state_dict({k: v.float() for k, v in state.items()})


def _key_order(key: str) -> tuple[int, str]:
    head, _, tail = key.partition(".")
    return (int(head) if head.isdigit() else -1, tail)


def resolve_weights_path(path: Path | str | None) -> tuple[Path | None, str]:
    """The weights file to use and where it came from (for messages); ``None``: torchvision."""
    if path is not None:
        return Path(path), "--vgg-weights"
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env), ENV_VAR
    return None, ""


def _load_file(path: Path, origin: str) -> tuple[dict[str, torch.Tensor], str]:
    if not path.is_file():
        raise UserError(
            f"VGG-16 weights not found: {path} (from {origin}); "
            "give the path of a vgg16().features state_dict .pth"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for non-checkpoint files
        raise UserError(
            f"cannot read {path} (from {origin}) as a PyTorch file ({type(exc).__name__}); "
            "give a vgg16().features state_dict .pth"
        ) from exc
    return _features_state(obj, str(path)), f"file:{path.name} sha256:{sha256_file(path)[:12]}"


def _load_torchvision() -> tuple[dict[str, torch.Tensor], str]:
    from urllib.error import URLError

    from torchvision.models import VGG16_Weights

    try:
        state = VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    except (URLError, OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UserError(
            f"cannot download torchvision's VGG-16 ImageNet weights ({type(exc).__name__}: "
            f"{reason}); pass --vgg-weights PATH or set {ENV_VAR} to a local "
            "vgg16().features state_dict .pth"
        ) from exc
    return _features_state(state, "torchvision VGG16_Weights.IMAGENET1K_V1"), TORCHVISION_IDENTITY


def load_vgg16(
    weights: Path | str | None = None, device: str | torch.device = "cpu"
) -> tuple[VGG16Features, str]:
    """A frozen VGG-16 feature extractor and a short identity string of its weights.

    ``weights`` is a file path; ``None`` falls back to ``$REALTIME_VGG_WEIGHTS``, then to
    torchvision's ImageNet weights (network on first use, cached by torch afterwards).
    The identity is ``file:<name> sha256:<12 hex>`` or ``torchvision:IMAGENET1K_V1``.
    """
    path, origin = resolve_weights_path(weights)
    state, identity = _load_file(path, origin) if path is not None else _load_torchvision()
    module = VGG16Features()
    _load_state(module, state, str(path) if path is not None else TORCHVISION_IDENTITY)
    return module.to(device).freeze(), identity
