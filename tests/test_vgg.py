"""VGG-16 features: layer table, forward semantics, weight sources and their errors."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from torch import nn

from models.vgg import (
    ENV_VAR,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LAYERS,
    STYLE_LAYERS,
    TORCHVISION_IDENTITY,
    VGG16Features,
    load_vgg16,
)
from realtime.core.errors import UserError


@pytest.fixture(scope="module")
def random_features_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random state_dict in the layout of torchvision's ``vgg16().features``."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "random-vgg16-features.pth"
    torch.save(VGG16Features().features.state_dict(), path)
    return path


def test_layer_table_matches_torchvision_indices() -> None:
    expected = {
        "conv1_1": 0, "relu1_1": 1, "conv1_2": 2, "relu1_2": 3,
        "conv2_1": 5, "relu2_2": 8, "relu3_3": 15, "relu4_2": 20,
        "relu4_3": 22, "conv5_1": 24, "relu5_1": 25, "conv5_3": 28, "relu5_3": 29,
    }  # fmt: skip
    for name, index in expected.items():
        assert LAYERS[name] == index, name
    assert len(LAYERS) == 26  # 13 convs, 13 relus
    features = VGG16Features().features
    for name, index in LAYERS.items():
        kind = nn.Conv2d if name.startswith("conv") else nn.ReLU
        assert isinstance(features[index], kind), name


def test_state_dict_layout_is_torchvision_features() -> None:
    from torchvision.models.vgg import cfgs, make_layers

    ours = VGG16Features().features.state_dict()
    theirs = make_layers(cfgs["D"]).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    assert list(VGG16Features().state_dict()) == [f"features.{k}" for k in ours]


def test_forward_normalises_and_returns_requested_layers() -> None:
    torch.manual_seed(1)
    vgg = VGG16Features()
    x = torch.rand(2, 3, 40, 36) * 255
    out = vgg(x, ["relu1_2", "relu2_2", "relu3_3", "relu4_3"])
    assert list(out) == ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
    assert out["relu1_2"].shape == (2, 64, 40, 36)
    assert out["relu2_2"].shape == (2, 128, 20, 18)
    assert out["relu3_3"].shape == (2, 256, 10, 9)
    assert out["relu4_3"].shape == (2, 512, 5, 4)
    # Same result as torchvision's preprocessing on [0, 1] input with a plain Sequential.
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    reference = vgg.features[: LAYERS["relu2_2"] + 1]((x / 255 - mean) / std)
    torch.testing.assert_close(out["relu2_2"], reference, rtol=1e-4, atol=1e-4)


def test_conv_outputs_are_not_clobbered_by_relu() -> None:
    # Gatys asks for conv and relu outputs of the same layer; in-place ReLUs would zero the
    # conv output's negatives.
    vgg = VGG16Features()
    out = vgg(torch.rand(1, 3, 16, 16) * 255, ["conv1_1", "relu1_1", "conv4_2", "relu4_2"])
    assert (out["conv1_1"] < 0).any()
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].clamp(min=0))
    torch.testing.assert_close(out["relu4_2"], out["conv4_2"].clamp(min=0))


def test_forward_stops_at_deepest_requested_layer() -> None:
    vgg = VGG16Features()
    called: list[int] = []
    for index, layer in enumerate(vgg.features):
        layer.register_forward_hook(lambda *_, i=index: called.append(i))
    vgg(torch.rand(1, 3, 32, 32) * 255, ["relu2_2", "relu1_1"])
    assert called == list(range(LAYERS["relu2_2"] + 1))
    called.clear()
    vgg(torch.rand(1, 3, 32, 32) * 255, ["conv5_1", "relu4_2"])
    assert max(called) == LAYERS["conv5_1"]


def test_frozen_and_always_eval_but_differentiable_in_input() -> None:
    vgg = VGG16Features()
    assert not any(p.requires_grad for p in vgg.parameters())
    parent = nn.Sequential(vgg)
    parent.train()
    assert not vgg.training
    x = (torch.rand(1, 3, 16, 16) * 255).requires_grad_()
    vgg(x, ["relu2_2"])["relu2_2"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_unknown_layer_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown VGG-16 layer 'relu6_1'"):
        VGG16Features()(torch.rand(1, 3, 16, 16), ["relu6_1"])


def test_weights_from_file(random_features_file: Path) -> None:
    vgg, identity = load_vgg16(random_features_file)
    digest = hashlib.sha256(random_features_file.read_bytes()).hexdigest()
    assert identity == f"file:{random_features_file.name} sha256:{digest[:12]}"
    state = torch.load(random_features_file, weights_only=True)
    assert torch.equal(vgg.features[28].bias, state["28.bias"])
    assert not any(p.requires_grad for p in vgg.parameters()) and not vgg.training


def test_full_vgg16_state_dict_is_accepted(random_features_file: Path, tmp_path: Path) -> None:
    state = torch.load(random_features_file, weights_only=True)
    full = {f"features.{k}": v for k, v in state.items()}
    full["classifier.0.weight"] = torch.zeros(4, 4)  # a full vgg16() also has a classifier
    path = tmp_path / "vgg16-full.pth"
    torch.save(full, path)
    vgg, _ = load_vgg16(path)
    assert torch.equal(vgg.features[0].weight, state["0.weight"])


def test_env_var_is_used_when_no_path(
    random_features_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(random_features_file))
    _, identity = load_vgg16(None)
    assert identity.startswith(f"file:{random_features_file.name} ")
    monkeypatch.setenv(ENV_VAR, str(random_features_file.with_name("absent.pth")))
    with pytest.raises(UserError, match=f"absent.pth \\(from {ENV_VAR}\\)"):
        load_vgg16(None)


def test_bad_weight_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="VGG-16 weights not found"):
        load_vgg16(tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a torch file")
    with pytest.raises(UserError, match="cannot read"):
        load_vgg16(garbage)
    wrong = tmp_path / "wrong.pth"
    torch.save(nn.Conv2d(3, 8, 3).state_dict(), wrong)
    with pytest.raises(UserError, match="not a VGG-16 features state_dict") as info:
        load_vgg16(wrong)
    assert "missing 0.bias, 0.weight, 2.bias ..." in str(info.value)
    state = VGG16Features().features.state_dict()
    state["2.weight"] = torch.zeros(64, 64, 1, 1)
    del state["28.bias"]
    torch.save(state, wrong)
    with pytest.raises(UserError, match="missing 28.bias; wrong shape 2.weight"):
        load_vgg16(wrong)
    not_a_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_a_dict)
    with pytest.raises(UserError, match="holds no state_dict"):
        load_vgg16(not_a_dict)


def test_offline_without_weights_names_both_ways_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty torch cache, and torch's own download seam failing as it does offline.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    attempts: list[str] = []

    def no_network(url: str, *args: object, **kwargs: object) -> None:
        attempts.append(url)
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(UserError) as info:
        load_vgg16(None)
    message = str(info.value)
    assert attempts and attempts[0].endswith(".pth")  # torchvision really tried its URL
    assert "--vgg-weights PATH" in message and ENV_VAR in message
    assert "\n" not in message


def test_torchvision_identity_when_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate torch's cache already holding torchvision's file: the download seam writes
    # a (random) full vgg16 state_dict where torch expects it.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    state = {f"features.{k}": v for k, v in VGG16Features().features.state_dict().items()}

    def fake_download(url: str, dst: str, *args: object, **kwargs: object) -> None:
        torch.save(state, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    vgg, identity = load_vgg16(None)
    assert identity == TORCHVISION_IDENTITY
    assert torch.equal(vgg.features[2].weight, state["features.2.weight"])
    assert set(STYLE_LAYERS) <= set(LAYERS)
