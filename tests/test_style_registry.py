"""Style registry: bundled and user styles, paths, on-the-fly .pth export, `realtime styles`."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures_media import make_clip
from fixtures_models import TEST_CARD

from realtime.cli.commands.styles import card_summary
from realtime.cli.main import main
from realtime.core.config import DEFAULT_STYLE, EngineConfig, RunConfig
from realtime.core.errors import UserError
from realtime.runtime import styles as style_registry
from realtime.runtime.styles import list_styles, resolve_style, user_styles_dir

ENGINE = EngineConfig(device="cpu")


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    directory = tmp_path / "my-styles"
    directory.mkdir()
    monkeypatch.setenv("REALTIME_STYLES_DIR", str(directory))
    return directory


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    """A stand-in for realtime/bundled_styles/: a real namespace package read through
    importlib.resources, so nothing is written into the checkout."""
    root = tmp_path / "pkgroot"
    (root / "h2_test_bundle").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(style_registry, "BUNDLED_PACKAGE", "h2_test_bundle")
    yield root / "h2_test_bundle"
    sys.modules.pop("h2_test_bundle", None)


def test_default_user_dir_is_under_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if sys.platform.startswith("linux"):
        assert user_styles_dir() == tmp_path / "data" / "realtime" / "styles"
    assert user_styles_dir().name == "styles"


def test_the_real_bundle_ships_the_default_style():
    from realtime.runtime.engine import OnnxStylizer

    entries = {e.name: e for e in list_styles()}
    assert DEFAULT_STYLE in entries
    entry = resolve_style(DEFAULT_STYLE, ENGINE)
    assert entry.origin == "bundled" and entry.card and entry.card["steps"] > 0
    frame = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    out = OnnxStylizer(entry.path, ENGINE)(frame)
    assert out.shape == frame.shape and np.mean(np.abs(out.astype(int) - frame)) > 10


def test_user_style_by_name(bundle, user_dir, style_onnx):
    shutil.copy(style_onnx, user_dir / "mine.onnx")
    (user_dir / "mine.json").write_text(json.dumps({"steps": 7}), encoding="utf-8")
    entry = resolve_style("mine", ENGINE)
    assert (entry.name, entry.origin, entry.path) == ("mine", "user", user_dir / "mine.onnx")
    assert entry.card == {"steps": 7} and not entry.shadows_bundled
    assert [e.name for e in list_styles()] == ["mine"]


def test_unknown_name_lists_known_styles_and_the_user_dir(user_dir, style_onnx):
    shutil.copy(style_onnx, user_dir / "mine.onnx")
    with pytest.raises(UserError) as info:
        resolve_style("nope", ENGINE)
    message = str(info.value)
    assert "unknown style 'nope'" in message and "mine (user)" in message
    assert str(user_dir) in message


def test_unknown_name_with_nothing_installed(bundle, user_dir):
    with pytest.raises(UserError, match="known styles: none installed"):
        resolve_style(DEFAULT_STYLE, ENGINE)


def test_bundled_styles_and_shadowing(bundle, user_dir, style_onnx):
    shutil.copy(style_onnx, bundle / "mosaic.onnx")
    shutil.copy(style_onnx, bundle / "candy.onnx")
    (bundle / "candy.json").write_text(json.dumps(TEST_CARD), encoding="utf-8")
    entry = resolve_style("candy", ENGINE)
    assert (entry.origin, entry.path, entry.card) == ("bundled", bundle / "candy.onnx", TEST_CARD)
    assert resolve_style("mosaic", ENGINE).origin == "bundled"

    shutil.copy(style_onnx, user_dir / "mosaic.onnx")
    mosaic = resolve_style("mosaic", ENGINE)
    assert (mosaic.origin, mosaic.path, mosaic.shadows_bundled) == (
        "user",
        user_dir / "mosaic.onnx",
        True,
    )
    assert [(e.name, e.origin) for e in list_styles()] == [("candy", "bundled"), ("mosaic", "user")]


def test_onnx_path(style_onnx):
    entry = resolve_style(str(style_onnx), ENGINE)
    # The name comes from the model's metadata, the card from the metadata copy.
    assert (entry.name, entry.origin, entry.path) == ("testy", "file", style_onnx)
    assert entry.card == TEST_CARD


@pytest.mark.parametrize("ref", ["missing.onnx", "sub/dir/style", "nothing.pth"])
def test_path_looking_ref_that_does_not_exist(ref, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="style file not found"):
        resolve_style(ref, ENGINE)


def test_file_of_another_kind(tmp_path):
    other = tmp_path / "style.txt"
    other.write_text("hello")
    with pytest.raises(UserError, match="neither .onnx nor .pth"):
        resolve_style(str(other), ENGINE)


@pytest.mark.slow
def test_pth_is_exported_once_then_reused(style_pth, tmp_path, caplog):
    from realtime.cli.wiring import pth_exporter

    caplog.set_level(logging.INFO, logger="realtime")
    engine = EngineConfig(device="cpu", cache_dir=tmp_path / "cache")
    first = resolve_style(str(style_pth), engine, pth_exporter())
    assert first.origin == "exported" and first.name == "testy" and first.card == TEST_CARD
    assert first.path.parent == tmp_path / "cache" / "exported"
    assert first.path.is_file()
    assert "exporting" in caplog.text and "parity vs torch OK" in caplog.text

    caplog.clear()
    mtime = first.path.stat().st_mtime_ns
    second = resolve_style(str(style_pth), engine, pth_exporter())
    assert second == first and first.path.stat().st_mtime_ns == mtime
    assert "exported earlier" in caplog.text and "exporting" not in caplog.text


def test_pth_without_an_exporter_names_the_export_command(style_pth, tmp_path):
    # The runtime alone cannot export (that is torch-side): it says which command does.
    with pytest.raises(UserError, match="realtime export .*testy.pth NAME.onnx"):
        resolve_style(str(style_pth), EngineConfig(cache_dir=tmp_path))


def test_pth_without_torch(style_pth, tmp_path, monkeypatch):
    from realtime.cli.wiring import pth_exporter

    # sys.modules[name] = None is how Python spells "this module cannot be imported".
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UserError, match="needs torch"):
        resolve_style(str(style_pth), EngineConfig(cache_dir=tmp_path), pth_exporter())


def test_card_summary():
    assert card_summary(TEST_CARD) == "steps=3 image_size=64 style_weight=1.0"
    assert card_summary(None) == "-"
    assert card_summary({"date": "today"}) == "card (no recipe)"


def test_cli_styles_lists_user_and_bundled(bundle, user_dir, style_onnx, capsys):
    shutil.copy(style_onnx, bundle / "mosaic.onnx")
    shutil.copy(style_onnx, user_dir / "mosaic.onnx")
    shutil.copy(style_onnx, user_dir / "zebra.onnx")
    (user_dir / "zebra.json").write_text(json.dumps(TEST_CARD), encoding="utf-8")
    (user_dir / "broken.onnx").write_text("not a model")
    assert main(["styles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "ORIGIN", "PRECISION", "MIXES", "TRAINING", "PATH"]
    by_name = {line.split()[0]: line for line in lines[1:-1]}
    assert set(by_name) == {"broken", "mosaic", "zebra"}
    assert "user (shadows bundled)" in by_name["mosaic"]
    assert "fp32" in by_name["zebra"] and "steps=3" in by_name["zebra"]
    assert by_name["zebra"].endswith(str(user_dir / "zebra.onnx"))
    assert "unreadable" in by_name["broken"]
    assert lines[-1].startswith(f"User styles directory: {user_dir}")


def test_cli_styles_name_shows_the_card(bundle, user_dir, style_onnx, capsys):
    card = {
        "name": "zebra",
        "arch": "TransformerNet-lite",
        "steps": 1500,
        "style_image": {
            "path": "styles/zebra.jpg",
            "sha256": "ab" * 32,
            "size": [256, 200],
            "source": "a zoo poster",
        },
        "retrain": {"recipe": "cpu", "command": "python retrain.py --styles zebra"},
        "recipe": {
            "image_size": 128,
            "style_size": None,
            "style_weight": 5.0,
            "style_layer_weights": [0.54, 2.92, 0.54, 0.0],
            "lr_schedule": "cosine",
        },
        "final_losses": {"content": 2.5, "style": 0.49},
        "vgg_weights": "file:vgg16.pth sha256:0791",
        "evaluation": {"ours": {"style_distance": 0.61}, "reference": {"style_distance": 0.46}},
    }
    shutil.copy(style_onnx, user_dir / "zebra.onnx")
    (user_dir / "zebra.json").write_text(json.dumps(card), encoding="utf-8")
    shutil.copy(style_onnx, user_dir / "bare.onnx")
    assert main(["styles", "zebra"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"zebra (user, fp32): {user_dir / 'zebra.onnx'}")
    for fact in (
        "architecture: TransformerNet-lite",
        "style image: styles/zebra.jpg sha256 abababababab, matched at [256, 200]",
        "style image source: a zoo poster",
        "steps: 1500",
        "retrain with: python retrain.py --styles zebra",
        "recipe: image_size=128 style_size=original style_weight=5 "
        "style_layer_weights=0.54,2.92,0.54,0 lr_schedule=cosine",
        "final losses: content 2.5, style 0.49",
        "VGG-16 weights: file:vgg16.pth sha256:0791",
        "amber.jpg, ours: style_distance 0.61",
        "amber.jpg, reference: style_distance 0.46",
    ):
        assert f"  {fact}\n" in out, fact
    assert main(["styles", "bare"]) == 0
    assert "no card" in capsys.readouterr().out
    assert main(["styles", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown style 'nope'; known styles: bare, zebra" in err


def test_cli_styles_when_empty(bundle, user_dir, capsys):
    assert main(["styles"]) == 0
    out = capsys.readouterr().out
    assert "No styles installed." in out and "REALTIME_STYLES_DIR" in out


def test_broken_card_is_an_error_naming_the_file(user_dir, style_onnx):
    shutil.copy(style_onnx, user_dir / "mine.onnx")
    (user_dir / "mine.json").write_text("[1, 2")
    with pytest.raises(UserError, match="mine.json"):
        resolve_style("mine", ENGINE)


def test_the_real_bundle_ships_mosaic_lite_with_its_card():
    from realtime.core.model_io import ARCH_LITE, read_model_info
    from realtime.runtime.engine import OnnxStylizer

    entry = resolve_style("mosaic-lite", ENGINE)
    info = read_model_info(entry.path)
    assert entry.origin == "bundled" and info.arch == ARCH_LITE and info.precision == "fp16"
    card = entry.card
    assert card["arch"] == "TransformerNet-lite" and card["steps"] > 0
    assert set(card["evaluation"]["ours"]) == {
        "style_distance",
        "content_distance",
        "edge_correlation",
    }
    # Distilled from the full network's mosaic: its card says from what, scored against it too.
    assert "distilled from" in card["shipped"]["exported_from"]
    assert set(card["evaluation"]["full_network"]) == set(card["evaluation"]["ours"])
    frame = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    out = OnnxStylizer(entry.path, ENGINE)(frame)
    assert out.shape == frame.shape and np.mean(np.abs(out.astype(int) - frame)) > 10


PAINTINGS = ("mosaic", "candy", "udnie", "rain-princess")


@pytest.mark.parametrize("name", PAINTINGS)
def test_the_real_bundle_ships_each_painting_with_its_card(name):
    from realtime.core.model_io import ARCH, read_model_info
    from realtime.runtime.engine import OnnxStylizer

    entry = resolve_style(name, ENGINE)
    info = read_model_info(entry.path)
    assert entry.origin == "bundled" and info.arch == ARCH and info.precision == "fp16"
    card = entry.card
    assert card["name"] == name and card["steps"] > 0 and card["vgg_weights"]
    assert card["style_image"]["path"].endswith(f"{name}.jpg") and card["style_image"]["source"]
    assert card["retrain"]["recipe"] and f"--styles {name}" in card["retrain"]["command"]
    assert {"content", "style"} <= set(card["final_losses"])
    # The scorer's three numbers; a card from before the edge correlation has two.
    numbers = {"style_distance", "content_distance", "edge_correlation"}
    for who in ("ours", "reference"):
        assert numbers - {"edge_correlation"} <= set(card["evaluation"][who]) <= numbers
    frame = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    out = OnnxStylizer(entry.path, ENGINE)(frame)
    assert out.shape == frame.shape and np.mean(np.abs(out.astype(int) - frame)) > 10


def test_the_bundle_stays_within_its_size_budget():
    from importlib.resources import files

    sizes = [Path(str(f)).stat().st_size for f in files(style_registry.BUNDLED_PACKAGE).iterdir()]
    assert sum(sizes) <= 30_000_000, "issue 7 allows about 30 MB of bundled styles in all"


def test_same_kind_keeps_lite_with_lite_and_full_with_full():
    names = ["candy", "candy-lite", "mosaic", "mosaic-lite", "udnie"]
    assert style_registry.same_kind(names, "mosaic-lite") == ["candy-lite", "mosaic-lite"]
    assert style_registry.same_kind(names, "udnie") == ["candy", "mosaic", "udnie"]


def test_live_default_is_lite_without_a_gpu(bundle, user_dir, style_onnx, monkeypatch, caplog):
    from realtime.app.build import choose_style
    from realtime.runtime import engine

    caplog.set_level(logging.INFO, logger="realtime")

    def live(device: str, arch: str = "auto") -> tuple[str, bool]:
        return choose_style(RunConfig(arch=arch, engine=EngineConfig(device=device)), live=True)

    shutil.copyfile(style_onnx, bundle / "mosaic.onnx")
    # Before a lite network exists the full one paints, whatever the machine.
    assert live("cpu") == (DEFAULT_STYLE, False)
    # ... but asking for the lite one is refused, not quietly answered with the full one.
    with pytest.raises(UserError, match="--arch lite: 'mosaic' has no lite network; drop"):
        live("cpu", arch="lite")
    # A file is used as it is; an unknown name is left to resolve_style's own error.
    as_file = RunConfig(style=str(style_onnx), arch="lite", engine=EngineConfig(device="cpu"))
    assert choose_style(as_file, live=True) == (str(style_onnx), True)
    unknown = RunConfig(style="nonesuch", arch="lite", engine=EngineConfig(device="cpu"))
    assert choose_style(unknown, live=True) == ("nonesuch", True)
    shutil.copyfile(style_onnx, bundle / "mosaic-lite.onnx")
    caplog.clear()
    assert live("cpu") == (DEFAULT_STYLE, True)
    assert "--device cpu: painting 'mosaic' with its lite network" in caplog.text
    assert "--arch full forces the full network" in caplog.text
    assert live("cpu", arch="full") == (DEFAULT_STYLE, False)
    # Files keep the full network: quality first.
    assert choose_style(RunConfig(engine=EngineConfig(device="cpu"))) == (DEFAULT_STYLE, False)
    # --device auto: the engine's own pre-flight check decides (a GPU is mocked: none here).
    monkeypatch.setattr(engine, "gpu_unavailable_reason", lambda: "no NVIDIA driver found")
    caplog.clear()
    assert live("auto") == (DEFAULT_STYLE, True)
    assert "no usable NVIDIA GPU (no NVIDIA driver found)" in caplog.text
    monkeypatch.setattr(engine, "gpu_unavailable_reason", lambda: None)
    assert live("auto") == (DEFAULT_STYLE, False)
    assert live("cuda") == (DEFAULT_STYLE, False)


def test_webcam_without_style_says_it_uses_the_lite_one(
    bundle, user_dir, style_onnx, tmp_path, capsys
):
    clip = make_clip(tmp_path / "clip.mp4", frames=10, rate=25)
    for name in ("mosaic", "mosaic-lite", "candy", "candy-lite"):
        shutil.copyfile(style_onnx, bundle / f"{name}.onnx")
    argv = ["webcam", "--camera", str(clip), "--no-window", "--device", "cpu", "--frames", "2"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "painting 'mosaic' with its lite network" in err
    assert "style 'mosaic-lite' on CPUExecutionProvider" in err.strip().splitlines()[-1]
