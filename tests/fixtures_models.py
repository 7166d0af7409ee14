"""Fixtures that make tiny models and ONNX files (owned by the export/engine area).

Exports take seconds on a CPU, so the exported models are session-scoped and shared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

__all__ = [
    "TEST_CARD",
    "make_test_net",
    "make_two_style_net",
    "style_export",
    "painting_file",
    "random_vgg_weights",
    "style_net",
    "style_onnx",
    "style_pth",
]

# The card written beside the test checkpoint, as ``realtime train`` writes NAME.json.
TEST_CARD = {"name": "testy", "steps": 3, "recipe": {"image_size": 64, "style_weight": 1.0}}


def make_test_net(seed: int = 0):
    """A seeded random-weight TransformerNet whose output spans the full [0, 255] range.

    Default initialisation leaves instance-norm affine parameters at 1/0 and the output within
    a couple of grey levels of 0, which would make parity checks nearly vacuous (everything
    clipped, all norms identical). Random affine parameters and a scaled last layer centred on
    127.5 exercise every weight and both clip bounds.
    """
    import torch

    from models.transformer_net import TransformerNet

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = TransformerNet()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0.0, 0.2, generator=generator)
        net.deconv3.conv2d.weight.mul_(150.0)
        net.deconv3.conv2d.bias.fill_(127.5)
    return net.eval()


def make_two_style_net():
    """A two-style TransformerNet with visible output (as ``make_test_net``) and two clearly
    different styles: random rows of norm parameters on top of the defaults."""
    import torch

    from models.transformer_net import TransformerNet

    torch.manual_seed(5)
    net = TransformerNet(num_styles=2)
    with torch.no_grad():
        net.deconv3.conv2d.weight.mul_(300.0)
        net.deconv3.conv2d.bias.fill_(128.0)
        for param in net.parameters():
            if param.dim() == 2:  # the per-style rows
                param.add_(torch.randn_like(param) * 0.6)
    return net


@pytest.fixture(scope="session")
def style_net():
    return make_test_net(0)


@pytest.fixture(scope="session")
def style_pth(style_net, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``testy.pth`` (a plain state_dict) with its card ``testy.json`` beside it."""
    import torch

    path = tmp_path_factory.mktemp("pth") / "testy.pth"
    torch.save(style_net.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps(TEST_CARD), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def style_export(style_pth: Path, tmp_path_factory: pytest.TempPathFactory):
    """The ExportReport of exporting ``style_pth`` to fp32 ``testy.onnx``."""
    from realtime.cli.wiring import export_pth

    return export_pth(style_pth, tmp_path_factory.mktemp("onnx") / "testy.onnx")


@pytest.fixture(scope="session")
def style_onnx(style_export) -> Path:
    """An fp32 style network named "testy" following the model I/O convention."""
    return style_export.onnx_path


@pytest.fixture(scope="session")
def random_vgg_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded random-weight VGG-16 features state_dict, for ``--vgg-weights``: the mechanics
    of optimisation need no ImageNet features, and nothing may be downloaded in tests."""
    import torch

    from models.vgg import VGG16Features

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg16-random.pth"
    torch.save(VGG16Features().state_dict(), path)
    return path


@pytest.fixture(scope="session")
def painting_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Saturated diagonal stripes as a PNG: statistics nothing like a smooth photo's."""
    import cv2
    import numpy as np

    yy, xx = np.mgrid[0:48, 0:48]
    colours = np.array([[40, 30, 230], [60, 200, 20], [20, 220, 250]], np.uint8)  # BGR
    path = tmp_path_factory.mktemp("painting") / "stripes.png"
    cv2.imwrite(str(path), colours[((xx + yy) // 4) % 3])
    return path
