"""Training a TransformerNet for one style image (Johnson et al. 2016), with normalised losses.

Outputs, for ``--out DIR/NAME.pth``:

- ``NAME.pth``: a plain TransformerNet state_dict (loads in the PyTorch examples too);
- ``NAME.json``: the model card (style, dataset, full recipe, losses, VGG weights, timing);
- ``NAME.checkpoints/step_NNNNNN.pt``: periodic checkpoints (newest few kept) for ``--resume``;
- ``NAME.previews/step_NNNNNN.jpg``: a fixed content image stylized every N steps.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import random
import re
import sys
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from models.data import AugmentedImageStream, ImageFolder, find_images, load_image_tensor
from models.lite_net import LITE_SPEC
from models.losses import PerceptualLoss
from models.transformer_net import (
    ARCH_CARD_NAMES,
    ARCHS,
    MIN_SIDE,
    build_network,
    clean_state_dict,
)
from models.vgg import STYLE_LAYERS, load_vgg16
from realtime.errors import UserError
from realtime.files import sha256_file
from realtime.progress import Progress

CHECKPOINT_FORMAT = "realtime-train-checkpoint/1"
CARD_FORMAT = "realtime-model-card/1"
RESUME_LATEST = "latest"
_CHECKPOINT_NAME = re.compile(r"^step_(\d+)\.pt$")
# Final losses are averaged over this many last steps: single steps are noisy
# (each batch is different crops).
SMOOTHING_STEPS = 50
# Consecutive non-finite float16 steps tolerated while GradScaler settles its scale.
AMP_NONFINITE_LIMIT = 25
LR_SCHEDULES = ("constant", "cosine")


def learning_rate(config: TrainConfig, step: int) -> float:
    """The rate for the step after ``step`` steps: a pure function of the step, so a resumed
    run continues the schedule exactly without any scheduler state in the checkpoint."""
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, config.steps) / config.steps))
    return config.lr


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs. Paths are as given; defaults are the recipe we ship.

    Loss weights apply to the normalised terms of ``models.losses`` (content about 1 and
    style about 1 per layer for an untrained network), so they are backbone-independent.
    Why content 1, style 10, tv 0.1: Johnson et al.'s own recipe (fast-neural-style: content
    1, style 5 per layer, both raw MSEs of Caffe VGG-16 features; TV 1e-6), rewritten in these
    normalised units with the Caffe-derived weights at 256 px, is a style weight of about
    11/67/16/0 on relu1_2/relu2_2/relu3_3/relu4_3 for mosaic, candy and rain-princess (sum
    ~95; ~19 for the low-contrast udnie) and a TV weight of about 0.14. Equal weights of 10
    (sum 40) sit inside that range, include relu4_3 (larger brush strokes) and make style
    dominate early (10 x ~4 against ~1 for content). The PyTorch examples list relu4_3 too,
    but their raw Gram losses weigh it about 1e-4 of relu2_2 (13/73/14/0 % for mosaic), so in
    effect they leave it out; ``style_layer_weights`` can do the same (docs/STYLES.md).
    """

    style_image: Path
    dataset: Path
    out: Path
    steps: int = 20_000
    batch_size: int = 4
    image_size: int = 256
    style_size: int | None = 256  # long side of the style image; None keeps its size
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 0.1
    # Relative weights of relu1_2, relu2_2, relu3_3 and relu4_3 inside the style loss. The
    # reference recipes' raw Gram losses weigh the layers very unequally (docs/STYLES.md).
    style_layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    lr: float = 1e-3
    # "cosine" decays the rate to 0 at --steps. A short run ends far better converged than at a
    # constant rate, whose last steps still jump between crops (see docs/STYLES.md).
    lr_schedule: str = "constant"
    arch: str = "full"  # one of models.transformer_net.ARCHS
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # float16 autocast + GradScaler on CUDA; CPU always runs float32
    vgg_weights: Path | None = None
    jitter_max: float = 1.5  # scale jitter: short side = image_size * U(1, jitter_max)
    checkpoint_every: int = 1000  # 0 disables
    keep_checkpoints: int = 3
    preview_every: int = 1000  # 0 disables (a final preview is always written)
    preview_image: Path | None = None  # None: the first image of the dataset
    preview_size: int = 512  # long side of the preview
    resume: str | None = None  # None, "latest" (newest in NAME.checkpoints) or a .pt path
    log_every: int = 100  # steps between log lines (and loss-log entries in the card)
    num_workers: int = 2
    progress: bool = True

    def to_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            return list(value) if isinstance(value, tuple) else value

        return {k: plain(v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    card_path: Path
    checkpoint_dir: Path
    preview_dir: Path
    steps: int  # final step count reached
    start_step: int  # where this run began (non-zero after --resume)
    final_losses: dict[str, float]
    seconds_per_step: float | None  # None when resumed at the final step
    loss_log: list[dict[str, float]] = field(default_factory=list)


def checkpoint_dir_for(out: Path) -> Path:
    return out.with_name(out.stem + ".checkpoints")


def preview_dir_for(out: Path) -> Path:
    return out.with_name(out.stem + ".previews")


def card_path_for(out: Path) -> Path:
    return out.with_suffix(".json")


def _validate(config: TrainConfig) -> None:
    positive = {
        "--steps": config.steps,
        "--batch-size": config.batch_size,
        "--keep-checkpoints": config.keep_checkpoints,
        "--preview-size": config.preview_size,
    }
    for flag, value in positive.items():
        if value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")
    # Four 2x2 pools before relu4_3: 16 px leaves a 2x2 map, anything less is degenerate.
    if config.image_size < 16:
        raise UserError(f"--image-size must be at least 16, got {config.image_size}")
    if config.style_size is not None and config.style_size < 16:
        raise UserError(f"--style-size must be at least 16, got {config.style_size}")
    for flag, value in (
        ("--checkpoint-every", config.checkpoint_every),
        ("--preview-every", config.preview_every),
        ("--log-every", config.log_every),
        ("--num-workers", config.num_workers),
    ):
        if value < 0:
            raise UserError(f"{flag} must be 0 or more, got {value}")
    for flag, value in (
        ("--content-weight", config.content_weight),
        ("--style-weight", config.style_weight),
        ("--tv-weight", config.tv_weight),
    ):
        if not value >= 0:
            raise UserError(f"{flag} must be 0 or more, got {value}")
    layer_weights = config.style_layer_weights
    if len(layer_weights) != len(STYLE_LAYERS) or not all(w >= 0 for w in layer_weights):
        raise UserError(
            f"--style-layer-weights needs {len(STYLE_LAYERS)} weights of 0 or more "
            f"({', '.join(STYLE_LAYERS)}), got {','.join(map(str, layer_weights))}"
        )
    if not config.lr > 0:
        raise UserError(f"--lr must be positive, got {config.lr}")
    if config.lr_schedule not in LR_SCHEDULES:
        raise UserError(
            f"unknown --lr-schedule {config.lr_schedule!r}; use one of {', '.join(LR_SCHEDULES)}"
        )
    if config.arch not in ARCHS:
        raise UserError(f"unknown --arch {config.arch!r}; use one of {', '.join(ARCHS)}")
    if config.jitter_max < 1:
        raise UserError(f"--scale-jitter must be at least 1, got {config.jitter_max}")
    if config.out.suffix != ".pth":
        raise UserError(f"--out must end in .pth, got {config.out}; e.g. --out mosaic.pth")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UserError(
                "--device cuda but torch sees no CUDA device; use --device cpu "
                "or install a CUDA build of torch with a working driver"
            )
        return torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    raise UserError(f"unknown --device {name!r}; use auto, cpu or cuda")


def _prepare_output(out: Path) -> None:
    """Create the output folders now, so an unwritable place fails before any training."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        preview_dir_for(out).mkdir(exist_ok=True)
        probe = out.parent / f".{out.stem}.write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(
            f"cannot write to output folder {out.parent} ({exc.strerror or exc}); "
            "choose an --out path in a writable folder"
        ) from exc


def _atomic_save(obj: Any, path: Path) -> None:
    # Write then rename: an interrupted save never leaves a truncated file behind.
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the checkpoints in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _CHECKPOINT_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def _find_resume(config: TrainConfig) -> Path | None:
    directory = checkpoint_dir_for(config.out)
    if config.resume is None:
        if list_checkpoints(directory):
            raise UserError(
                f"{directory} holds checkpoints of an earlier run; pass --resume to continue "
                "it, or delete that folder to start afresh"
            )
        return None
    if config.resume == RESUME_LATEST:
        found = list_checkpoints(directory)
        if not found:
            raise UserError(
                f"--resume: no checkpoint in {directory}; drop --resume to start afresh "
                "or give --resume PATH"
            )
        return found[-1][1]
    path = Path(config.resume)
    if not path.is_file():
        raise UserError(f"--resume: checkpoint not found: {path} (give a step_NNNNNN.pt path)")
    return path


def _read_checkpoint(path: Path, arch: str) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for non-checkpoint files
        raise UserError(
            f"cannot read {path} as a training checkpoint ({type(exc).__name__}); "
            "give a step_NNNNNN.pt written by 'realtime train'"
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise UserError(
            f"{path} is not a 'realtime train' checkpoint; give a step_NNNNNN.pt "
            "from a NAME.checkpoints folder"
        )
    model = build_network(arch)
    state = clean_state_dict(ckpt["model"])
    expected = model.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise UserError(
            f"{path} holds a model of another architecture than --arch {arch}; resume with "
            "the --arch it was trained with"
        )
    ckpt["model"] = state
    return ckpt


# Recipe fields that change what is learned: a resumed run differing in these is warned about.
_RECIPE_FIELDS = (
    "style_image",
    "dataset",
    "batch_size",
    "image_size",
    "style_size",
    "content_weight",
    "style_weight",
    "tv_weight",
    "style_layer_weights",
    "lr",
    "lr_schedule",
    "arch",
    "seed",
    "jitter_max",
    "vgg_weights",
    "amp",
)


def _warn_recipe_changes(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    now = config.to_json()
    changed = [k for k in _RECIPE_FIELDS if k in saved and saved[k] != now[k]]
    if changed:
        warnings.warn(
            f"resuming {path} with a different recipe ({', '.join(changed)}); "
            "the result mixes both",
            stacklevel=3,
        )


def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        # As plain tensors/tuples: checkpoints must load with torch.load(weights_only=True).
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@torch.no_grad()
def _save_preview(
    model: torch.nn.Module, image: torch.Tensor, path: Path, autocast: torch.autocast
) -> None:
    with autocast:
        out = model(image)
    array = out[0].float().clamp(0, 255).round().byte().permute(1, 2, 0).cpu().numpy()
    tmp = path.with_name(path.name + ".tmp.jpg")
    Image.fromarray(array).save(tmp, quality=92)
    os.replace(tmp, path)


def _mean_losses(window: deque[dict[str, float]]) -> dict[str, float]:
    if not window:
        return {}
    return {k: float(np.mean([w[k] for w in window])) for k in window[0]}


def train(config: TrainConfig) -> TrainResult:
    """Train (or resume training) a TransformerNet; see the module docstring for outputs."""
    _validate(config)
    device = resolve_device(config.device)
    use_amp = config.amp and device.type == "cuda"
    precision = "amp-float16" if use_amp else "float32"

    # Cheap checks first: bad input must fail in seconds, not after loading VGG.
    style = load_image_tensor(config.style_image, config.style_size, what="style image")
    folder = find_images(config.dataset)
    preview_path = config.preview_image or folder.files[0]
    preview = load_image_tensor(preview_path, config.preview_size, what="preview image")
    if min(preview.shape[-2:]) < MIN_SIDE:
        raise UserError(f"preview image {preview_path} is too small; give a larger one")
    resume_path = _find_resume(config)
    _prepare_output(config.out)
    ckpt = _read_checkpoint(resume_path, config.arch) if resume_path is not None else None
    start_step = int(ckpt["step"]) if ckpt is not None else 0
    if start_step > config.steps:
        raise UserError(
            f"checkpoint {resume_path} is at step {start_step}, beyond --steps "
            f"{config.steps}; raise --steps to at least {start_step}"
        )

    _seed_everything(config.seed)
    vgg, vgg_identity = load_vgg16(config.vgg_weights, device)
    model = build_network(config.arch).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    loss_log: list[dict[str, float]] = []
    window: deque[dict[str, float]] = deque(maxlen=SMOOTHING_STEPS)
    if ckpt is not None:
        _warn_recipe_changes(ckpt.get("config", {}), config, resume_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt["scaler"] and use_amp:  # a disabled scaler's state is empty
            scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        loss_log = list(ckpt.get("loss_log", []))
        window.extend(ckpt.get("recent_losses", []))
    model.train()

    loss_fn = PerceptualLoss(
        vgg,
        style.to(device),
        content_weight=config.content_weight,
        style_weight=config.style_weight,
        tv_weight=config.tv_weight,
        style_layer_weights=dict(zip(STYLE_LAYERS, config.style_layer_weights, strict=True)),
    )
    stream = AugmentedImageStream(
        folder.files,
        config.image_size,
        length=(config.steps - start_step) * config.batch_size,
        seed=config.seed,
        start=start_step * config.batch_size,
        jitter_max=config.jitter_max,
    )
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=config.batch_size,
        shuffle=False,  # the stream is already shuffled, deterministically
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
    )
    preview = preview.to(device)
    checkpoint_dir = checkpoint_dir_for(config.out)
    preview_dir = preview_dir_for(config.out)

    def autocast() -> torch.autocast:
        return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp)

    def save_checkpoint(step: int) -> None:
        checkpoint_dir.mkdir(exist_ok=True)
        _atomic_save(
            {
                "format": CHECKPOINT_FORMAT,
                "step": step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": _rng_state(),
                "config": config.to_json(),
                "loss_log": loss_log,
                "recent_losses": list(window),
            },
            checkpoint_dir / f"step_{step:06d}.pt",
        )
        for _, old in list_checkpoints(checkpoint_dir)[: -config.keep_checkpoints]:
            old.unlink()

    stream_out = sys.stderr
    if config.progress:
        resumed = f", resuming at step {start_step} from {resume_path}" if ckpt else ""
        print(
            f"train: {len(folder.files)} images, {device.type} ({precision}), "
            f"VGG {vgg_identity}{resumed}",
            file=stream_out,
        )
    label = "train" if not start_step else f"train (from step {start_step})"
    # On a terminal the line redraws in place and each log step freezes one copy of it. In
    # logs (no terminal) only the log steps and the last step print, so nothing repeats.
    tty = bool(getattr(stream_out, "isatty", lambda: False)())
    progress = Progress(
        config.steps - start_step,
        label,
        unit="steps",
        stream=stream_out,
        enabled=config.progress,
        log_interval=float("inf"),
    )
    step = start_step
    logged_last = False
    nonfinite_run = 0
    loop_start = time.perf_counter()
    try:
        for batch in loader:
            x = batch.to(device, non_blocking=True)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step)
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                terms = loss_fn(model(x), x)
            scaler.scale(terms.total).backward()
            scaler.step(optimizer)  # skipped by the scaler when gradients are not finite
            scaler.update()
            step += 1
            losses = terms.as_floats()
            if np.isfinite(losses["total"]):
                nonfinite_run = 0
                window.append(losses)
            else:
                nonfinite_run += 1
                _check_nonfinite(nonfinite_run, step, losses["total"], use_amp)
            smooth = _mean_losses(window)
            progress.update(1, step=step, **smooth)
            logged_last = bool(config.log_every) and (
                step % config.log_every == 0 or step == start_step + 1
            )
            if logged_last:
                loss_log.append({"step": step, **losses})
                if tty or step != config.steps:  # in logs, update() printed the last step
                    progress.close()
            if config.checkpoint_every and step % config.checkpoint_every == 0:
                save_checkpoint(step)
            if config.preview_every and step % config.preview_every == 0:
                _save_preview(model, preview, preview_dir / f"step_{step:06d}.jpg", autocast())
    except KeyboardInterrupt:
        # Keep the work done so far: --resume continues from here.
        if step > start_step:
            save_checkpoint(step)
        raise
    elapsed = time.perf_counter() - loop_start
    if tty and not logged_last:
        progress.close()

    if not (config.preview_every and step % config.preview_every == 0):
        _save_preview(model, preview, preview_dir / f"step_{step:06d}.jpg", autocast())
    _atomic_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, config.out)
    trained = step - start_step
    result = TrainResult(
        model_path=config.out,
        card_path=card_path_for(config.out),
        checkpoint_dir=checkpoint_dir,
        preview_dir=preview_dir,
        steps=step,
        start_step=start_step,
        final_losses=_mean_losses(window),
        seconds_per_step=elapsed / trained if trained else None,
        loss_log=loss_log,
    )
    card = _model_card(config, result, style, folder, device.type, precision, vgg_identity)
    tmp = result.card_path.with_name(result.card_path.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, result.card_path)
    return result


def _check_nonfinite(run: int, step: int, loss: float, use_amp: bool) -> None:
    """Stop on divergence instead of training on (or silently skipping) garbage."""
    if not use_amp:
        raise UserError(
            f"training diverged at step {step} (loss {loss}); lower --lr or the loss weights"
        )
    # Under AMP the scaler skips a few overflowing steps by design while it finds its
    # scale; a long run of them means float16 cannot represent this backbone's activations.
    if run >= AMP_NONFINITE_LIMIT:
        raise UserError(
            f"loss not finite for {run} steps in a row under float16 (step {step}); "
            "rerun with --no-amp"
        )


def _model_card(
    config: TrainConfig,
    result: TrainResult,
    style: torch.Tensor,
    folder: ImageFolder,
    device: str,
    precision: str,
    vgg_identity: str,
) -> dict[str, Any]:
    return {
        "format": CARD_FORMAT,
        "name": config.out.stem,
        "arch": ARCH_CARD_NAMES[config.arch],
        **({"arch_spec": LITE_SPEC.to_json()} if config.arch == "lite" else {}),
        "style_image": {
            "path": str(config.style_image),
            "sha256": sha256_file(Path(config.style_image)),
            "size": [int(style.shape[-1]), int(style.shape[-2])],  # width, height as matched
        },
        "dataset": {
            "path": str(config.dataset),
            "images": len(folder.files),
            "skipped": len(folder.skipped),
        },
        "recipe": config.to_json(),
        "seed": config.seed,
        "device": device,
        "precision": precision,
        "steps": result.steps,
        "final_losses": result.final_losses,
        "final_losses_window": min(SMOOTHING_STEPS, result.steps),
        "loss_log": result.loss_log,
        "vgg_weights": vgg_identity,
        "seconds_per_step": result.seconds_per_step,
        "steps_this_run": result.steps - result.start_step,
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
