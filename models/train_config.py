"""What a training run needs: one typed config, every default stated once, and its checks.

This module imports no torch, so the command line builds ``realtime train --help`` and reads
a recipe file from these defaults without loading it.

Each field's metadata tells the rest of the code what it needs to know of that field, so no
list of field names is kept by hand anywhere else:

- ``flag``: its command-line spelling, which the checks name (default: ``--`` and the name
  with dashes);
- ``recipe``: it changes what the network learns, so a resumed run that changes it is warned
  about;
- ``at_least``, ``positive``, ``choices``: the plain checks of one value;
- ``none``: the word for None where None is not the default (``--style-size original``);
- ``in_files``: False for ``resume``, which says how a run starts rather than what it trains,
  so a recipe file neither holds it nor gets it; ``option``: False for what the trainer fills
  in itself.

A recipe file (``realtime train --config FILE``) is TOML with the fields' names as keys; the
trainer writes the resolved config beside the network (``NAME.config.toml``) in the same
form, so ``realtime train --config NAME.config.toml`` trains it again.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from realtime.core.errors import UserError
from realtime.core.paths import packaged_recipe_path

STYLE_LAYER_NAMES = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_LOSS_KINDS = ("mse", "cosine", "weighted-cosine", "pixel")
LR_SCHEDULES = ("constant", "cosine")
ARCH_NAMES = ("full", "lite")
DEVICE_NAMES = ("auto", "cpu", "cuda")
RESUME_LATEST = "latest"
# Final losses are averaged over this many last steps: single steps are noisy
# (each batch is different crops).
SMOOTHING_STEPS = 50


def _field(default: Any = MISSING, *, recipe: bool = False, **metadata: Any) -> Any:
    return field(default=default, metadata={"recipe": recipe, **metadata})


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
    structure while leaving colour and texture to the style (measured in docs/STYLES-LAB.md, A);
    ``mse`` on relu2_2 is Johnson et al.'s.
    """

    style_images: tuple[Path, ...] = _field(recipe=True, flag="--style-image")
    dataset: Path = _field(recipe=True)
    out: Path = _field()
    steps: int = _field(20_000, at_least=1)
    batch_size: int = _field(4, recipe=True, at_least=1)
    # Four 2x2 pools before relu4_3: 16 px leaves a 2x2 map, anything less is degenerate.
    image_size: int = _field(256, recipe=True, at_least=16)
    # Long side of every style image; None keeps each one's size.
    style_size: int | None = _field(256, recipe=True, at_least=16, none="original")
    content_weight: float = _field(5.0, recipe=True, at_least=0)
    content_loss: str = _field("cosine", recipe=True, choices=CONTENT_LOSS_KINDS)
    content_layers: tuple[str, ...] = _field(STYLE_LAYER_NAMES, recipe=True)
    # With content_loss "weighted-cosine": the power of the photo's feature strength that
    # weighs each position, one for every style or one per style image (0 is plain cosine).
    content_strength: tuple[float, ...] = _field((1.0,), recipe=True)
    # One weight for every style, or one per style image.
    style_weight: tuple[float, ...] = _field((5.0,), recipe=True)
    tv_weight: float = _field(0.0, recipe=True, at_least=0)
    # Relative weights of relu1_2, relu2_2, relu3_3 and relu4_3 inside the style loss.
    style_layer_weights: tuple[float, ...] = _field((1.0, 1.0, 1.0, 1.0), recipe=True)
    lr: float = _field(1e-3, recipe=True, positive=True)
    # A multi-style network's per-style norm parameters learn this many times faster.
    style_lr_scale: float = _field(1.0, recipe=True, positive=True)
    # "cosine" decays the rate to 0 at --steps. A short run ends far better converged than at a
    # constant rate, whose last steps still jump between crops (see docs/STYLES-LAB.md).
    lr_schedule: str = _field("constant", recipe=True, choices=LR_SCHEDULES)
    arch: str = _field("full", recipe=True, choices=ARCH_NAMES)
    init: Path | None = _field(None, recipe=True)  # start from these weights (same arch)
    # With init a multi-style network and one style image: start from init's style of this
    # name (as its card names them), to train that style on alone.
    init_style: str | None = _field(None, recipe=True)
    # Add the one style image as a new style of this multi-style network: only the new
    # style's norm rows train, every shared weight stays as it is (Dumoulin et al.'s
    # fine-tuning). The result is the base with one more style.
    base: Path | None = _field(None, recipe=True)
    # Distillation: the content target is this trained network's output on each crop instead
    # of the crop itself (a .pth). The student learns the teacher's painting; with style
    # images (one per style it learns, in the teacher's order) and a style weight it also
    # learns their Gram statistics, as a network trained from scratch does. A multi-style
    # teacher paints ``teacher_style`` for a single-style student or, without it, every one
    # of its styles for a student with the same styles (each crop in its own style).
    teacher: Path | None = _field(None, recipe=True)
    teacher_style: str | None = _field(None, recipe=True)
    # A multi-style teacher distilled whole, with some of its styles painted by other
    # networks: (NAME, NET.pth) pairs, NET's NAME painting NAME's crops. For a student whose
    # styles ship from different networks (a shared network's phases).
    teacher_rows: tuple[tuple[str, Path], ...] = _field((), recipe=True, flag="--teacher-row")
    # The styles of a multi-style teacher distilled whole, in its style input's order, which
    # the trainer reads from the teacher's card before building the student. Kept in the
    # config because they decide the student's number of styles, as style images do.
    teacher_styles: tuple[str, ...] = _field((), option=False)
    # A pixel term (mean squared, on the 0-1 scale) against the content target, added to the
    # content loss: for distillation, the teacher's exact colours.
    pixel_weight: float = _field(0.0, recipe=True, at_least=0)
    # Li et al.'s Laplacian term (2017): the photo's light-dark structure, kept in the grey
    # output averaged over laplacian_pool x laplacian_pool blocks, so a painting may recolour
    # a region but keeps where its outlines are. 0 disables.
    laplacian_weight: float = _field(0.0, recipe=True, at_least=0)
    laplacian_pool: int = _field(4, recipe=True, at_least=1)
    # Temporal consistency (models.temporal_loss, after Huang et al. 2017 and ReCoNet): each
    # crop is also moved by a small random affine, and the moved crop's output is held to the
    # output moved, so texture follows the picture from frame to frame instead of flickering.
    # It costs one more forward and backward pass of the network a step, so 0 (off) is the
    # default; its scale is pixel_weight's ([0, 1] pixels).
    temporal_weight: float = _field(0.0, recipe=True, at_least=0)
    # Gaussian noise (grey levels of 0..255) added to the moved crop: a camera's sensor noise
    # differs between two frames of a still scene, and the output should not follow it.
    # 2 is light noise, chosen, not measured on a camera.
    temporal_noise: float = _field(2.0, recipe=True, at_least=0)
    seed: int = _field(0, recipe=True)
    device: str = _field("auto", choices=DEVICE_NAMES)
    # float16 autocast + GradScaler on CUDA; CPU always runs float32.
    amp: bool = _field(True, recipe=True, flag="--no-amp")
    vgg_weights: Path | None = _field(None, recipe=True)
    # Scale jitter: short side = image_size * U(1, jitter_max).
    jitter_max: float = _field(1.5, recipe=True, flag="--scale-jitter", at_least=1)
    checkpoint_every: int = _field(1000, at_least=0)  # 0 disables
    keep_checkpoints: int = _field(3, at_least=1)
    preview_every: int = _field(1000, at_least=0)  # 0 disables (a final one is always written)
    preview_image: Path | None = _field(None)  # None: the first image of the dataset
    preview_size: int = _field(512, at_least=1)  # long side of the preview
    # None, "latest" (newest in NAME.checkpoints) or a .pt path.
    resume: str | None = _field(None, in_files=False)
    log_every: int = _field(100, at_least=0)  # steps between log lines and loss-log entries
    num_workers: int = _field(2, at_least=0)
    threads: int | None = _field(None, at_least=1)  # torch CPU threads; None: one per core
    progress: bool = _field(True, flag="--no-progress")

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

    def to_toml(self) -> str:
        """The recipe-file form of this config: every key a file may hold, paths absolute (the
        file lives beside the network, not where the run started). None is left out, or
        written as its word where it is not the default."""
        lines = []
        for name in FILE_KEYS:
            value = getattr(self, name)
            if _is_pairs(_HINTS[name]):  # (NAME, NET.pth) pairs: a table, as a file gives them
                pairs = ", ".join(f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value)
                lines.append(f"{name} = {{{pairs and f' {pairs} '}}}")
                continue
            if value is None:
                if _FIELDS[name].default is None:
                    continue
                value = _FIELDS[name].metadata["none"]
            lines.append(f"{name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def check(self, layer_names: Collection[str]) -> None:
        """Every check that needs no training, one line naming the option at fault.
        ``layer_names``: VGG-16's layers, for the content layers (the table lives with the
        torch model)."""
        for f in fields(self):
            _check_value(f, getattr(self, f.name))
        if self.init_style is not None and (self.init is None or self.num_styles != 1):
            raise UserError(
                "--init-style NAME starts a one-style run from a style of --init NET.pth: give "
                "--init and one --style-image"
            )
        self._check_teacher()  # first: with a teacher, the style checks' advice does not apply
        self._check_styles()
        self._check_layers(layer_names)
        if self.out.suffix != ".pth":
            raise UserError(f"--out must end in .pth, got {self.out}; e.g. --out mosaic.pth")

    def _check_teacher(self) -> None:
        if self.teacher is None:
            for flag, given in (("--teacher-style", self.teacher_style),
                                ("--teacher-row", self.teacher_rows)):  # fmt: skip
                if given:
                    raise UserError(f"{flag} goes with --teacher NET.pth, the network to distil")
            return
        if not self.teacher.is_file():
            raise UserError(f"teacher network not found: {self.teacher}")

    def _check_styles(self) -> None:
        images = len(self.style_images)
        _check_per_style("--style-weight", self.style_weight, images)
        _check_per_style("--content-strength", self.content_strength, images)
        if images == 0 and any(self.style_weight):
            raise UserError(
                "no --style-image given; give one (or several for a multi-style network), or "
                "--style-weight 0 to train a network that reproduces its input"
            )
        names = style_names(self)
        twice = sorted(name for name in names if names.count(name) > 1)
        if twice:
            raise UserError(
                f"two style images share the name {twice[0]!r}; styles are named after their "
                "files, so rename one"
            )
        if self.base is None:
            return
        if images != 1:
            raise UserError("--add-style takes one style image: the one to add to --base")
        if self.init is not None:
            raise UserError("--add-style starts from --base; drop --init")

    def _check_layers(self, layer_names: Collection[str]) -> None:
        weights = self.style_layer_weights
        if len(weights) != len(STYLE_LAYER_NAMES) or not all(w >= 0 for w in weights):
            raise UserError(
                f"--style-layer-weights needs {len(STYLE_LAYER_NAMES)} weights of 0 or more "
                f"({', '.join(STYLE_LAYER_NAMES)}), got {','.join(map(str, weights))}"
            )
        unknown = [name for name in self.content_layers if name not in layer_names]
        if unknown or not self.content_layers:
            raise UserError(
                f"unknown --content-layers {','.join(unknown) or '(none)'}; use VGG-16 layer "
                "names such as relu2_2 or relu1_2,relu2_2,relu3_3,relu4_3"
            )


def flag_of(f: dataclasses.Field) -> str:
    """The option that sets field ``f``, as the command line spells it."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _check_value(f: dataclasses.Field, value: Any) -> None:
    """The checks a field's metadata states: its choices and its bounds."""
    if value is None:
        return
    flag, meta = flag_of(f), f.metadata
    if "choices" in meta and value not in meta["choices"]:
        raise UserError(f"unknown {flag} {value!r}; use one of {', '.join(meta['choices'])}")
    # "not >=": NaN fails too.
    if "at_least" in meta and not value >= meta["at_least"]:
        bound = "0 or more" if meta["at_least"] == 0 else f"at least {meta['at_least']}"
        raise UserError(f"{flag} must be {bound}, got {value}")
    if meta.get("positive") and not value > 0:
        raise UserError(f"{flag} must be positive, got {value}")


def _check_per_style(flag: str, values: tuple[float, ...], images: int) -> None:
    """An option given once for every style or once per style image, each 0 or more."""
    if not values or not all(v >= 0 for v in values):
        raise UserError(f"{flag} must be 0 or more, got {','.join(map(str, values))}")
    if len(values) not in (1, images):
        raise UserError(
            f"{flag} has {len(values)} values for {images} style images; "
            "give one for all, or one per --style-image"
        )


DEFAULTS = TrainConfig(style_images=(), dataset=Path(), out=Path())
_FIELDS = {f.name: f for f in fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)
# The fields that change what is learned: a resumed run that differs in one is warned about.
RECIPE_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.metadata["recipe"])
# What a recipe file may set: every option but ``resume``.
FILE_KEYS = tuple(
    f.name
    for f in fields(TrainConfig)
    if f.metadata.get("option", True) and f.metadata.get("in_files", True)
)


def config_path_for(out: Path) -> Path:
    """Where the resolved config of the run that writes ``out`` goes: ``NAME.config.toml``."""
    return out.with_name(out.stem + ".config.toml")


# ----------------------------------------------------------------------------- recipe files


def read_recipe(path: Path) -> dict[str, Any]:
    """The options a recipe file sets (its keys are TrainConfig's fields), typed; relative
    paths in it are relative to its folder, so a recipe works from wherever it is run. A
    bare name (``add-style-lite``) is one of the recipes that ship in ``realtime/recipes``."""
    path = packaged_recipe(path)
    try:
        with path.open("rb") as file:
            table = tomllib.load(file)
    except FileNotFoundError:
        raise UserError(f"--config: recipe file not found: {path}") from None
    except OSError as exc:
        raise UserError(f"--config: cannot read {path} ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"--config {path} is not valid TOML: {exc}") from None
    return recipe_options(table, str(path), path.parent)


def packaged_recipe(path: Path) -> Path:
    """``path`` itself, or for a bare name with no such file, the packaged recipe NAME.toml."""
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path
    packaged = packaged_recipe_path(str(path))
    return packaged if packaged.is_file() else path


def recipe_options(table: Mapping[str, Any], source: str, folder: Path) -> dict[str, Any]:
    """``table``'s keys and values as TrainConfig's fields and types; ``source`` names the
    table in errors, and relative paths are relative to ``folder``."""
    unknown = sorted(set(table) - set(FILE_KEYS))
    if unknown:
        raise UserError(
            f"{source}: unknown key {unknown[0]!r}; the keys are {', '.join(FILE_KEYS)}"
        )
    options = {}
    for key, value in table.items():
        hint, none = _HINTS[key], _FIELDS[key].metadata.get("none")
        try:
            options[key] = _typed(hint, value, none, folder)
        except TypeError:
            raise UserError(
                f"{source}: {key} must be {_described(hint, none)}, got {value!r}"
            ) from None
    return options


def _optional(hint: Any) -> Any | None:
    """X for ``X | None``, else None."""
    if isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint):
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return None


def _is_pairs(hint: Any) -> bool:
    """``tuple[tuple[str, Path], ...]``: (NAME, NET.pth) pairs, a table in a file."""
    return typing.get_origin(hint) is tuple and typing.get_origin(typing.get_args(hint)[0]) is tuple


def _typed(hint: Any, value: Any, none: str | None, folder: Path) -> Any:
    """``value`` (as TOML gives it) as a field of type ``hint``; TypeError where it is not
    one. A tuple field also takes one value, as its option does."""
    inner = _optional(hint)
    if inner is not None:
        return None if none is not None and value == none else _typed(inner, value, None, folder)
    if _is_pairs(hint):
        if not isinstance(value, dict):
            raise TypeError
        return tuple((name, _typed(Path, path, None, folder)) for name, path in value.items())
    if typing.get_origin(hint) is tuple:
        items = value if isinstance(value, list) else [value]
        return tuple(_typed(typing.get_args(hint)[0], v, None, folder) for v in items)
    if hint is Path and isinstance(value, str):
        return folder / value  # an absolute value stays absolute
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (str, bool) and isinstance(value, hint):
        return value
    raise TypeError


def _described(hint: Any, none: str | None) -> str:
    inner = _optional(hint)
    if inner is not None:
        return _described(inner, None) + (f" or {none!r}" if none else "")
    if _is_pairs(hint):
        return 'a table of NAME = "NET.pth"'
    if typing.get_origin(hint) is tuple:
        item = _described(typing.get_args(hint)[0], None).removeprefix("a ")
        return f"a list of {item}s, or one"
    names = {Path: "a path", float: "a number", int: "a whole number", str: "a string",
             bool: "true or false"}  # fmt: skip
    return names[hint]


def _toml_value(value: Any) -> str:
    """``value`` written as TOML: the few types a TrainConfig holds need no TOML library."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ("-" if value < 0 else "") + ("nan" if math.isnan(value) else "inf")
    if isinstance(value, int | float):
        return repr(value)  # Python's float repr (1e-05, 0.001) is TOML too
    if isinstance(value, Path):
        value = str(value.absolute())
    if isinstance(value, str):
        # A JSON string without \u escapes of astral characters is a TOML basic string.
        return json.dumps(value, ensure_ascii=False)
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


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
