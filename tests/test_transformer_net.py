"""TransformerNet: sizes, checkpoint loading (plain, training checkpoint, legacy keys), errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.lite_net import LITE_MIN_SIDE
from models.transformer_net import (
    ARCHS,
    MIN_SIDE,
    TransformerNet,
    build_network,
    load_transformer_net,
)
from realtime.core.errors import UserError


@pytest.fixture(scope="module")
def net() -> TransformerNet:
    torch.manual_seed(0)
    return TransformerNet().eval()


@pytest.fixture
def saved(tmp_path: Path, net: TransformerNet) -> Path:
    path = tmp_path / "net.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.parametrize(
    "height,width", [(97, 131), (MIN_SIDE, MIN_SIDE), (33, 17), (64, 64), (50, 73)]
)
def test_output_size_equals_input_size(net: TransformerNet, height: int, width: int) -> None:
    x = torch.rand(2, 3, height, width) * 255
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 3, height, width)
    assert torch.isfinite(y).all()


def test_load_plain_state_dict_reproduces_outputs(net: TransformerNet, saved: Path) -> None:
    loaded = load_transformer_net(saved)
    x = torch.rand(1, 3, 40, 52) * 255
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    assert not loaded.training


def test_load_training_checkpoint_wrapper(tmp_path: Path, net: TransformerNet) -> None:
    path = tmp_path / "step_000010.pt"
    torch.save({"format": "x", "step": 10, "model": net.state_dict(), "optimizer": {}}, path)
    loaded = load_transformer_net(path)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_legacy_running_stats_keys_warn_and_load(
    tmp_path: Path, net: TransformerNet, caplog: pytest.LogCaptureFixture
) -> None:
    state = dict(net.state_dict())
    # What PyTorch < 0.4 saved for every instance norm (the examples' old checkpoints).
    for name in ("in1", "in2", "in3", "res1.in1", "res5.in2", "in4", "in5"):
        channels = state[f"{name}.weight"].shape[0]
        state[f"{name}.running_mean"] = torch.zeros(channels)
        state[f"{name}.running_var"] = torch.ones(channels)
    path = tmp_path / "legacy.pth"
    torch.save(state, path)
    loaded = load_transformer_net(path)
    assert "dropped 14 legacy instance-norm running-statistics keys" in caplog.text
    x = torch.rand(1, 3, 24, 24) * 255
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


def test_other_architecture_is_a_user_error(tmp_path: Path) -> None:
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3))
    path = tmp_path / "other.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(UserError, match="not a TransformerNet checkpoint") as info:
        load_transformer_net(path)
    assert "\n" not in str(info.value)


def test_wrong_shapes_are_a_user_error(tmp_path: Path, net: TransformerNet) -> None:
    state = dict(net.state_dict())
    state["conv1.conv2d.weight"] = torch.zeros(16, 3, 9, 9)
    path = tmp_path / "narrow.pth"
    torch.save(state, path)
    with pytest.raises(UserError, match="wrong shape"):
        load_transformer_net(path)


def test_missing_and_garbage_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_transformer_net(tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(UserError, match="cannot read"):
        load_transformer_net(garbage)


# ----------------------------------------------------------------------------- lite network


@pytest.mark.parametrize("height,width", [(97, 131), (LITE_MIN_SIDE, LITE_MIN_SIDE), (33, 17)])
def test_lite_output_size_equals_input_size(height: int, width: int) -> None:
    torch.manual_seed(0)
    lite = build_network("lite").eval()
    with torch.no_grad():
        y = lite(torch.rand(2, 3, height, width) * 255)
    assert y.shape == (2, 3, height, width)
    assert torch.isfinite(y).all()


def test_lite_is_much_smaller_than_full() -> None:
    def params(model: torch.nn.Module) -> int:
        return sum(p.numel() for p in model.parameters())

    assert params(build_network("lite")) * 10 < params(build_network("full"))


@pytest.mark.parametrize("arch", ARCHS)
def test_checkpoints_of_each_arch_load_as_that_arch(tmp_path: Path, arch: str) -> None:
    torch.manual_seed(1)
    model = build_network(arch).eval()
    path = tmp_path / f"{arch}.pth"
    torch.save(model.state_dict(), path)
    loaded = load_transformer_net(path)
    assert type(loaded) is type(model)
    x = torch.rand(1, 3, 36, 44) * 255
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_unknown_arch_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown architecture 'huge'; use one of full, lite"):
        build_network("huge")


def _distinct_styles(model: torch.nn.Module) -> torch.nn.Module:
    """Random per-style norm rows: a fresh network's are all 1/0, every style the same."""
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.add_(torch.randn_like(param) * 0.5)
    return model.eval()


@pytest.mark.parametrize("arch", ARCHS)
def test_a_style_of_a_multi_style_network_is_its_one_style_network(
    tmp_path: Path, arch: str
) -> None:
    from models.transformer_net import arch_of_state, one_style_network

    torch.manual_seed(2)
    multi = _distinct_styles(build_network(arch, 3))
    assert multi.num_styles == 3 and arch_of_state(multi.state_dict()) == arch
    path = tmp_path / "multi.pth"
    torch.save(multi.state_dict(), path)
    loaded = load_transformer_net(path)
    assert type(loaded) is type(multi) and loaded.num_styles == 3
    x = torch.rand(2, 3, 37, 45) * 255
    with torch.no_grad():
        painted = [loaded(x, torch.eye(3)[[i, i]]) for i in range(3)]
        for index in range(3):
            single = one_style_network(loaded, index)
            # The same architecture, one style: it loads where single-style networks do.
            assert type(single) is type(multi) and single.num_styles is None
            torch.testing.assert_close(single(x), painted[index], rtol=1e-4, atol=1e-2)
    assert (painted[0] - painted[1]).abs().mean() > 1e-2  # the styles really differ


def test_a_single_style_lite_state_keeps_its_keys_and_shapes() -> None:
    import hashlib

    # The shipped lite checkpoints' layout (plain affine instance norms, (channels,) each),
    # fingerprinted from the network as it was before it learned several styles: a change
    # here would stop every lite .pth already trained from loading.
    state = build_network("lite").state_dict()
    layout = ";".join(f"{k}:{tuple(v.shape)}" for k, v in state.items())
    assert hashlib.sha256(layout.encode()).hexdigest()[:16] == "5d7758433800163e"
    multi = build_network("lite", 2).state_dict()
    assert list(multi) == list(state)  # a multi-style one differs only in its norms' shapes
    assert multi["in1.weight"].shape == (2, 16) and state["in1.weight"].shape == (16,)
