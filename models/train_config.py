"""What a training run needs: one typed config, every default stated once.

This module imports no torch, so the command line builds ``realtime train --help`` from these
defaults without loading it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STYLE_LAYER_NAMES = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_LOSS_KINDS = ("mse", "cosine", "weighted-cosine", "pixel")
LR_SCHEDULES = ("constant", "cosine")
ARCH_NAMES = ("full", "lite")
RESUME_LATEST = "latest"
# Final losses are averaged over this many last steps: single steps are noisy
# (each batch is different crops).
SMOOTHING_STEPS = 50


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs. Paths are as given; defaults are the recipe we ship.

    Loss weights apply to the normalised terms of ``models.losses`` (content about 1 and
    style about 1 per layer for an untrained network), so they are backbone-independent.

    Several style images train one multi-style network (conditional instance norm,
    ``models.style_norm``): sample k of the crop stream trains style k mod styles, so a batch
    of 4 with 4 paintings has one crop of each. No style image (with ``style_weight`` 0) trains
    a network to reproduce its input, a starting point (``init``) for style training.

    The content loss is ``cosine`` on relu1_2..relu4_3 by default: it keeps the photo's
    structure while leaving colour and texture to the style (measured in docs/STYLES.md);
    ``mse`` on relu2_2 is Johnson et al.'s.
    """

    style_images: tuple[Path, ...]
    dataset: Path
    out: Path
    steps: int = 20_000
    batch_size: int = 4
    image_size: int = 256
    style_size: int | None = 256  # long side of every style image; None keeps each one's size
    content_weight: float = 5.0
    content_loss: str = "cosine"  # one of CONTENT_LOSS_KINDS
    content_layers: tuple[str, ...] = STYLE_LAYER_NAMES
    # With content_loss "weighted-cosine": the power of the photo's feature strength that
    # weighs each position, one for every style or one per style image (0 is plain cosine).
    content_strength: tuple[float, ...] = (1.0,)
    # One weight for every style, or one per style image.
    style_weight: tuple[float, ...] = (5.0,)
    tv_weight: float = 0.0
    # Relative weights of relu1_2, relu2_2, relu3_3 and relu4_3 inside the style loss.
    style_layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    lr: float = 1e-3
    # A multi-style network's per-style norm parameters learn this many times faster.
    style_lr_scale: float = 1.0
    # "cosine" decays the rate to 0 at --steps. A short run ends far better converged than at a
    # constant rate, whose last steps still jump between crops (see docs/STYLES.md).
    lr_schedule: str = "constant"
    arch: str = "full"  # one of ARCH_NAMES
    init: Path | None = None  # start from these weights (a .pth of the same architecture)
    # With init a multi-style network and one style image: start from init's style of this
    # name (as its card names them), to train that style on alone.
    init_style: str | None = None
    # Add the one style image as a new style of this multi-style network: only the new
    # style's norm rows train, every shared weight stays as it is (Dumoulin et al.'s
    # fine-tuning). The result is the base with one more style.
    base: Path | None = None
    # Distillation: the content target is this trained network's output on each crop instead
    # of the crop itself (a .pth). The student learns the teacher's painting; with style
    # images (one per style it learns, in the teacher's order) and a style weight it also
    # learns their Gram statistics, as a network trained from scratch does. A multi-style
    # teacher paints
    # ``teacher_style`` for a single-style student or, without it, every one of its styles
    # for a student with the same styles (each crop in its own style).
    teacher: Path | None = None
    teacher_style: str | None = None
    # A multi-style teacher distilled whole, with some of its styles painted by other
    # networks: (NAME, NET.pth) pairs, NET's NAME painting NAME's crops. For a student whose
    # styles ship from different networks (a shared network's phases).
    teacher_rows: tuple[tuple[str, Path], ...] = ()
    # Not an option: the styles of a multi-style teacher distilled whole, in its style input's
    # order, which the trainer reads from the teacher's card before building the student. Kept
    # in the config because they decide the student's number of styles, as style images do.
    teacher_styles: tuple[str, ...] = ()
    # A pixel term (mean squared, on the 0-1 scale) against the content target, added to the
    # content loss: for distillation, the teacher's exact colours.
    pixel_weight: float = 0.0
    # Li et al.'s Laplacian term (2017): the photo's light-dark structure, kept in the grey
    # output averaged over laplacian_pool x laplacian_pool blocks, so a painting may recolour
    # a region but keeps where its outlines are. 0 disables.
    laplacian_weight: float = 0.0
    laplacian_pool: int = 4
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
    threads: int | None = None  # torch CPU threads; None: torch's default (one per core)
    progress: bool = True

    @property
    def num_styles(self) -> int:
        """The styles the network learns: one per style image, or the teacher's."""
        return len(self.style_images) or len(self.teacher_styles)

    @property
    def multi_style(self) -> bool:
        return self.num_styles > 1

    def _per_style(self, values: tuple[float, ...]) -> tuple[float, ...]:
        """One value per style image: a single given value repeated."""
        return values * max(1, len(self.style_images)) if len(values) == 1 else values

    def style_weights(self) -> tuple[float, ...]:
        return self._per_style(self.style_weight)

    def content_strengths(self) -> tuple[float, ...]:
        """One weighted-cosine power per style."""
        return self._per_style(self.content_strength)

    def to_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            return value

        return {k: plain(v) for k, v in dataclasses.asdict(self).items()}


DEFAULTS = TrainConfig(style_images=(), dataset=Path(), out=Path())


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


def style_names(config: TrainConfig) -> list[str]:
    """What each style is called: its painting's file name without the suffix, or for a
    distilled multi-style teacher the names its card gives them."""
    return [Path(path).stem for path in config.style_images] or list(config.teacher_styles)
