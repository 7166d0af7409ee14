"""The temporal-consistency term (``models.temporal_loss``): its known motion and mask, its
value for networks that do and do not follow that motion, that it trains, and the
``--temporal-weight`` option from the command line to the model card."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from models.temporal_loss import (
    ERODE_PX,
    MAX_SHIFT_PX,
    motion_theta,
    move,
    random_motion,
    temporal_loss,
    valid_mask,
)
from models.train import _temporal
from models.train_config import DEFAULTS, STYLE_LAYER_NAMES, TrainConfig, read_recipe
from realtime.cli.main import main
from realtime.core.errors import UserError

H, W = 24, 32  # not square: the motion must be in pixels on both axes


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # These tensors are tiny: a second thread gains nothing, and on a busy CPU handing work
    # between threads costs a hundred times the work itself.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _crops(n: int = 2, seed: int = 0) -> torch.Tensor:
    """Smooth random images in 0..255, as photo crops are (bilinear resampling of white noise
    would mostly measure the interpolation's blur)."""
    small = torch.rand(n, 3, 6, 8, generator=torch.Generator().manual_seed(seed)) * 255
    return nn.functional.interpolate(small, size=(H, W), mode="bicubic").clamp(0, 255)


def _theta(shift: tuple[float, float] = (0, 0), degrees: float = 0, zoom: float = 1):
    return motion_theta(
        torch.tensor([shift], dtype=torch.float32),
        torch.tensor([degrees], dtype=torch.float32),
        torch.tensor([zoom], dtype=torch.float32),
        H,
        W,
    )


# ----------------------------------------------------------------------------- the motion


def test_no_motion_is_the_identity_and_leaves_every_pixel_valid() -> None:
    crops = _crops(1)
    theta = _theta()
    assert torch.allclose(move(crops, theta), crops, atol=1e-3)
    assert bool((valid_mask(theta, H, W) == 1).all())


def test_a_shift_moves_the_content_and_masks_where_its_source_fell_outside() -> None:
    crops = _crops(1)
    theta = _theta(shift=(3, 0))  # each pixel reads 3 to its right: the content moves left
    moved, mask = move(crops, theta), valid_mask(theta, H, W)[0, 0]
    assert torch.allclose(moved[..., : W - 3], crops[..., 3:], atol=1e-3)
    # Columns whose source lay past the right edge, and ERODE_PX more, are out; the rest in.
    assert bool((mask[:, W - 3 - ERODE_PX :] == 0).all())
    assert bool((mask[:, : W - 3 - ERODE_PX] == 1).all())
    assert set(mask.unique().tolist()) == {0.0, 1.0}


def test_a_rotation_or_zoom_invalidates_the_border_and_keeps_the_middle() -> None:
    for theta in (_theta(degrees=2), _theta(zoom=1.05)):  # 1.05: reads further out
        mask = valid_mask(theta, H, W)[0, 0]
        assert mask[0, 0] == 0 and mask[-1, -1] == 0  # corners read from outside
        assert bool((mask[H // 2 - 4 : H // 2 + 4, W // 2 - 4 : W // 2 + 4] == 1).all())


def test_random_motions_are_small_per_image_and_reproducible() -> None:
    crops = _crops(4)
    a = random_motion(crops, 0.0, torch.Generator().manual_seed(1))
    b = random_motion(crops, 0.0, torch.Generator().manual_seed(1))
    assert torch.equal(a.moved, b.moved) and torch.equal(a.mask, b.mask)
    assert len({tuple(t.flatten().tolist()) for t in a.theta}) == 4  # one motion per image
    shift_px = a.theta[:, :, 2] * torch.tensor([W / 2, H / 2])
    assert bool((shift_px.abs() <= MAX_SHIFT_PX + 1e-4).all())
    assert 0.5 < float(a.mask.mean()) < 1.0  # some border lost, most of the crop kept
    assert torch.allclose(a.moved, move(crops, a.theta))  # no noise asked, none added


def test_noise_is_added_to_the_moved_crop_at_its_std() -> None:
    crops = _crops(4) * 0.5 + 64  # away from 0 and 255, where the clip would cut the noise
    motion = random_motion(crops, 2.0, torch.Generator().manual_seed(2))
    noise = motion.moved - move(crops, motion.theta)
    inside = motion.mask.expand_as(noise) > 0
    assert float(noise[inside].std()) == pytest.approx(2.0, rel=0.1)


# ----------------------------------------------------------------------------- the loss


@torch.no_grad()
def _loss(net: nn.Module, crops: torch.Tensor, seed: int = 3) -> float:
    generator = torch.Generator().manual_seed(seed)
    return float(temporal_loss(net, crops, net(crops), 0.0, generator))


class _Pattern(nn.Module):
    """Adds a fixed pattern at fixed pixels: its texture stays put while the picture moves,
    as a flickering network's does."""

    def __init__(self) -> None:
        super().__init__()
        self.pattern = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(4)) * 60

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pattern


class _Noisy(nn.Module):
    """Draws new texture on every call, as noise-driven networks do."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 20 * torch.randn_like(x)


def test_the_loss_is_zero_for_networks_that_follow_the_motion() -> None:
    crops = _crops(4)
    per_pixel = nn.Conv2d(3, 3, 1)  # a colour change with an offset: bilinear commutes with it
    with torch.no_grad():  # set by hand
        per_pixel.weight.copy_(
            torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0, 0.2, 0.6]])[..., None, None]
        )
        per_pixel.bias.fill_(12.0)
        assert _loss(nn.Identity(), crops) < 1e-10
        assert _loss(per_pixel, crops) < 1e-10


def test_the_loss_is_clearly_positive_for_networks_that_do_not() -> None:
    crops = _crops(4)
    with torch.no_grad():
        # (60 levels of uniform noise, moved against itself: about 2 * 60^2/12 / 255^2.)
        assert _loss(_Pattern(), crops) > 3e-3
        assert _loss(_Noisy(), crops) > 3e-3


def test_a_multi_style_network_paints_both_passes_in_the_same_style() -> None:
    class ByStyle(nn.Module):  # a per-pixel op that differs by style: it commutes
        def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
            return x * (0.2 + style[:, :1, None, None])

    crops = _crops(2)
    style = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    model = ByStyle()
    run = SimpleNamespace(
        paint=lambda images, style: model(images, style),
        config=SimpleNamespace(temporal_noise=0.0),
    )
    torch.manual_seed(5)
    assert float(_temporal(run, crops, model(crops, style), style)) < 1e-10
    # The check sees a style mix-up: the moved pass in the other style is far off.
    swapped = model(crops, style.flip(0))
    assert float(_temporal(run, crops, swapped, style)) > 1e-2


class _TinyNet(nn.Module):
    """A conv net that sees a fixed pattern as a fourth channel: it can draw texture at fixed
    pixels, and must learn to ignore that channel to follow the motion."""

    def __init__(self) -> None:
        super().__init__()
        self.pattern = torch.rand(1, 1, H, W, generator=torch.Generator().manual_seed(6)) * 255
        self.conv = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(torch.cat([x, self.pattern.expand(x.shape[0], -1, -1, -1)], 1))


def test_a_few_steps_on_the_temporal_term_alone_reduce_it() -> None:
    crops, net = _crops(4), _TinyNet()
    before = _loss(net, crops, seed=7)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(8)
    for step in range(30):
        optimizer.zero_grad()
        temporal_loss(net, crops, net(crops), 2.0, generator).backward()
        if step == 0:  # through both passes, to every weight
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
        optimizer.step()
    assert _loss(net, crops, seed=7) < 0.3 * before


# ----------------------------------------------------------------------------- config and CLI


def _config(**changes: object) -> TrainConfig:
    base = TrainConfig(style_images=(Path("s.jpg"),), dataset=Path("d"), out=Path("o.pth"))
    return dataclasses.replace(base, **changes)


def test_the_options_round_trip_through_the_written_toml(tmp_path: Path) -> None:
    assert _config().temporal_weight == 0.0  # off unless asked for
    config = _config(temporal_weight=2.5, temporal_noise=0.0)
    file = tmp_path / "o.config.toml"
    file.write_text(config.to_toml(), encoding="utf-8")
    assert "temporal_weight = 2.5\n" in file.read_text()
    again = read_recipe(file)
    assert (again["temporal_weight"], again["temporal_noise"]) == (2.5, 0.0)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"temporal_weight": -1.0}, "--temporal-weight must be 0 or more, got -1.0"),
        ({"temporal_weight": float("nan")}, "--temporal-weight must be 0 or more, got nan"),
        ({"temporal_noise": -0.5}, "--temporal-noise must be 0 or more, got -0.5"),
    ],
)
def test_a_bad_value_is_refused_naming_the_option(changes: dict, expected: str) -> None:
    with pytest.raises(UserError, match="^" + re.escape(expected) + "$"):
        _config(**changes).check(STYLE_LAYER_NAMES)


def test_a_bad_value_is_one_line_from_the_command_line_and_a_recipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--style-image", "s.jpg", "--dataset", "d", "--out", "o.pth"]
    recipe = tmp_path / "r.toml"
    recipe.write_text('temporal_weight = "strong"\n', encoding="utf-8")
    for extra, expected in (
        (["--temporal-weight", "-1"], "--temporal-weight must be 0 or more"),
        (["--config", str(recipe)], "temporal_weight must be a number, got 'strong'"),
    ):
        assert main([*argv, *extra]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("realtime: error: "), lines
        assert expected in lines[0]


def _write_photos(folder: Path) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        small = rng.uniform(0, 255, (5, 6, 3)).astype(np.uint8)
        Image.fromarray(small).resize((48, 40), Image.BICUBIC).save(folder / f"{index}.png")


@pytest.mark.slow
def test_a_short_train_run_adds_the_term_and_writes_it_in_its_card(
    shared_dir: Path, vgg_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_photos(tmp_path / "photos")
    out = tmp_path / "t.pth"
    argv = [
        "train", "--style-image", str(shared_dir / "data" / "styles" / "mosaic.jpg"),
        "--dataset", str(tmp_path / "photos"), "--out", str(out),
        "--vgg-weights", str(vgg_weights), "--steps", "2", "--batch-size", "2",
        "--image-size", "32", "--style-size", "64", "--preview-size", "40",
        "--checkpoint-every", "0", "--log-every", "1", "--num-workers", "0", "--no-progress",
        "--threads", "1", "--temporal-weight", "1",
    ]  # fmt: skip
    assert main(argv) == 0
    assert "temporal=" in capsys.readouterr().out
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["recipe"]["temporal_weight"] == 1.0
    assert np.isfinite(card["final_losses"]["temporal"]) and card["final_losses"]["temporal"] > 0
    d = DEFAULTS
    for entry in card["loss_log"]:  # the term, at weight 1, is in the total (tv weight 0)
        weighted = d.content_weight * entry["content"] + d.style_weight[0] * entry["style"]
        weighted += d.tv_weight * entry["tv"] + entry["temporal"]
        assert entry["total"] == pytest.approx(weighted, rel=1e-4)
    assert read_recipe(out.with_name("t.config.toml"))["temporal_weight"] == 1.0
