"""Training a TransformerNet for one style image or several (Johnson et al. 2016), with
normalised losses, or distilling a trained one (``models.distill``).

Outputs, for ``--out DIR/NAME.pth``:

- ``NAME.pth``: a plain TransformerNet state_dict (a single-style one loads in the PyTorch
  examples too; a multi-style one has (styles, channels) norm parameters);
- ``NAME.json``: the model card (styles, dataset, full recipe, losses, VGG weights, timing);
- ``NAME.config.toml``: the run's resolved config, a recipe file for ``--config``;
- ``NAME.checkpoints/step_NNNNNN.pt``: periodic checkpoints (newest few kept) for ``--resume``;
- ``NAME.previews/step_NNNNNN.jpg``: a fixed content image stylized every N steps (one
  panel per style).
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.contrib.logging import logging_redirect_tqdm

from models import add_style
from models.data import AugmentedImageStream, ImageFolder, find_images, load_image_tensor
from models.distill import Teacher, load_teacher
from models.losses import PerceptualLoss
from models.model_card import training_card
from models.style_norm import num_styles_of_state
from models.temporal_loss import temporal_loss
from models.train_config import (
    RECIPE_FIELDS,
    RESUME_LATEST,
    SMOOTHING_STEPS,
    STYLE_LAYER_NAMES,
    TrainConfig,
    TrainResult,
    config_path_for,
    style_names,
)
from models.transformer_net import MIN_SIDE, build_network, clean_state_dict
from models.vgg import LAYERS, VGG16Features, load_vgg16
from realtime.core.cards import card_path_for, write_card
from realtime.core.errors import UserError
from realtime.core.files import atomic_output
from realtime.core.progress import progress_bar

log = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_FORMAT",
    "RESUME_LATEST",
    "TrainConfig",
    "TrainResult",
    "card_path_for",
    "checkpoint_dir_for",
    "learning_rate",
    "list_checkpoints",
    "preview_dir_for",
    "resolve_device",
    "train",
]

CHECKPOINT_FORMAT = "realtime-train-checkpoint/1"
_CHECKPOINT_NAME = re.compile(r"^step_(\d+)\.pt$")
# Consecutive non-finite float16 steps tolerated while GradScaler settles its scale.
AMP_NONFINITE_LIMIT = 25


def learning_rate(config: TrainConfig, step: int) -> float:
    """The rate for the step after ``step`` steps: a pure function of the step, so a resumed
    run continues the schedule exactly without any scheduler state in the checkpoint."""
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, config.steps) / config.steps))
    return config.lr


def checkpoint_dir_for(out: Path) -> Path:
    return out.with_name(out.stem + ".checkpoints")


def preview_dir_for(out: Path) -> Path:
    return out.with_name(out.stem + ".previews")


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


def _write_config(config: TrainConfig) -> None:
    """What this run trains with, resolved, before any training: a recipe file that trains
    it again (or, with --resume, goes on), and says what the network was trained with."""
    header = (
        f"# The resolved config of the 'realtime train' run that wrote {config.out.name}.\n"
        "# realtime train --config THIS_FILE trains it again; add --resume to go on from its\n"
        "# checkpoints, and any option to change that one value.\n"
    )
    with atomic_output(config_path_for(config.out)) as temp:
        temp.write_text(header + config.to_toml(), encoding="utf-8")


def _atomic_save(obj: Any, path: Path) -> None:
    # Write then rename: an interrupted save never leaves a truncated file behind.
    with atomic_output(path) as temp:
        torch.save(obj, temp)


# ----------------------------------------------------------------------------- checkpoints


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


def _num_styles(config: TrainConfig) -> int | None:
    return config.num_styles if config.multi_style else None


def _read_checkpoint(path: Path, config: TrainConfig) -> dict[str, Any]:
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
    model = build_network(config.arch, _num_styles(config))
    state = clean_state_dict(ckpt["model"])
    expected = model.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise UserError(
            f"{path} holds a model of another architecture or number of styles than this run "
            f"(--arch {config.arch}, {config.num_styles} style(s)); resume with the "
            "options it was trained with"
        )
    ckpt["model"] = state
    return ckpt


def _initial_state(config: TrainConfig) -> dict[str, torch.Tensor]:
    """``--init``: the weights to start from, fitted to this run's number of styles (a
    single-style network's norms start every style of a multi-style one)."""
    from models.transformer_net import load_state, style_network

    assert config.init is not None
    if config.init_style is not None:
        option = f"--init {config.init} --init-style {config.init_style}"
        state = style_network(config.init, config.init_style, option).state_dict()
    else:
        state = load_state(config.init)
    expected = build_network(config.arch, _num_styles(config)).state_dict()
    if config.multi_style and num_styles_of_state(state) is None:
        state = {
            k: v.unsqueeze(0).repeat(config.num_styles, 1)
            if k in expected and expected[k].dim() == 2 and v.dim() == 1
            else v
            for k, v in state.items()
        }
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise UserError(
            f"--init {config.init} is not a {config.arch} network with "
            f"{config.num_styles or 1} style(s); give weights of the same architecture"
        )
    return state


def _warn_recipe_changes(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    now = config.to_json()
    # A field the checkpoint's config lacks did not exist when it was written: that run
    # trained as its default does.
    defaults = {
        f.name: f.default
        for f in fields(TrainConfig)
        if f.name in RECIPE_FIELDS and f.default is not MISSING
    }
    saved = {**replace(config, **defaults).to_json(), **saved}
    changed = [k for k in RECIPE_FIELDS if k in saved and saved[k] != now[k]]
    if changed:
        log.warning(
            f"resuming {path} with a different recipe ({', '.join(changed)}); the result mixes both"
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


def _mean_losses(window: deque[dict[str, float]]) -> dict[str, float]:
    if not window:
        return {}
    # The latest step's terms: a resumed run's window starts with the checkpoint's steps,
    # which may lack a term this recipe adds (or have one it dropped).
    return {k: float(np.mean([w[k] for w in window if k in w])) for k in window[-1]}


# ----------------------------------------------------------------------------- the run


@dataclass
class _Run:
    """A run's state between its steps: what the loop advances and checkpoints save."""

    config: TrainConfig
    device: torch.device
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    loss_fn: PerceptualLoss
    use_amp: bool
    step: int
    start_step: int
    vgg_identity: str = ""
    loss_log: list[dict[str, float]] = field(default_factory=list)
    # --add-style: the base network and its card's styles, to which the new style is added.
    base: dict[str, torch.Tensor] | None = None
    base_styles: list[dict[str, Any]] | None = None
    teacher: Teacher | None = None  # distillation: its output is the content target
    window: deque[dict[str, float]] = field(default_factory=lambda: deque(maxlen=SMOOTHING_STEPS))

    def autocast(self) -> torch.autocast:
        return torch.autocast(
            device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp
        )

    def style_onehot(self, indices: torch.Tensor) -> torch.Tensor | None:
        """The network's style input for these style indices (None: a single-style network)."""
        if not self.config.multi_style:
            return None
        return F.one_hot(indices, self.config.num_styles).float().to(self.device)

    def paint(self, images: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        """The network's output on ``images`` with style input ``style`` (``style_onehot``)."""
        return self.model(images) if style is None else self.model(images, style)

    def checkpoint(self) -> None:
        directory = checkpoint_dir_for(self.config.out)
        directory.mkdir(exist_ok=True)
        _atomic_save(
            {
                "format": CHECKPOINT_FORMAT,
                "step": self.step,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": _rng_state(),
                "config": self.config.to_json(),
                "loss_log": self.loss_log,
                "recent_losses": list(self.window),
            },
            directory / f"step_{self.step:06d}.pt",
        )
        for _, old in list_checkpoints(directory)[: -self.config.keep_checkpoints]:
            old.unlink()


@torch.no_grad()
def _save_preview(run: _Run, image: torch.Tensor, path: Path) -> None:
    """The preview photo in every style, side by side."""
    run.model.eval()
    panels = []
    for index in range(max(1, run.config.num_styles) if run.config.multi_style else 1):
        style = run.style_onehot(torch.tensor([index]))
        with run.autocast():
            out = run.paint(image, style)
        panels.append(out[0].float().clamp(0, 255).round().byte().permute(1, 2, 0).cpu().numpy())
    run.model.train()
    with atomic_output(path) as temp:
        Image.fromarray(np.concatenate(panels, axis=1)).save(temp, format="JPEG", quality=92)


def _style_images(config: TrainConfig) -> list[torch.Tensor]:
    return [
        load_image_tensor(path, config.style_size, what="style image")
        for path in config.style_images
    ]


def _start(
    config: TrainConfig,
) -> tuple[_Run, list[torch.Tensor], ImageFolder, torch.Tensor, Path | None]:
    """Everything before the first step, cheap checks first: bad input fails in seconds,
    not after loading VGG."""
    config.check(LAYERS)
    device = resolve_device(config.device)
    # Read first: a bad teacher fails in seconds (not after VGG), a multi-style one distilled
    # whole decides the student's styles (which the checkpoint check and every step go by),
    # and it is built before seeding, so the student's starting weights are as without one.
    config, teacher = _read_teacher(config, device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    use_amp = config.amp and device.type == "cuda"
    styles = _style_images(config)
    folder = find_images(config.dataset)
    preview_path = config.preview_image or folder.files[0]
    preview = load_image_tensor(preview_path, config.preview_size, what="preview image")
    if min(preview.shape[-2:]) < MIN_SIDE:
        raise UserError(f"preview image {preview_path} is too small; give a larger one")
    resume_path = _find_resume(config)
    _prepare_output(config.out)
    _write_config(config)
    ckpt = _read_checkpoint(resume_path, config) if resume_path is not None else None
    start_step = int(ckpt["step"]) if ckpt is not None else 0
    if start_step > config.steps:
        raise UserError(
            f"checkpoint {resume_path} is at step {start_step}, beyond --steps "
            f"{config.steps}; raise --steps to at least {start_step}"
        )
    base = add_style.load_base(config.base, config.arch) if config.base is not None else None
    base_styles = (
        add_style.base_styles(config.base, style_names(config)[0])
        if config.base is not None
        else None
    )
    init_state = _initial_state(config) if config.init is not None and ckpt is None else None
    if base is not None and ckpt is None:
        init_state = add_style.starting_state(base)

    _seed_everything(config.seed)
    vgg, vgg_identity = _load_vgg(config, device)
    model = build_network(config.arch, _num_styles(config)).to(device)
    if init_state is not None:
        model.load_state_dict(init_state)
    if base is not None:
        add_style.freeze_shared(model)
    optimizer = torch.optim.Adam(_parameter_groups(model, config), lr=config.lr)
    run = _Run(
        config=config,
        device=device,
        model=model,
        optimizer=optimizer,
        scaler=torch.amp.GradScaler(device.type, enabled=use_amp),
        loss_fn=PerceptualLoss(
            vgg,
            [s.to(device) for s in styles],
            content_weight=config.content_weight,
            style_weight=config.style_weights(),
            tv_weight=config.tv_weight,
            content_layers=config.content_layers,
            style_layer_weights=dict(
                zip(STYLE_LAYER_NAMES, config.style_layer_weights, strict=True)
            ),
            content_loss=config.content_loss,
            pixel_weight=config.pixel_weight,
            laplacian_weight=config.laplacian_weight,
            laplacian_pool=config.laplacian_pool,
            content_strength=config.content_strengths(),
        ),
        use_amp=use_amp,
        step=start_step,
        start_step=start_step,
        vgg_identity=vgg_identity,
        base=base,
        base_styles=base_styles,
        teacher=teacher,
    )
    if ckpt is not None:
        _warn_recipe_changes(ckpt.get("config", {}), config, resume_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(_regrouped(ckpt["optimizer"], model, optimizer))
        if ckpt["scaler"] and use_amp:  # a disabled scaler's state is empty
            run.scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        run.loss_log = list(ckpt.get("loss_log", []))
        run.window.extend(ckpt.get("recent_losses", []))
    model.train()
    precision = "amp-float16" if use_amp else "float32"
    resumed = f", resuming at step {start_step} from {resume_path}" if ckpt else ""
    if config.progress:
        log.info(
            "train: %d images, %d style(s), %s (%s), VGG %s%s",
            len(folder.files),
            config.num_styles,
            device.type,
            precision,
            vgg_identity,
            resumed,
        )
    return run, styles, folder, preview.to(device), resume_path


def _read_teacher(config: TrainConfig, device: torch.device) -> tuple[TrainConfig, Teacher | None]:
    """The teacher (None without one), and the config with the styles it gives the student."""
    if config.teacher is None:
        return config, None
    teacher = load_teacher(config.teacher, config.teacher_style, device, config.teacher_rows)
    _check_teacher_paintings(config, teacher)
    return replace(config, teacher_styles=teacher.styles), teacher


def _check_teacher_paintings(config: TrainConfig, teacher: Teacher) -> None:
    """A student may also learn its paintings' Gram statistics (``--style-image``, a style
    term on top of the teacher's picture): one painting per style it learns, in the
    teacher's order, so that a crop's style index picks its own painting's target."""
    if not config.style_images:
        return
    names = [Path(path).stem for path in config.style_images]
    wanted = list(teacher.styles) or [teacher.style or names[0]]
    if names != wanted:
        raise UserError(
            f"--style-image with --teacher: give the painting of each style the student "
            f"learns, in the teacher's order ({', '.join(wanted)}); got {', '.join(names)}"
        )


def _parameter_groups(model: torch.nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """A multi-style network's per-style norm rows learn at ``style_lr_scale`` times the rate
    of the shared weights: each row gets a gradient from its own style's crops only."""
    learning = [p for p in model.parameters() if p.requires_grad]  # --add-style freezes some
    rows = [p for p in learning if p.dim() == 2]
    shared = [p for p in learning if p.dim() != 2]
    groups = [{"params": shared, "scale": 1.0}]
    if rows:
        groups.append({"params": rows, "scale": config.style_lr_scale})
    return groups


def _regrouped(
    saved: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """A checkpoint's optimiser state in this run's parameter groups, each group's ``scale``
    this run's (``load_state_dict`` keeps the saved group's settings, which would silently
    undo a resumed run's new ``--style-lr-scale``). Checkpoints from before the
    shared/per-style split hold one group, the learning parameters in ``model.parameters()``
    order; their per-parameter moments move to the same parameters in today's groups."""
    if len(saved["param_groups"]) == len(optimizer.param_groups):
        groups = [
            {**group, "scale": ours.get("scale", 1.0)}
            for group, ours in zip(saved["param_groups"], optimizer.param_groups, strict=True)
        ]
        return {**saved, "param_groups": groups}
    old_order = [p for p in model.parameters() if p.requires_grad]
    if len(saved["param_groups"]) != 1 or len(saved["param_groups"][0]["params"]) != len(old_order):
        raise UserError(
            "the checkpoint's optimiser state does not fit this network's parameters; "
            "start a new run (--init CHECKPOINT keeps its weights) instead of --resume"
        )
    old_ids = saved["param_groups"][0]["params"]
    new_index = {id(param): index for index, param in enumerate(
        param for group in optimizer.param_groups for param in group["params"]
    )}  # fmt: skip
    state = {
        new_index[id(param)]: saved["state"][old]
        for old, param in zip(old_ids, old_order, strict=True)
        if old in saved["state"]
    }
    hyper = {k: v for k, v in saved["param_groups"][0].items() if k != "params"}
    groups = [
        {**hyper, "scale": group.get("scale", 1.0),
         "params": [new_index[id(param)] for param in group["params"]]}
        for group in optimizer.param_groups
    ]  # fmt: skip
    return {"state": state, "param_groups": groups}


def _load_vgg(config: TrainConfig, device: torch.device) -> tuple[VGG16Features, str]:
    # Pixel reconstruction without style needs no VGG: skip loading 60 MB of weights.
    if config.content_loss == "pixel" and not any(config.style_weights()):
        return VGG16Features().to(device), "none (pixel loss only)"
    return load_vgg16(config.vgg_weights, device)


def _batches(run: _Run, folder: ImageFolder) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(crops, style index of each crop) for the steps still to run."""
    config = run.config
    stream = AugmentedImageStream(
        folder.files,
        config.image_size,
        length=(config.steps - run.start_step) * config.batch_size,
        seed=config.seed,
        start=run.start_step * config.batch_size,
        jitter_max=config.jitter_max,
    )
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=config.batch_size,
        shuffle=False,  # the stream is already shuffled, deterministically
        num_workers=config.num_workers,
        pin_memory=run.device.type == "cuda",
    )
    sample = run.start_step * config.batch_size
    styles = max(1, config.num_styles)
    for batch in loader:
        # Sample k of the stream trains style k mod styles: resumable, and balanced.
        index = (torch.arange(batch.shape[0]) + sample) % styles
        sample += batch.shape[0]
        yield batch.to(run.device, non_blocking=True), index


def _step(run: _Run, crops: torch.Tensor, style_index: torch.Tensor) -> dict[str, float]:
    """One optimiser step; the step's (unsmoothed) losses."""
    for group in run.optimizer.param_groups:
        group["lr"] = learning_rate(run.config, run.step) * group.get("scale", 1.0)
    run.optimizer.zero_grad(set_to_none=True)
    style = run.style_onehot(style_index)
    with run.autocast():
        output = run.paint(crops, style)
        target = crops
        if run.teacher is not None:
            # A teacher distilled whole paints each crop in the style the student learns on it.
            target = run.teacher(crops, style).clamp(0, 255)
        terms = run.loss_fn(output, target, style_index.to(run.device))
        if run.config.temporal_weight > 0:
            terms = terms.with_temporal(
                _temporal(run, crops, output, style), run.config.temporal_weight
            )
    run.scaler.scale(terms.total).backward()
    run.scaler.step(run.optimizer)  # skipped by the scaler when gradients are not finite
    run.scaler.update()
    run.step += 1
    return terms.as_floats()


def _temporal(
    run: _Run, crops: torch.Tensor, output: torch.Tensor, style: torch.Tensor | None
) -> torch.Tensor:
    """The temporal term (``models.temporal_loss``): the student again on the crops moved,
    in the same style as ``output`` was painted."""
    net = partial(run.paint, style=style)
    return temporal_loss(net, crops, output, run.config.temporal_noise)


def _loop(run: _Run, folder: ImageFolder, preview: torch.Tensor) -> float:
    """Train to ``config.steps``; returns the seconds the steps took."""
    config = run.config
    preview_dir = preview_dir_for(config.out)
    label = "train" if not run.start_step else f"train (from step {run.start_step})"
    nonfinite_run = 0
    started = time.perf_counter()
    with (
        progress_bar(
            config.steps, label, "steps", enabled=config.progress, initial=run.start_step
        ) as bar,
        logging_redirect_tqdm(loggers=[logging.getLogger("models")]),
    ):
        try:
            for crops, style_index in _batches(run, folder):
                losses = _step(run, crops, style_index)
                if np.isfinite(losses["total"]):
                    nonfinite_run = 0
                    run.window.append(losses)
                else:
                    nonfinite_run += 1
                    _check_nonfinite(nonfinite_run, run.step, losses["total"], run.use_amp)
                smooth = _mean_losses(run.window)
                bar.set_postfix({k: f"{v:.4g}" for k, v in smooth.items()}, refresh=False)
                bar.update(1)
                if config.log_every and (
                    run.step % config.log_every == 0 or run.step == run.start_step + 1
                ):
                    run.loss_log.append({"step": run.step, **losses})
                    if config.progress:
                        log.info(
                            "train: step %d/%d %s", run.step, config.steps, _losses_text(smooth)
                        )
                if config.checkpoint_every and run.step % config.checkpoint_every == 0:
                    run.checkpoint()
                if config.preview_every and run.step % config.preview_every == 0:
                    _save_preview(run, preview, preview_dir / f"step_{run.step:06d}.jpg")
        except KeyboardInterrupt:
            # Keep the work done so far: --resume continues from here.
            if run.step > run.start_step:
                run.checkpoint()
            raise
    return time.perf_counter() - started


def _losses_text(losses: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in losses.items())


def train(config: TrainConfig) -> TrainResult:
    """Train (or resume training) a TransformerNet; see the module docstring for outputs."""
    run, styles, folder, preview, _ = _start(config)
    config = run.config  # with a multi-style teacher's styles filled in
    elapsed = _loop(run, folder, preview)
    if not (config.preview_every and run.step % config.preview_every == 0):
        _save_preview(run, preview, preview_dir_for(config.out) / f"step_{run.step:06d}.jpg")
    _atomic_save(_final_state(run), config.out)
    trained = run.step - run.start_step
    result = TrainResult(
        model_path=config.out,
        card_path=card_path_for(config.out),
        checkpoint_dir=checkpoint_dir_for(config.out),
        preview_dir=preview_dir_for(config.out),
        steps=run.step,
        start_step=run.start_step,
        final_losses=_mean_losses(run.window),
        seconds_per_step=elapsed / trained if trained else None,
        loss_log=run.loss_log,
    )
    card = training_card(
        config,
        result,
        styles,
        folder,
        run.device.type,
        run.use_amp,
        run.vgg_identity,
        base_styles=run.base_styles,
        teacher=run.teacher,
    )
    write_card(result.card_path, card)
    return result


def _final_state(run: _Run) -> dict[str, torch.Tensor]:
    """The network to write: the trained one, or with --add-style the base plus its new row."""
    trained = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
    return trained if run.base is None else add_style.appended_state(run.base, trained)


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
