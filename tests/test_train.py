"""Dataset, training, checkpoints/resume, model card and the ``realtime train`` command.

Training runs use tiny images (32 px) and a random-weight VGG-16 saved to a temporary file:
enough to exercise every mechanism for real on CPU in seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image

from models.data import AugmentedImageStream, find_images
from models.lite_net import LITE_SPEC
from models.train import CHECKPOINT_FORMAT, TrainConfig, TrainResult, learning_rate, train
from models.train_config import read_recipe
from models.transformer_net import TransformerNet, build_network, load_transformer_net
from models.vgg import VGG16Features
from realtime.cli.commands.train import config_from_args
from realtime.cli.main import build_parser, main
from realtime.core.config import EngineConfig
from realtime.core.errors import UserError


def _write_image(path: Path, width: int, height: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (4, 5, 3)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(small).resize((width, height), Image.BICUBIC).save(path)


@dataclass(frozen=True)
class Files:
    dataset: Path
    style: Path
    vgg: Path
    n_images: int


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("train-data")
    dataset = root / "photos"
    # Nested folders, every supported extension (also upper case), and things to ignore.
    _write_image(dataset / "a" / "img0.png", 40, 36, 0)
    _write_image(dataset / "a" / "b" / "img1.jpg", 52, 38, 1)
    _write_image(dataset / "img2.bmp", 37, 45, 2)
    _write_image(dataset / "img3.webp", 60, 33, 3)
    _write_image(dataset / "IMG4.JPEG", 34, 34, 4)
    (dataset / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (dataset / "notes.txt").write_text("not an image")
    style = root / "style.png"
    rng = np.random.default_rng(9)
    Image.fromarray(rng.uniform(0, 255, (6, 6, 3)).astype(np.uint8)).resize(
        (48, 40), Image.NEAREST
    ).save(style)
    torch.manual_seed(0)
    vgg = root / "random-vgg16-features.pth"
    torch.save(VGG16Features().features.state_dict(), vgg)
    return Files(dataset=dataset, style=style, vgg=vgg, n_images=5)


def _config(files: Files, out: Path, **changes: object) -> TrainConfig:
    base = TrainConfig(
        style_images=(files.style,),
        dataset=files.dataset,
        out=out,
        steps=12,
        batch_size=2,
        image_size=32,
        style_size=48,
        vgg_weights=files.vgg,
        checkpoint_every=3,
        keep_checkpoints=2,
        preview_every=6,
        preview_size=40,
        log_every=1,
        num_workers=0,
        progress=False,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def straight(files: Files, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    out = tmp_path_factory.mktemp("straight") / "style.pth"
    return train(_config(files, out))


# ----------------------------------------------------------------------------- dataset


def test_find_images_recursive_with_skipped_files(
    files: Files, caplog: pytest.LogCaptureFixture
) -> None:
    folder = find_images(files.dataset)
    assert "skipped 1 unreadable image file(s)" in caplog.text
    names = [p.name for p in folder.files]
    assert names == ["IMG4.JPEG", "img1.jpg", "img0.png", "img2.bmp", "img3.webp"]  # by path
    assert [p.name for p in folder.skipped] == ["broken.jpg"]


@pytest.mark.parametrize("case", ["missing", "empty", "no-images", "all-broken"])
def test_find_images_errors(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "d"
    if case != "missing":
        folder.mkdir()
    if case == "no-images":
        (folder / "readme.txt").write_text("x")
    if case == "all-broken":
        (folder / "x.png").write_bytes(b"garbage")
    with pytest.raises(UserError) as info:
        find_images(folder)
    expected = {
        "missing": "not found",
        "empty": "no images",
        "no-images": "no images",
        "all-broken": "none of the 1 image files",
    }[case]
    assert expected in str(info.value)


def test_stream_is_seeded_augmented_and_resumable(files: Files) -> None:
    paths = find_images(files.dataset).files
    stream = AugmentedImageStream(paths, 24, length=20, seed=3, jitter_max=2.0)
    samples = [stream[i] for i in range(20)]
    assert all(s.shape == (3, 24, 24) and s.dtype == torch.float32 for s in samples)
    assert all(s.min() >= 0 and s.max() <= 255 for s in samples)
    again = AugmentedImageStream(paths, 24, length=20, seed=3, jitter_max=2.0)
    assert all(torch.equal(a, again[i]) for i, a in enumerate(samples))
    # Resuming at sample 7 continues the very same stream.
    later = AugmentedImageStream(paths, 24, length=5, seed=3, start=7, jitter_max=2.0)
    assert all(torch.equal(later[i], samples[7 + i]) for i in range(5))
    other = AugmentedImageStream(paths, 24, length=20, seed=4, jitter_max=2.0)
    assert not all(torch.equal(a, other[i]) for i, a in enumerate(samples))
    # Every image appears once per epoch (5 images: samples 0-4, 5-9, ...), crops differ.
    assert len({s.sum().item() for s in samples}) == 20
    with pytest.raises(IndexError):
        stream[20]


def test_stream_flips_and_scale_jitter(tmp_path: Path) -> None:
    # One asymmetric image: left half black, right half white.
    array = np.zeros((40, 40, 3), np.uint8)
    array[:, 20:] = 255
    Image.fromarray(array).save(tmp_path / "half.png")
    stream = AugmentedImageStream([tmp_path / "half.png"], 40, length=40, seed=0, jitter_max=1.0)
    left_bright = [stream[i][:, :, :10].mean().item() > 128 for i in range(40)]
    assert 5 < sum(left_bright) < 35  # flipped about half of the time
    no_flip = AugmentedImageStream(
        [tmp_path / "half.png"], 40, length=10, seed=0, jitter_max=1.0, flip=False
    )
    assert all(no_flip[i][:, :, :10].mean() < 128 for i in range(10))
    # With jitter the crop sees a varying fraction of the black half.
    jittered = AugmentedImageStream([tmp_path / "half.png"], 20, length=30, seed=1, jitter_max=3)
    dark = {round(jittered[i].eq(0).float().mean().item(), 2) for i in range(30)}
    assert len(dark) > 5


# ----------------------------------------------------------------------------- training


@pytest.mark.slow
def test_training_lowers_the_loss(straight: TrainResult) -> None:
    totals = [entry["total"] for entry in straight.loss_log]
    assert [entry["step"] for entry in straight.loss_log] == list(range(1, 13))
    assert np.mean(totals[-3:]) < 0.9 * np.mean(totals[:3])
    assert all(np.isfinite(totals))


@pytest.mark.slow
def test_outputs_model_card_previews_and_checkpoints(straight: TrainResult, files: Files) -> None:
    model = load_transformer_net(straight.model_path)
    x = torch.rand(1, 3, 33, 47) * 255
    with torch.no_grad():
        assert model(x).shape == x.shape
    # A plain state_dict, as the PyTorch examples save it.
    state = torch.load(straight.model_path, weights_only=True)
    assert set(state) == set(TransformerNet().state_dict())

    card = json.loads(straight.card_path.read_text())
    assert straight.card_path == straight.model_path.with_suffix(".json")
    assert card["style_image"]["sha256"] == hashlib.sha256(files.style.read_bytes()).hexdigest()
    assert card["dataset"] == {"path": str(files.dataset), "images": 5, "skipped": 1}
    assert card["steps"] == 12 and card["seed"] == 0
    assert card["device"] == "cpu" and card["precision"] == "float32"
    assert card["recipe"]["style_weight"] == [5.0] and card["recipe"]["batch_size"] == 2
    assert card["vgg_weights"].startswith("file:random-vgg16-features.pth sha256:")
    assert card["seconds_per_step"] > 0
    assert card["torch"] == torch.__version__ and card["date"]
    totals = [e["total"] for e in straight.loss_log]
    assert card["final_losses"]["total"] == pytest.approx(np.mean(totals))  # window >= 12
    assert set(card["final_losses"]) == {"total", "content", "style", "tv"}

    previews = sorted(p.name for p in straight.preview_dir.iterdir())
    assert previews == ["step_000006.jpg", "step_000012.jpg"]
    with Image.open(straight.preview_dir / "step_000012.jpg") as img:
        assert img.size == (40, 40)  # preview_size long side; first dataset image is square
    # Newest two kept of 3, 6, 9, 12.
    kept = sorted(p.name for p in straight.checkpoint_dir.iterdir())
    assert kept == ["step_000009.pt", "step_000012.pt"]
    ckpt = torch.load(straight.checkpoint_dir / "step_000012.pt", weights_only=True)
    assert ckpt["format"] == CHECKPOINT_FORMAT and ckpt["step"] == 12
    assert {"model", "optimizer", "scaler", "rng", "config"} <= set(ckpt)
    for key, value in state.items():
        assert torch.equal(ckpt["model"][key], value)


@pytest.mark.slow
def test_lite_arch_trains_resumes_and_is_carded(files: Files, tmp_path: Path) -> None:
    out = tmp_path / "lite.pth"
    config = _config(files, out, arch="lite", steps=4, checkpoint_every=2, preview_every=0)
    result = train(dataclasses.replace(config, steps=2))
    assert result.steps == 2
    result = train(dataclasses.replace(config, resume="latest"))
    assert result.start_step == 2 and result.steps == 4
    model = load_transformer_net(out)
    assert type(model) is type(build_network("lite"))
    card = json.loads(result.card_path.read_text())
    assert card["arch"] == "TransformerNet-lite" and card["recipe"]["arch"] == "lite"
    assert card["arch_spec"]["widths"] == list(LITE_SPEC.widths)
    # A lite checkpoint cannot continue as a full network.
    with pytest.raises(UserError, match="another architecture or number of styles than this run"):
        train(dataclasses.replace(config, arch="full", resume="latest", steps=6))


@pytest.mark.slow
def test_style_layer_weights_reach_the_loss_and_the_card(files: Files, tmp_path: Path) -> None:
    # relu4_3 alone: a random backbone's relu4_3 Gram differs from the style's, so the style
    # term is positive; with every weight 0 it must vanish from the logged losses.
    config = _config(files, tmp_path / "a.pth", steps=2, checkpoint_every=0, preview_every=0)
    only43 = train(dataclasses.replace(config, style_layer_weights=(0, 0, 0, 1)))
    card = json.loads(only43.card_path.read_text())
    assert card["recipe"]["style_layer_weights"] == [0, 0, 0, 1]
    assert all(entry["style"] > 0 for entry in only43.loss_log)
    none = train(
        dataclasses.replace(config, out=tmp_path / "b.pth", style_layer_weights=(0, 0, 0, 0))
    )
    assert all(entry["style"] == 0 for entry in none.loss_log)


def _second_style(files: Files) -> Path:
    path = files.style.with_name("other.png")
    if not path.exists():
        rng = np.random.default_rng(11)
        Image.fromarray(rng.uniform(0, 255, (40, 52, 3)).astype(np.uint8)).save(path)
    return path


@pytest.mark.slow
def test_several_style_images_train_one_multi_style_network(files: Files, tmp_path: Path) -> None:
    from models.style_norm import single_style_state

    out = tmp_path / "multi.pth"
    styles = (files.style, _second_style(files))
    config = _config(files, out, style_images=styles, steps=4, checkpoint_every=2, preview_every=0)
    first = train(dataclasses.replace(config, steps=2))
    resumed = train(dataclasses.replace(config, resume="latest"))
    straight = train(dataclasses.replace(config, out=tmp_path / "straight.pth"))
    assert first.steps == 2 and resumed.steps == straight.steps == 4
    _assert_same_weights(out, straight.model_path)  # resumes exactly, styles and all
    state = torch.load(out, weights_only=True)
    assert state["in1.weight"].shape == (2, 32)
    card = json.loads(resumed.card_path.read_text())
    assert [s["name"] for s in card["styles"]] == ["style", "other"]
    assert card["styles"][1]["size"] == [48, 37]  # matched at --style-size 48 (long side)
    # The two styles really differ, and each is a plain single-style network of its own.
    model = load_transformer_net(out)
    single = TransformerNet()
    single.load_state_dict(single_style_state(state, torch.tensor([0.0, 1.0])))
    x = torch.rand(1, 3, 32, 40) * 255
    with torch.no_grad():
        a = model(x, torch.tensor([[1.0, 0.0]]))
        b = model(x, torch.tensor([[0.0, 1.0]]))
        torch.testing.assert_close(single.eval()(x), b, rtol=1e-4, atol=1e-3)
    assert (a - b).abs().mean() > 1e-3
    # One preview panel per style, side by side.
    from models.data import load_image_tensor

    first_photo = find_images(files.dataset).files[0]
    panel = load_image_tensor(first_photo, 40).shape[-2:]  # --preview-size 40
    with Image.open(sorted(resumed.preview_dir.iterdir())[-1]) as preview:
        assert preview.size == (2 * panel[1], panel[0])


def _third_style(files: Files) -> Path:
    path = files.style.with_name("third.png")
    if not path.exists():
        rng = np.random.default_rng(12)
        Image.fromarray(rng.uniform(0, 255, (44, 44, 3)).astype(np.uint8)).save(path)
    return path


@pytest.mark.slow
def test_add_style_trains_only_the_new_norm_rows(files: Files, tmp_path: Path) -> None:
    from models.style_norm import single_style_state

    base_out = tmp_path / "base.pth"
    styles = (files.style, _second_style(files))
    train(_config(files, base_out, style_images=styles, steps=2, checkpoint_every=0))
    out = tmp_path / "plus.pth"
    argv = ["train", "--add-style", str(_third_style(files)), "--base", str(base_out)]
    argv += _argv(files, out, **{"--steps": "3", "--lr": "0.05"})[1:]
    argv = [a for a in argv if a not in ("--style-image", str(files.style))]
    assert main(argv) == 0
    base, plus = torch.load(base_out, weights_only=True), torch.load(out, weights_only=True)
    assert plus["in1.weight"].shape == (3, 32)
    for key, value in base.items():
        # Every shared weight and the base's own rows are exactly the base's.
        torch.testing.assert_close(plus[key][: len(value)] if value.dim() == 2 else plus[key],
                                   value, rtol=0, atol=0)  # fmt: skip
    mean_rows = single_style_state(base, torch.tensor([0.5, 0.5]))
    assert (plus["in1.weight"][2] - mean_rows["in1.weight"]).abs().max() > 1e-3  # it learned
    card = json.loads(out.with_suffix(".json").read_text())
    assert [s["name"] for s in card["styles"]] == ["style", "other", "third"]
    assert card["base"] == str(base_out)
    model = load_transformer_net(out)
    with torch.no_grad():
        y = model(torch.rand(1, 3, 32, 40) * 255, torch.tensor([[0.0, 0.0, 1.0]]))
    assert y.shape == (1, 3, 32, 40)


def test_add_style_extends_a_shipped_lite_network_by_name(files: Files, tmp_path: Path) -> None:
    """The panel's route: the live network's name as --base, read back from its ONNX file
    (no .pth ships), a lite network's new row trained, the shipped rows kept exactly."""
    from models.onnx_weights import onnx_state
    from realtime.runtime.styles import resolve_style

    out = tmp_path / "plus.pth"
    argv = ["train", "--add-style", str(_third_style(files)), "--base", "paintings-lite"]
    argv += ["--arch", "lite", *_argv(files, out, **{"--lr": "0.05"})[1:]]
    argv = [a for a in argv if a not in ("--style-image", str(files.style))]
    assert main(argv) == 0
    shipped_path = resolve_style("paintings-lite", EngineConfig()).path
    shipped, plus = onnx_state(shipped_path), torch.load(out, weights_only=True)
    for key, value in shipped.items():
        got = plus[key][: len(value)] if value.dim() == 2 else plus[key]
        torch.testing.assert_close(got, value, rtol=0, atol=0)
    assert plus["in1.weight"].shape[0] == shipped["in1.weight"].shape[0] + 1
    card = json.loads(out.with_suffix(".json").read_text())
    assert [s["name"] for s in card["styles"]][-1] == "third"
    assert card["base"] == str(shipped_path) and card["arch"] == "TransformerNet-lite"


def test_add_style_to_a_lite_base_without_arch_lite_says_so(
    files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--add-style", str(_third_style(files)), "--base", "paintings-lite"]
    argv += _argv(files, tmp_path / "o.pth")[1:]
    argv = [a for a in argv if a not in ("--style-image", str(files.style))]
    _fails(argv, capsys, "is not a multi-style full network; add --arch lite")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--base", "BASE"], "--base goes with --add-style"),
        (["--add-style", "STYLE"], "--add-style needs --base"),
        (["--add-style", "OTHER", "--base", "SINGLE"], "is a single-style network"),
        (["--add-style", "STYLE2", "--base", "BASE"], "already has a style named 'style'"),
    ],
)
def test_add_style_errors(
    files: Files, straight: TrainResult, tmp_path: Path, capsys, extra, expected
) -> None:
    base_out = tmp_path / "base.pth"
    styles = (files.style, _second_style(files))
    train(_config(files, base_out, style_images=styles, steps=1, checkpoint_every=0))
    same_name = tmp_path / "x" / "style.png"
    same_name.parent.mkdir()
    same_name.write_bytes(files.style.read_bytes())
    names = {
        "BASE": str(base_out),
        "SINGLE": str(straight.model_path),
        "STYLE": str(files.style),
        "STYLE2": str(same_name),
        "OTHER": str(_third_style(files)),
    }
    argv = _argv(files, tmp_path / "o.pth")
    if "--add-style" in extra:
        argv = [a for a in argv if a not in ("--style-image", str(files.style))]
    _fails(argv + [names.get(a, a) for a in extra], capsys, expected)


def test_reconstruction_needs_no_style_image_and_no_vgg(files: Files, tmp_path: Path) -> None:
    out = tmp_path / "identity.pth"
    config = _config(
        files, out, style_images=(), style_weight=(0.0,), content_loss="pixel",
        vgg_weights=tmp_path / "does-not-exist.pth", steps=3, checkpoint_every=0,
    )  # fmt: skip
    result = train(config)
    assert result.final_losses["style"] == 0 and result.final_losses["content"] > 0
    card = json.loads(result.card_path.read_text())
    assert card["vgg_weights"].startswith("none") and "style_image" not in card


@pytest.mark.slow
def test_init_starts_every_style_from_a_single_style_network(
    files: Files, straight: TrainResult, tmp_path: Path
) -> None:
    out = tmp_path / "from-init.pth"
    config = _config(
        files, out, style_images=(files.style, _second_style(files)), init=straight.model_path,
        lr=1e-12, steps=1, checkpoint_every=0,
    )  # fmt: skip
    train(config)  # one step at a vanishing rate: still the initial weights
    model, single = load_transformer_net(out), load_transformer_net(straight.model_path)
    x = torch.rand(1, 3, 32, 40) * 255
    with torch.no_grad():
        for style in ([[1.0, 0.0]], [[0.0, 1.0]], [[0.5, 0.5]]):
            torch.testing.assert_close(
                model(x, torch.tensor(style)), single(x), rtol=1e-4, atol=1e-2
            )


@pytest.mark.slow
def test_init_style_starts_a_one_style_run_from_that_style_of_a_multi_style_network(
    files: Files, tmp_path: Path, capsys
) -> None:
    styles = (files.style, _second_style(files))
    multi = train(_config(files, tmp_path / "multi.pth", style_images=styles, steps=2,
                          checkpoint_every=0, preview_every=0))  # fmt: skip
    # The card names the styles after their paintings: the second is "other".
    out = tmp_path / "other-alone.pth"
    config = _config(files, out, style_images=(styles[1],), init=multi.model_path,
                     init_style="other", lr=1e-12, steps=1, checkpoint_every=0)  # fmt: skip
    train(config)  # one step at a vanishing rate: still the picked style's weights
    alone, whole = load_transformer_net(out), load_transformer_net(multi.model_path)
    x = torch.rand(1, 3, 32, 40) * 255
    with torch.no_grad():
        torch.testing.assert_close(
            alone(x), whole(x, torch.tensor([[0.0, 1.0]])), rtol=1e-4, atol=1e-2
        )
        assert not torch.allclose(alone(x), whole(x, torch.tensor([[1.0, 0.0]])), atol=1e-2)
    assert json.loads(out.with_suffix(".json").read_text())["recipe"]["init_style"] == "other"
    # A name the network does not paint, and the option without --init.
    argv = _argv(
        files, tmp_path / "x.pth", **{"--init": str(multi.model_path), "--init-style": "nope"}
    )
    assert "has no such style; it paints" in _fails(argv, capsys, "--init-style nope")
    _fails(_argv(files, tmp_path / "x.pth", **{"--init-style": "other"}), capsys,
           "--init-style NAME starts a one-style run")  # fmt: skip


def test_style_weights_per_style_are_checked(files: Files, tmp_path: Path, capsys) -> None:
    argv = _argv(files, tmp_path / "m.pth", **{"--style-weight": "1,2"})
    _fails(argv, capsys, "--style-weight has 2 values for 1 style images")
    argv = _argv(files, tmp_path / "m.pth", **{"--style-image": str(files.style)})
    argv.remove("--style-image")
    argv.remove(str(files.style))
    _fails(argv, capsys, "no --style-image given")


@pytest.mark.slow
def test_content_strength_is_checked_and_reaches_the_card(
    files: Files, tmp_path: Path, capsys
) -> None:
    argv = _argv(files, tmp_path / "m.pth", **{"--content-strength": "1,0"})
    _fails(argv, capsys, "--content-strength has 2 values for 1 style images")
    argv = _argv(files, tmp_path / "m.pth", **{"--content-strength": "-1"})
    _fails(argv, capsys, "--content-strength must be 0 or more")
    config = _config(
        files, tmp_path / "w.pth", steps=2, checkpoint_every=0, preview_every=0,
        style_images=(files.style, _second_style(files)),
        content_loss="weighted-cosine", content_strength=(1.0, 0.0),
    )  # fmt: skip
    card = json.loads(train(config).card_path.read_text())
    assert card["recipe"]["content_loss"] == "weighted-cosine"
    assert card["recipe"]["content_strength"] == [1.0, 0.0]


@pytest.mark.slow
def test_laplacian_term_is_checked_and_reaches_the_card(
    files: Files, tmp_path: Path, capsys
) -> None:
    argv = _argv(files, tmp_path / "m.pth", **{"--laplacian-weight": "-1"})
    _fails(argv, capsys, "--laplacian-weight must be 0 or more")
    argv = _argv(files, tmp_path / "m.pth", **{"--laplacian-pool": "0"})
    _fails(argv, capsys, "--laplacian-pool must be at least 1")
    argv = _argv(files, tmp_path / "l.pth", **{"--laplacian-weight": "2", "--laplacian-pool": "2"})
    assert main(argv) == 0
    card = json.loads((tmp_path / "l.json").read_text())
    assert (card["recipe"]["laplacian_weight"], card["recipe"]["laplacian_pool"]) == (2.0, 2)


@pytest.mark.slow
def test_resume_across_the_laplacian_term_reports_this_recipes_terms(
    files: Files, tmp_path: Path
) -> None:
    config = _config(files, tmp_path / "a.pth", steps=2, checkpoint_every=2, preview_every=0,
                     laplacian_weight=1.0)  # fmt: skip
    assert "laplacian" in train(config).final_losses
    off = train(dataclasses.replace(config, steps=3, resume="latest", laplacian_weight=0.0))
    assert "laplacian" not in off.final_losses
    on = train(dataclasses.replace(config, steps=4, resume="latest"))
    assert "laplacian" in on.final_losses


@pytest.mark.slow
def test_resume_warns_of_a_field_its_checkpoint_predates(
    files: Files, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(files, tmp_path / "a.pth", steps=2, checkpoint_every=2, preview_every=0)
    first = train(config)
    checkpoint = first.checkpoint_dir / "step_000002.pt"
    saved = torch.load(checkpoint, weights_only=True)
    del saved["config"]["content_strength"]  # as written before the option existed
    torch.save(saved, checkpoint)
    caplog.clear()
    train(dataclasses.replace(config, steps=3, resume=str(checkpoint)))
    assert "different recipe" not in caplog.text  # it trained as the default does
    train(dataclasses.replace(config, steps=3, resume=str(checkpoint), content_strength=(0.5,)))
    assert "different recipe (content_strength)" in caplog.text


def test_cosine_schedule_decays_to_zero_and_resumes_exactly(files: Files) -> None:
    config = _config(files, Path("x.pth"), lr=2e-3, lr_schedule="cosine", steps=100)
    rates = [learning_rate(config, step) for step in range(101)]
    assert rates[0] == pytest.approx(2e-3) and rates[50] == pytest.approx(1e-3)
    assert rates[100] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
    constant = dataclasses.replace(config, lr_schedule="constant")
    assert {learning_rate(constant, step) for step in (0, 50, 100)} == {2e-3}


@pytest.mark.slow
def test_cosine_resume_matches_a_straight_run(files: Files, tmp_path: Path) -> None:
    config = _config(files, tmp_path / "a.pth", lr_schedule="cosine", steps=6, preview_every=0)
    straight = train(config)
    halfway = straight.checkpoint_dir / "step_000003.pt"
    train(dataclasses.replace(config, out=tmp_path / "b.pth", resume=str(halfway)))
    _assert_same_weights(tmp_path / "b.pth", straight.model_path)


def _assert_same_weights(a: Path, b: Path) -> None:
    sa, sb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert set(sa) == set(sb)
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_resume_from_path_matches_a_straight_run(
    straight: TrainResult, files: Files, tmp_path: Path
) -> None:
    out = tmp_path / "resumed.pth"
    checkpoint = straight.checkpoint_dir / "step_000009.pt"
    result = train(_config(files, out, resume=str(checkpoint)))
    assert result.start_step == 9 and result.steps == 12
    _assert_same_weights(out, straight.model_path)
    # The loss log continues the straight run's exactly.
    assert [e["step"] for e in result.loss_log] == list(range(1, 13))
    for mine, theirs in zip(result.loss_log, straight.loss_log, strict=True):
        assert mine["total"] == pytest.approx(theirs["total"], rel=1e-5)


@pytest.mark.slow
def test_cli_train_then_resume_latest(
    straight: TrainResult, files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli.pth"
    argv = [
        "train", "--style-image", str(files.style), "--dataset", str(files.dataset),
        "--out", str(out), "--vgg-weights", str(files.vgg), "--batch-size", "2",
        "--image-size", "32", "--style-size", "48", "--checkpoint-every", "3",
        "--preview-every", "0", "--preview-size", "40", "--num-workers", "0",
        "--log-every", "2",
    ]  # fmt: skip
    assert main([*argv, "--steps", "6"]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out and "6 steps" in captured.out
    assert "6/6" in captured.err and "train: step 6/6" in captured.err  # bar and log line
    assert "style=" in captured.err
    assert main([*argv, "--steps", "12", "--resume"]) == 0
    captured = capsys.readouterr()
    assert "resuming at step 6" in captured.err and "12 steps" in captured.out
    # 6 + 6 steps through the CLI and a checkpoint equal 12 straight steps.
    _assert_same_weights(out, straight.model_path)
    # --preview-every 0: only each run's final preview.
    previews = sorted(p.name for p in (tmp_path / "cli.previews").iterdir())
    assert previews == ["step_000006.jpg", "step_000012.jpg"]
    assert json.loads(out.with_suffix(".json").read_text())["steps"] == 12


@pytest.mark.slow
def test_cli_trains_from_a_recipe_file_and_goes_on_from_the_config_it_wrote(
    straight: TrainResult, files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / "recipe.toml"
    paths = {"dataset": files.dataset, "vgg_weights": files.vgg, "style_images": [files.style]}
    recipe.write_text(
        "".join(f"{k} = {json.dumps(v, default=str)}\n" for k, v in paths.items())
        + 'out = "runs/cli.pth"\nbatch_size = 2\nimage_size = 32\nstyle_size = 48\n'
        "checkpoint_every = 3\npreview_every = 0\npreview_size = 40\nnum_workers = 0\n",
        encoding="utf-8",
    )
    out = tmp_path / "runs" / "cli.pth"  # relative to the recipe's folder
    assert main(["train", "--config", str(recipe), "--steps", "6", "--no-progress"]) == 0
    written = tmp_path / "runs" / "cli.config.toml"
    assert f"{out}, cli.json and {written.name}: 6 steps" in capsys.readouterr().out
    assert TrainConfig(**read_recipe(written)) == dataclasses.replace(
        config_from_args(build_parser().parse_args(["train", "--config", str(recipe)])),
        steps=6, progress=False,
    )  # fmt: skip
    # The config it wrote goes on with --resume: 6 + 6 steps equal 12 straight ones.
    argv = ["train", "--config", str(written), "--steps", "12", "--resume"]
    assert main(argv) == 0
    _assert_same_weights(out, straight.model_path)
    assert TrainConfig(**read_recipe(written)).steps == 12


def test_cli_defaults_equal_train_config_defaults() -> None:
    args = build_parser().parse_args(
        ["train", "--style-image", "s.jpg", "--dataset", "d", "--out", "o.pth"]
    )
    assert config_from_args(args) == TrainConfig(
        style_images=(Path("s.jpg"),), dataset=Path("d"), out=Path("o.pth")
    )
    args = build_parser().parse_args(
        ["train", "--style-image", "s.jpg", "--dataset", "d", "--out", "o.pth",
         "--style-size", "original", "--resume", "--no-amp", "--no-progress"]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.style_size is None and config.resume == "latest"
    assert config.style_layer_weights == (1.0, 1.0, 1.0, 1.0)
    assert not config.amp and not config.progress


def test_cli_style_layer_weights(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "--style-image", "s.jpg", "--dataset", "d", "--out", "o.pth"]
    args = build_parser().parse_args([*base, "--style-layer-weights", "0.5,3,0.5,0"])
    assert config_from_args(args).style_layer_weights == (0.5, 3.0, 0.5, 0.0)
    with pytest.raises(UserError, match="--style-layer-weights: .*not comma-separated numbers"):
        build_parser().parse_args([*base, "--style-layer-weights", "1,x,1,1"])


# ----------------------------------------------------------------------------- bad input


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], expected: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    # The test dataset holds one broken image, which the run may warn about before it fails.
    lines = [line for line in err.strip().splitlines() if "skipped 1 unreadable" not in line]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("realtime: error: "), err
    assert expected in lines[0]
    return lines[0]


def _argv(files: Files, out: Path, **overrides: str) -> list[str]:
    options = {
        "--style-image": str(files.style),
        "--dataset": str(files.dataset),
        "--out": str(out),
        "--vgg-weights": str(files.vgg),
        "--steps": "2",
        "--image-size": "32",
        "--num-workers": "0",
        "--no-progress": "",  # "" marks a flag without a value
    }
    options.update(overrides)
    argv = ["train"]
    for key, value in options.items():
        argv += [key] if value == "" else [key, value]
    return argv


def test_bad_style_images(files: Files, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "m.pth"
    missing = str(tmp_path / "nope.jpg")
    _fails(_argv(files, out, **{"--style-image": missing}), capsys, "style image not found")
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\x00" * 100)
    _fails(_argv(files, out, **{"--style-image": str(garbage)}), capsys, "cannot read style image")
    assert not out.exists()


def test_bad_datasets(files: Files, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "m.pth"
    _fails(_argv(files, out, **{"--dataset": str(tmp_path / "nope")}), capsys, "not found")
    (tmp_path / "empty").mkdir()
    _fails(_argv(files, out, **{"--dataset": str(tmp_path / "empty")}), capsys, "no images")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("a")
    _fails(_argv(files, out, **{"--dataset": str(tmp_path / "texts")}), capsys, "no images")


def test_unwritable_output(files: Files, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _fails(_argv(files, blocker / "m.pth"), capsys, "cannot write to output folder")
    _fails(_argv(files, tmp_path / "model.onnx"), capsys, "--out must end in .pth")


def test_bad_numbers(files: Files, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "m.pth"
    _fails(_argv(files, out, **{"--steps": "0"}), capsys, "--steps must be at least 1")
    _fails(_argv(files, out, **{"--image-size": "8"}), capsys, "--image-size must be at least 16")
    _fails(_argv(files, out, **{"--lr": "0"}), capsys, "--lr must be positive")
    for weights in ("1,1,1,-1", "1,1,1"):
        argv = _argv(files, out, **{"--style-layer-weights": weights})
        _fails(argv, capsys, "--style-layer-weights needs 4 weights of 0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(files: Files, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = _argv(files, tmp_path / "m.pth", **{"--device": "cuda"})
    _fails(argv, capsys, "--device cuda but torch sees no CUDA device")


def test_offline_without_vgg_weights(
    files: Files, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))

    def no_network(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    argv = _argv(files, tmp_path / "m.pth")
    argv.remove("--vgg-weights")
    argv.remove(str(files.vgg))
    line = _fails(argv, capsys, "cannot download torchvision's VGG-16")
    assert "--vgg-weights PATH" in line and "REALTIME_VGG_WEIGHTS" in line


@pytest.mark.slow
def test_resume_errors(
    straight: TrainResult, files: Files, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "m.pth"
    _fails(_argv(files, out, **{"--resume": ""}), capsys, "no checkpoint in")
    other = tmp_path / "other.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "step": 1, "model": {"w": torch.zeros(2)}}, other)
    _fails(_argv(files, out, **{"--resume": str(other)}), capsys, "another architecture")
    _fails(
        _argv(files, out, **{"--resume": str(straight.model_path)}),
        capsys,
        "is not a 'realtime train' checkpoint",
    )
    _fails(
        _argv(files, out, **{"--resume": str(straight.checkpoint_dir / "step_000012.pt")}),
        capsys,
        "beyond --steps 2",
    )
    # A fresh run must not mix with an earlier run's checkpoints.
    _fails(_argv(files, straight.model_path), capsys, "holds checkpoints of an earlier run")


def test_command_module_does_not_import_torch() -> None:
    # `realtime --help` and the runtime commands must not pay for (or need) torch.
    code = "import sys, realtime.cli.commands.train; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_nonfinite_loss_policy() -> None:
    from models.train import AMP_NONFINITE_LIMIT, _check_nonfinite

    # float32: the first non-finite loss stops training with a fix to try.
    with pytest.raises(UserError, match="diverged at step 7.*lower --lr"):
        _check_nonfinite(1, 7, float("nan"), use_amp=False)
    # float16: GradScaler's occasional skipped step is fine, a long run of them is not.
    _check_nonfinite(AMP_NONFINITE_LIMIT - 1, 30, float("inf"), use_amp=True)
    with pytest.raises(UserError, match="--no-amp"):
        _check_nonfinite(AMP_NONFINITE_LIMIT, 31, float("inf"), use_amp=True)


def test_resume_moves_a_one_group_optimiser_state_into_todays_groups() -> None:
    from models.train import _parameter_groups, _regrouped

    # Checkpoints written before the shared / per-style split hold one Adam group.
    model = build_network(num_styles=2)
    old = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(1, 3, 32, 32), torch.tensor([[1.0, 0.0]])).mean().backward()
    old.step()
    config = TrainConfig(
        style_images=(Path("a.jpg"), Path("b.jpg")), dataset=Path(), out=Path(), style_lr_scale=10.0
    )
    new = torch.optim.Adam(_parameter_groups(model, config), lr=1e-3)
    new.load_state_dict(_regrouped(old.state_dict(), model, new))
    assert [g["scale"] for g in new.param_groups] == [1.0, 10.0]
    for param in model.parameters():  # every parameter keeps its own moments
        assert torch.equal(new.state[param]["exp_avg"], old.state[param]["exp_avg"])
    # Resumed with another --style-lr-scale, the run's own scale wins over the saved one.
    faster = torch.optim.Adam(
        _parameter_groups(model, dataclasses.replace(config, style_lr_scale=3.0)), lr=1e-3
    )
    faster.load_state_dict(_regrouped(new.state_dict(), model, faster))
    assert [g["scale"] for g in faster.param_groups] == [1.0, 3.0]
    # A state from another network is refused with a way forward, not a traceback.
    other = torch.optim.Adam(build_network(num_styles=3).parameters()).state_dict()
    other["param_groups"][0]["params"] = other["param_groups"][0]["params"][:-1]
    with pytest.raises(UserError, match="--init CHECKPOINT"):
        _regrouped(other, model, new)


@pytest.mark.slow
def test_a_lite_student_learns_its_teachers_painting(
    straight: TrainResult, files: Files, tmp_path: Path
) -> None:
    from models.distill import load_teacher

    teacher = load_teacher(straight.model_path, None, torch.device("cpu"))
    photo = torch.rand(1, 3, 48, 40) * 255
    with torch.no_grad():
        painted = teacher(photo).clamp(0, 255)

    def distance(student: Path | None) -> float:
        net = load_transformer_net(student) if student else build_network("lite").eval()
        with torch.no_grad():
            return float((net(photo).clamp(0, 255) - painted).abs().mean())

    out = tmp_path / "student.pth"
    config = _config(
        files, out, style_images=(), style_weight=(0.0,), arch="lite", teacher=straight.model_path,
        content_loss="pixel", content_weight=1.0, steps=30, lr=1e-2, preview_every=0,
        checkpoint_every=0,
    )  # fmt: skip
    result = train(config)
    card = json.loads(result.card_path.read_text())
    assert card["recipe"]["teacher"] == str(straight.model_path)
    assert card["distilled_from"]["path"] == str(straight.model_path)
    teacher_card = json.loads(straight.card_path.read_text())
    assert card["style_image"] == teacher_card["style_image"]  # the painting it learned
    assert distance(out) < 0.8 * distance(None)


@pytest.mark.slow
def test_teacher_errors(
    straight: TrainResult, multi_teacher: Path, files: Files, tmp_path: Path
) -> None:
    out = tmp_path / "student.pth"
    # Paintings for a style term must be the teacher's styles, in its order.
    with pytest.raises(UserError, match=r"in the teacher's order \(dots, waves\); got style$"):
        train(_config(files, out, teacher=multi_teacher, arch="lite"))
    no_style = {"style_images": (), "style_weight": (0.0,), "arch": "lite"}
    with pytest.raises(UserError, match="single-style network; drop the option"):
        train(_config(files, out, teacher=straight.model_path, teacher_style="candy", **no_style))
    with pytest.raises(UserError, match="teacher network not found"):
        train(_config(files, out, teacher=tmp_path / "none.pth", **no_style))
    with pytest.raises(UserError, match="--teacher-style goes with --teacher"):
        train(_config(files, out, teacher_style="candy", **no_style))


# ----------------------------------------------------------------------------- multi-style lite


def test_lite_arch_trains_several_styles(files: Files, tmp_path: Path) -> None:
    styles = (files.style, _second_style(files))
    config = _config(
        files, tmp_path / "lite-multi.pth", arch="lite", style_images=styles, steps=2,
        checkpoint_every=0, preview_every=0,
    )  # fmt: skip
    result = train(config)
    model = load_transformer_net(result.model_path)
    assert type(model) is type(build_network("lite")) and model.num_styles == 2
    card = json.loads(result.card_path.read_text())
    assert card["arch"] == "TransformerNet-lite"
    assert [s["name"] for s in card["styles"]] == ["style", "other"]


@pytest.fixture(scope="module")
def multi_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-style full network (dots, waves) with visible, clearly different styles, and the
    card naming them, as 'realtime train' writes it."""
    from fixtures_models import make_two_style_net

    net = make_two_style_net()
    path = tmp_path_factory.mktemp("teacher") / "pair.pth"
    torch.save(net.state_dict(), path)
    card = {"name": "pair", "styles": [{"name": "dots", "sha256": "d0"}, {"name": "waves"}]}
    path.with_suffix(".json").write_text(json.dumps(card))
    return path


def _distil_argv(files: Files, teacher: Path, out: Path, **overrides: str) -> list[str]:
    options = {
        "--arch": "lite", "--teacher": str(teacher), "--style-weight": "0",
        "--content-loss": "pixel", "--steps": "4", "--batch-size": "2", "--lr": "0.01",
        "--preview-size": "40", **overrides,
    }  # fmt: skip
    argv = _argv(files, out, **options)
    return [a for a in argv if a not in ("--style-image", str(files.style))]


@pytest.mark.slow
def test_a_multi_style_teacher_is_distilled_whole_into_a_lite_student(
    files: Files, multi_teacher: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.distill import Teacher
    from realtime.core.config import EngineConfig
    from realtime.runtime.engine import OnnxStylizer

    # The teacher paints each crop in the crop's own style: the student's one-hot input.
    seen: list[torch.Tensor | None] = []
    paint = Teacher.__call__

    def spy(self: Teacher, crops: torch.Tensor, style: torch.Tensor | None = None):
        seen.append(None if style is None else style.argmax(dim=1))
        return paint(self, crops, style)

    monkeypatch.setattr(Teacher, "__call__", spy)
    out = tmp_path / "pair-lite.pth"
    assert main(_distil_argv(files, multi_teacher, out)) == 0
    assert len(seen) == 4 and all(s is not None and s.tolist() == [0, 1] for s in seen)

    student = load_transformer_net(out)
    assert type(student) is type(build_network("lite")) and student.num_styles == 2
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["arch"] == "TransformerNet-lite"
    assert card["styles"] == [{"name": "dots", "sha256": "d0"}, {"name": "waves"}]
    assert card["distilled_from"]["path"] == str(multi_teacher)
    assert card["distilled_from"]["name"] == "pair"
    assert card["distilled_from"]["styles"] == ["dots", "waves"]
    with Image.open(sorted((tmp_path / "pair-lite.previews").iterdir())[-1]) as preview:
        assert preview.size == (80, 40)  # a 40 px panel per style

    onnx_path = tmp_path / "styles" / "pair-lite.onnx"
    onnx_path.parent.mkdir()
    assert main(["-q", "export", str(out), str(onnx_path)]) == 0
    stylizer = OnnxStylizer(onnx_path, EngineConfig(device="cpu"), announce=False)
    assert stylizer.styles == ["dots", "waves"] and stylizer.info.arch == "transformer-net-lite"
    frame = np.random.default_rng(3).integers(0, 256, (36, 44, 3), dtype=np.uint8)
    painted = {}
    for name, mix in (("dots", {"dots": 1.0}), ("waves", {"waves": 1.0}),
                      ("half", {"dots": 0.5, "waves": 0.5})):  # fmt: skip
        stylizer.set_mix(mix)
        painted[name] = stylizer(frame).astype(int)
        assert painted[name].shape == frame.shape
    assert np.abs(painted["dots"] - painted["waves"]).mean() > 0.5


@pytest.mark.slow
def test_a_teacher_row_paints_its_style_with_another_network(
    files: Files, multi_teacher: Path, straight: TrainResult, tmp_path: Path
) -> None:
    from models.distill import load_teacher

    cpu = torch.device("cpu")
    crops = torch.rand(2, 3, 32, 32) * 255
    onehot = torch.eye(2)  # crop 0 learns dots, crop 1 waves
    whole = load_teacher(multi_teacher, None, cpu)
    waves_from_straight = load_teacher(multi_teacher, None, cpu, (("waves", straight.model_path),))
    painted = waves_from_straight(crops, onehot)
    # dots stays the teacher's own; waves' crops are the other network's painting.
    # One crop at a time against a batch: the float order differs by kernel and CPU (seen:
    # 1.7e-3 on outputs up to 620 on an AVX-512 CPU), so the bound is 1e-2, about 2e-5 of the
    # range; a wrong row differs by tens.
    near = {"atol": 1e-2, "rtol": 0}
    assert torch.equal(painted[:1], whole(crops[:1], onehot[:1]))
    assert torch.allclose(
        painted[1:], load_teacher(straight.model_path, None, cpu)(crops[1:]), **near
    )
    assert not torch.allclose(painted[1], whole(crops, onehot)[1])
    # A multi-style row network gives its style of that name.
    same = load_teacher(multi_teacher, None, cpu, (("waves", multi_teacher),))
    assert torch.allclose(same(crops, onehot), whole(crops, onehot), **near)
    assert waves_from_straight.provenance()["rows"]["waves"]["path"] == str(straight.model_path)

    # One line naming the problem, each.
    with pytest.raises(UserError, match="pair.pth has no style candy; it paints dots, waves"):
        load_teacher(multi_teacher, None, cpu, (("candy", straight.model_path),))
    with pytest.raises(UserError, match="without --teacher-style"):
        load_teacher(multi_teacher, "dots", cpu, (("dots", straight.model_path),))
    with pytest.raises(UserError, match="network not found"):
        load_teacher(multi_teacher, None, cpu, (("waves", tmp_path / "none.pth"),))
    with pytest.raises(UserError, match="each style at most once"):
        rows = (("waves", straight.model_path), ("waves", multi_teacher))
        load_teacher(multi_teacher, None, cpu, rows)
    no_style = {"style_images": (), "style_weight": (0.0,)}
    with pytest.raises(UserError, match="--teacher-row goes with --teacher"):
        train(_config(files, tmp_path / "x.pth", teacher_rows=rows[:1], **no_style))
    with pytest.raises(UserError, match="'waves' is not NAME=NET.pth"):
        build_parser().parse_args(["train", "--teacher-row", "waves"])


@pytest.mark.slow
def test_a_whole_distillation_with_a_teacher_row_records_it(
    files: Files, multi_teacher: Path, straight: TrainResult, tmp_path: Path
) -> None:
    out = tmp_path / "pair-lite.pth"
    argv = _distil_argv(files, multi_teacher, out, **{"--steps": "2"})
    assert main([*argv, "--teacher-row", f"waves={straight.model_path}"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["distilled_from"]["rows"]["waves"]["path"] == str(straight.model_path)
    assert card["recipe"]["teacher_rows"] == [["waves", str(straight.model_path)]]


@pytest.mark.slow
def test_a_whole_distillation_resumes_exactly(
    files: Files, multi_teacher: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The student's styles come from the teacher, not from the options: a resumed run must
    # find them again before it checks the checkpoint against them.
    config = _config(
        files, tmp_path / "a.pth", style_images=(), style_weight=(0.0,), arch="lite",
        teacher=multi_teacher, content_loss="pixel", steps=4, checkpoint_every=2,
        preview_every=0, lr=1e-2,
    )  # fmt: skip
    train(dataclasses.replace(config, steps=2))
    resumed = train(dataclasses.replace(config, resume="latest"))
    straight = train(dataclasses.replace(config, out=tmp_path / "b.pth"))
    assert resumed.start_step == 2 and resumed.steps == straight.steps == 4
    _assert_same_weights(resumed.model_path, straight.model_path)
    saved = torch.load(resumed.checkpoint_dir / "step_000004.pt", weights_only=True)
    assert saved["config"]["teacher_styles"] == ["dots", "waves"]
    # A distillation resumed with another pixel weight says that the result mixes both.
    changed = dataclasses.replace(config, out=tmp_path / "c.pth", steps=2)
    train(changed)
    caplog.clear()
    train(dataclasses.replace(changed, steps=4, pixel_weight=1.0, resume="latest"))
    assert "different recipe (pixel_weight); the result mixes both" in caplog.text


def test_a_distillation_can_also_learn_its_paintings_gram_statistics(
    files: Files, multi_teacher: Path, tmp_path: Path
) -> None:
    # One painting per teacher style, named and ordered as the teacher's card names them.
    paintings = []
    for name, seed in (("dots", 5), ("waves", 6)):
        path = tmp_path / f"{name}.png"
        rng = np.random.default_rng(seed)
        Image.fromarray(rng.uniform(0, 255, (40, 52, 3)).astype(np.uint8)).save(path)
        paintings.append(path)
    config = _config(
        files, tmp_path / "student.pth", arch="lite", teacher=multi_teacher,
        style_images=tuple(paintings), style_weight=(1.0,), content_loss="pixel",
        steps=2, checkpoint_every=0, preview_every=0, log_every=1,
    )  # fmt: skip
    result = train(config)
    assert all(entry["style"] > 0 for entry in result.loss_log)  # the Gram term is on
    card = json.loads(result.card_path.read_text())
    assert [s["name"] for s in card["styles"]] == ["dots", "waves"]  # the teacher's names
    assert card["recipe"]["style_images"] == [str(p) for p in paintings]
    assert card["distilled_from"]["styles"] == ["dots", "waves"]
    # Without paintings the same distillation has no style term.
    bare = train(
        dataclasses.replace(config, out=tmp_path / "bare.pth", style_images=(), style_weight=(0.0,))
    )
    assert all(entry["style"] == 0 for entry in bare.loss_log)


def test_multi_style_teacher_errors_are_one_line(
    files: Files, multi_teacher: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "student.pth"
    argv = _distil_argv(files, multi_teacher, out, **{"--teacher-style": "mosaic"})
    line = _fails(argv, capsys, "--teacher-style mosaic: pair.pth has no such style")
    assert "it paints dots, waves" in line
    # Distilled whole, the student's styles are named after the teacher's card: it must exist.
    uncarded = tmp_path / "uncarded.pth"
    uncarded.write_bytes(multi_teacher.read_bytes())
    _fails(_distil_argv(files, uncarded, out), capsys, "paints 2 styles but its card names 0")
    assert not out.exists()
