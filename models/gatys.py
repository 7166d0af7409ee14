"""Neural style by optimisation (Gatys, Ecker & Bethge 2016) on VGG-16 features.

The pixels of the output are optimised so that its VGG-16 features keep the content image's
(relu4_2) while its Gram matrices match the painting's (relu1_1 ... relu5_1), with a small
total-variation term against pixel noise. Any painting works and nothing is trained; the
price is hundreds of forward and backward passes through VGG per image.

The terms are ``models.losses``' normalised ones (each divided by the size of its target),
so the default weights hold for the shared Caffe-derived VGG weights and torchvision's alike:

    loss = content_weight * content + style_weight * sum_l w_l * style_l
         + tv_weight * tv + temporal_weight * temporal

Why the defaults (measured on amber.jpg with the shared paintings: docs/GATYS.md):

- ``style_weight`` steered per painting and photo (``models.gatys_balance``): one fixed
  weight (3, chosen on the four bundled paintings) left a painting nobody tuned for 1.09x
  a trained network's style distance and wiped another's photo out. The weight is re-aimed
  every ``balance_segment`` evaluations so the scorer's style distance lands near
  ``balance_target`` (0.41: the best trained networks' distance on amber, so at the
  target Gatys is as close to a painting as they are, and no closer than it must be, to
  keep the photo). A given ``style_weight`` turns the steering off.
- L-BFGS, as Gatys et al. (Adam is an option, not tuned here), with a strong-Wolfe line
  search. ``steps`` counts evaluations (one VGG forward and backward each), so it is the
  cost and a progress bar is exact.
- Coarse to fine, two levels: ``coarse_steps`` (150) at half the size place the painting's
  large shapes at a quarter of the cost, then ``steps`` (100) at the full size add the
  strokes. 512 px in under 4 minutes on a 2-core CPU (docs/GATYS.md); one level of 300
  steps took 11.
- ``precision`` auto: the optimisation's VGG passes in bfloat16 on a CPU that computes it
  natively (1.7x faster a step), targets and losses in float32.
- The painting is matched at the content's size (its long side scaled to the content's at
  each level, times ``style_scale``): brush strokes keep their size relative to the image
  whatever resolution it is stylized at. (``models.metrics`` compares with the painting at
  its own size, so a painting much larger than the output scores worse than it looks.)
- ``tv_weight`` 1: a few per cent of the converged loss, a light hold on L-BFGS's pixel
  noise that does not blur.
- ``temporal_weight`` 200 (not tuned on video): a drift of 5 grey levels (RMS) over the
  trusted pixels costs 0.08, about a sixth of a converged loss, so a short optimisation moves
  them only where the style gains clearly more.

Other features: start from the content, from noise, or from a given image (a network's
output, the flow-warped previous frame of a video); Ruder et al. 2016's short-term temporal
loss towards a warped previous output under a trust mask; and luminance-only transfer
(Gatys et al. 2016, "Preserving colour in neural artistic style transfer").

Fixed targets are computed once: the painting's Grams once per size (and cached across
calls), the content's features once per call and level, never per step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from models.gatys_balance import SETTLE_SEGMENTS, bf16_native, next_weight
from models.losses import (
    BT601_LUMA,
    content_loss,
    gram_matrix,
    style_layer_loss,
    total_variation,
)
from models.metrics import edge_correlation, gram_distance
from models.vgg import LAYERS, VGG16Features
from models.vgg import STYLE_LAYERS as METRIC_LAYERS
from realtime.core.errors import UserError

GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")
PRECISIONS = ("auto", "fp32", "bf16")
INITS = ("content", "noise", "image")
# Coarse-to-fine stops adding levels below this short side: relu5_1 (16x downsampled) would
# see only a few positions, too few for its Gram to mean anything.
MIN_LEVEL_SIDE = 64
# The painting's Grams kept per (size, luminance statistics); a video changing size keeps
# at most this many alive.
GRAM_CACHE_SIZE = 8
# Luminance-only transfer matches the painting's luminance to each content's mean and
# spread; rounding those to this many grey levels lets the frames of one video share one
# set of Grams, at the price of a target off by at most 2 grey levels in mean and spread.
LUMA_STAT_STEP = 4.0
# L-BFGS's first (steepest-descent) step moves the steepest pixel this many grey levels; the
# line search lengthens or shortens it from there.
FIRST_STEP = 4.0
_LUMA = np.array(BT601_LUMA, np.float32)

Frame = np.ndarray
ProgressFn = Callable[[int, int, float], None]


@dataclass(frozen=True)
class GatysConfig:
    """Optimisation settings. Call ``check()`` before use (``GatysStylizer`` does)."""

    # Evaluations (one VGG forward and backward each; an L-BFGS iteration takes one or a
    # few) at the full size, and at each coarser level.
    steps: int = 100
    coarse_steps: int = 150
    scales: int = 2  # coarse-to-fine levels, each half the next's size (1: full size only)
    optimizer: str = "lbfgs"  # lbfgs | adam
    learning_rate: float = 5.0  # Adam only, in pixel units (0..255)
    content_layer: str = "relu4_2"
    content_weight: float = 1.0
    style_layers: tuple[str, ...] = GATYS_STYLE_LAYERS
    style_layer_weights: tuple[float, ...] = (1.0,) * len(GATYS_STYLE_LAYERS)
    # Against content 1. None: steered for each painting and photo so the result lands at
    # balance_target (models.gatys_balance says why); a number fixes it for every painting.
    style_weight: float | None = None
    # Steering: the style distance aimed at, at the full size; coarser levels aim at
    # balance_coarse times it (their Grams hold less of the fine strokes). The weight
    # starts at balance_start and is re-aimed every balance_segment evaluations.
    balance_target: float = 0.41
    balance_coarse: float = 0.75
    balance_start: float = 3.0
    balance_segment: int = 25
    # ... and lowered while the output's edges correlate with the photo's less than this
    # (the scorer's edge correlation), whatever the distance: a photo whose structure a
    # painting's texture swamps keeps it (docs/GATYS.md, "Any painting"). 0 turns it off.
    balance_edges: float = 0.6
    tv_weight: float = 1.0
    temporal_weight: float = 200.0  # only with a temporal target
    init: str = "content"  # content | noise | image (image: stylize() must get init=)
    # The painting's long side relative to the content's at each level.
    style_scale: float = 1.0
    preserve_color: bool = False  # luminance-only transfer
    # The optimisation's VGG passes in bfloat16 (targets, Grams and losses stay float32):
    # auto is bf16 where the CPU computes it natively (models.gatys_balance.bf16_native).
    precision: str = "auto"
    seed: int = 0  # for init="noise"

    def check(self) -> None:
        """Raise ``UserError`` (one line naming the option and the fix) for a bad setting."""
        for name in ("steps", "coarse_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise UserError(f"gatys {name} must be a whole number 0 or more, got {value!r}")
        if not isinstance(self.scales, int) or self.scales < 1:
            raise UserError(
                f"gatys scales must be 1 or more (1: full size only), got {self.scales!r}"
            )
        if self.precision not in PRECISIONS:
            raise UserError(
                f"gatys precision {self.precision!r} is unknown; use {' or '.join(PRECISIONS)}"
            )
        if not isinstance(self.balance_segment, int) or self.balance_segment < 1:
            raise UserError(
                f"gatys balance_segment must be a whole number 1 or more, got "
                f"{self.balance_segment!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise UserError(
                f"gatys optimizer {self.optimizer!r} is unknown; use {' or '.join(OPTIMIZERS)}"
            )
        if self.init not in INITS:
            raise UserError(f"gatys init {self.init!r} is unknown; use one of {', '.join(INITS)}")
        if self.content_layer not in LAYERS:
            raise UserError(
                f"gatys content_layer {self.content_layer!r} is not a VGG-16 layer; "
                "use a name like relu4_2"
            )
        for name in self.style_layers:
            if name not in LAYERS:
                raise UserError(
                    f"gatys style_layers: {name!r} is not a VGG-16 layer; use names like relu3_1"
                )
        if not self.style_layers:
            raise UserError("gatys style_layers is empty; give at least one, e.g. relu3_1")
        if len(self.style_layer_weights) != len(self.style_layers):
            raise UserError(
                f"gatys style_layer_weights has {len(self.style_layer_weights)} weights for "
                f"{len(self.style_layers)} style_layers; give one weight per layer"
            )
        weights = {
            "content_weight": self.content_weight,
            "style_weight": 0.0 if self.style_weight is None else self.style_weight,
            "balance_target": self.balance_target,
            "balance_coarse": self.balance_coarse,
            "balance_start": self.balance_start,
            "balance_edges": self.balance_edges,
            "tv_weight": self.tv_weight,
            "temporal_weight": self.temporal_weight,
            "style_layer_weights": min(self.style_layer_weights),
        }
        for name, value in weights.items():
            if not math.isfinite(value) or value < 0:
                raise UserError(f"gatys {name} must be a finite number 0 or more, got {value!r}")
        for name in ("learning_rate", "style_scale"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise UserError(f"gatys {name} must be a positive number, got {value!r}")


# -- colour -------------------------------------------------------------------------------


def luminance(image: np.ndarray) -> np.ndarray:
    """BT.601 luma (the Y of YIQ and YCrCb) of an RGB image, float32 HxW in [0, 255]."""
    return image.astype(np.float32) @ _LUMA


def with_luminance(content: Frame, luma: np.ndarray) -> Frame:
    """``content`` (uint8 RGB) with its luminance replaced by ``luma``; chroma kept.

    Adding one value to all three channels moves Y by that value and leaves the colour
    differences R-Y and B-Y, hence Cr/Cb (and I/Q), unchanged, because the luma
    coefficients sum to one. Only out-of-gamut pixels (clipped to [0, 255]) lose chroma.
    """
    shift = luma.astype(np.float32) - luminance(content)
    out = content.astype(np.float32) + shift[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _gray3(luma: np.ndarray) -> np.ndarray:
    return np.repeat(luma[..., None], 3, axis=2)


# -- helpers ------------------------------------------------------------------------------


def _check_rgb(name: str, image: object, shape: tuple[int, ...] | None = None) -> None:
    if not (
        isinstance(image, np.ndarray)
        and image.ndim == 3
        and image.shape[2] == 3
        and image.dtype == np.uint8
    ):
        got = getattr(image, "shape", type(image).__name__), getattr(image, "dtype", "")
        raise ValueError(f"{name} must be a uint8 HxWx3 RGB array, got {got}")
    if shape is not None and image.shape != shape:
        raise ValueError(f"{name} {image.shape} differs in size from the content {shape}")


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWx3 (uint8 or float in [0, 255]) -> float32 1x3xHxW on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    return tensor.permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def _to_array(tensor: torch.Tensor) -> np.ndarray:
    """1x3xHxW -> float32 HxWx3, clamped to [0, 255] (not rounded)."""
    array = tensor.detach().clamp(0, 255).squeeze(0).permute(1, 2, 0)
    return array.float().cpu().numpy()


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    shrinking = height < image.shape[0] or width < image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interpolation)


def level_sizes(height: int, width: int, scales: int) -> list[tuple[int, int]]:
    """(height, width) of each coarse-to-fine level, coarsest first, the full size last."""
    sizes = [(height, width)]
    for _ in range(scales - 1):
        h, w = sizes[0]
        if min(h, w) // 2 < MIN_LEVEL_SIDE:
            break
        sizes.insert(0, (h // 2, w // 2))
    return sizes


class _BudgetSpent(Exception):
    """Raised by the loss closure once a level's evaluations are used up."""


@dataclass
class _Level:
    """What one level optimises against (all tensors on the device)."""

    content: torch.Tensor  # content_layer features of the content
    grams: dict[str, torch.Tensor]
    style_weight: float
    temporal: tuple[torch.Tensor, torch.Tensor] | None  # (warped 1x3xHxW, mask 1x1xHxW)


class GatysStylizer:
    """Optimises images towards one painting. Not thread-safe: one per stream.

    ``vgg`` is moved to ``device``. ``style_image`` is uint8 HxWx3 RGB.
    """

    def __init__(
        self,
        vgg: VGG16Features,
        style_image: np.ndarray,
        config: GatysConfig,
        device: torch.device | str = "cpu",
    ) -> None:
        config.check()
        try:
            _check_rgb("style image", style_image)
        except ValueError as exc:
            raise UserError(f"{exc}; give an RGB painting") from None
        self.config = config
        self.device = torch.device(device)
        self.vgg = vgg.to(self.device).freeze()
        self.style_image = np.ascontiguousarray(style_image)
        # The optimisation's passes only: targets are taken once, in float32.
        self.bf16 = config.precision == "bf16" or (
            config.precision == "auto" and bf16_native(self.device)
        )
        # (long side, style distance, next weight, edge correlation) after each steered
        # segment (the edges read 1.0 with the edge floor off).
        self.steering: list[tuple[int, float, float]] = []
        # Fixed, or steered on the first image and kept (a video's frames share it, so the
        # look does not change from frame to frame).
        self.style_weight: float | None = config.style_weight
        self._layer_weights = dict(
            zip(config.style_layers, config.style_layer_weights, strict=True)
        )
        # dict.fromkeys: one forward for all, without duplicates.
        self._layers = tuple(dict.fromkeys((config.content_layer, *config.style_layers)))
        self._grams: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()

    # -- targets --------------------------------------------------------------------------

    def _forward(
        self, x: torch.Tensor, layers: tuple[str, ...], optimising: bool = False
    ) -> dict[str, torch.Tensor]:
        context = (
            torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
            if optimising and self.bf16
            else contextlib.nullcontext()
        )
        with context:
            return self.vgg(x, layers)

    def style_grams(
        self, height: int, width: int, luma_stats: tuple[float, float] | None = None
    ) -> dict[str, torch.Tensor]:
        """The painting's Grams for a level of ``height`` x ``width`` (cached by size).

        The painting is resized so its long side is ``style_scale`` times the level's.
        ``luma_stats`` (mean, std): luminance-only transfer, the painting's luminance
        matched to these.
        """
        long_side = max(16, round(self.config.style_scale * max(height, width)))
        sh, sw = self.style_image.shape[:2]
        factor = long_side / max(sh, sw)
        size = (max(16, round(sh * factor)), max(16, round(sw * factor)))
        key = (size, luma_stats)
        cached = self._grams.get(key)
        if cached is not None:
            self._grams.move_to_end(key)
            return cached
        style = _resize(self.style_image, *size).astype(np.float32)
        if luma_stats is not None:
            luma = luminance(style)
            mean, std = luma_stats
            luma = (luma - luma.mean()) * (std / max(float(luma.std()), 1e-3)) + mean
            style = _gray3(np.clip(luma, 0, 255))
        # While steering, the scorer's layers too: their Grams come from the same pass.
        layers = self.config.style_layers
        if self.style_weight is None:
            layers = tuple(dict.fromkeys((*layers, *METRIC_LAYERS)))
        with torch.no_grad():
            feats = self._forward(_to_tensor(style, self.device), layers)
            grams = {name: gram_matrix(feats[name]) for name in layers}
        self._grams[key] = grams
        while len(self._grams) > GRAM_CACHE_SIZE:
            self._grams.popitem(last=False)
        return grams

    def _level(
        self,
        content: np.ndarray,
        temporal: tuple[np.ndarray, np.ndarray] | None,
        luma_stats: tuple[float, float] | None,
        style_weight: float,
    ) -> _Level:
        height, width = content.shape[:2]
        layer = self.config.content_layer
        with torch.no_grad():
            target = self._forward(_to_tensor(content, self.device), (layer,))[layer]
        level_temporal = None
        if temporal is not None and self.config.temporal_weight > 0:
            warped = _resize(temporal[0], height, width)
            mask = _resize(temporal[1], height, width)
            if float(mask.sum()) > 0:
                mask_t = torch.from_numpy(np.ascontiguousarray(mask, np.float32))
                level_temporal = (
                    _to_tensor(warped, self.device),
                    mask_t.to(self.device)[None, None],
                )
        grams = self.style_grams(height, width, luma_stats)
        return _Level(target, grams, style_weight, level_temporal)

    # -- public ---------------------------------------------------------------------------

    def stylize(
        self,
        content: np.ndarray,
        init: np.ndarray | None = None,
        temporal: tuple[np.ndarray, np.ndarray] | None = None,
        steps: int | None = None,
        progress: ProgressFn | None = None,
    ) -> np.ndarray:
        """Optimise ``content`` (uint8 HxWx3 RGB) towards the painting; uint8 HxWx3 RGB.

        ``init`` (uint8, the content's size) is the starting image, at the full size only:
        coarse levels would throw its detail away. Without it ``config.init`` decides and
        the optimisation runs coarse to fine. ``temporal`` = (warped previous output uint8
        HxWx3, trust mask float32 HxW in [0, 1]) adds the short-term temporal loss.
        ``steps`` overrides ``config.steps`` (the full-size evaluations). ``progress(step,
        total, loss)`` is called after each evaluation, ``step`` counting from 1 to
        ``total`` over all levels (it ends early only if the gradient vanishes).
        """
        config = self.config
        _check_rgb("content", content)
        if init is not None:
            _check_rgb("init", init, content.shape)
        elif config.init == "image":
            raise UserError(
                "gatys init 'image' needs a starting image; pass one or use init content or noise"
            )
        if temporal is not None:
            _check_rgb("temporal target", temporal[0], content.shape)
            mask = np.asarray(temporal[1])
            if mask.shape != content.shape[:2]:
                raise ValueError(f"temporal mask {mask.shape} is not {content.shape[:2]}")
            temporal = (temporal[0], np.clip(mask.astype(np.float32), 0.0, 1.0))
        full_steps = config.steps if steps is None else steps
        if not isinstance(full_steps, int) or full_steps < 0:
            raise UserError(f"gatys steps must be a whole number 0 or more, got {full_steps!r}")

        height, width = content.shape[:2]
        work: np.ndarray = content.astype(np.float32)
        start = None if init is None else init.astype(np.float32)
        target = None if temporal is None else temporal[0].astype(np.float32)
        luma_stats = None
        if config.preserve_color:
            # Luminance-only transfer: everything the optimiser sees is grey.
            luma = luminance(content)
            quantum = LUMA_STAT_STEP
            luma_stats = (
                round(float(luma.mean()) / quantum) * quantum,
                round(float(luma.std()) / quantum) * quantum,
            )
            work = _gray3(luma)
            start = None if start is None else _gray3(luminance(start))
            target = None if target is None else _gray3(luminance(target))
        work_temporal = None if temporal is None else (target, temporal[1])

        sizes = [(height, width)] if init is not None else level_sizes(height, width, config.scales)
        plan = [(size, config.coarse_steps) for size in sizes[:-1]] + [(sizes[-1], full_steps)]
        total = sum(n for _, n in plan)
        done = 0
        steering = self.style_weight is None
        weight = config.balance_start if self.style_weight is None else self.style_weight
        x = _to_tensor(start if start is not None else self._initial(work, *sizes[0]), self.device)
        for (level_h, level_w), level_steps in plan:
            level_content = _resize(work, level_h, level_w)
            if x.shape[-2:] != (level_h, level_w):
                x = self._upsample(x, level_content)
            if level_steps == 0:
                continue
            level = self._level(level_content, work_temporal, luma_stats, weight)
            if steering:
                finest = (level_h, level_w) == sizes[-1]
                aim = config.balance_target * (1.0 if finest else config.balance_coarse)
                photo = np.rint(level_content).astype(np.uint8)
                x, weight = self._steered(
                    x, level, level_steps, (done, total), progress, aim, photo
                )
            else:
                x = self._optimise(x, level, level_steps, done, total, progress)
            done += level_steps
        if steering:
            self.style_weight = weight  # kept: later images (a video's frames) look alike

        result = _to_array(x)
        if config.preserve_color:
            return with_luminance(content, luminance(result))
        return np.rint(result).astype(np.uint8)

    # -- optimisation ---------------------------------------------------------------------

    def _steered(
        self,
        x: torch.Tensor,
        level: _Level,
        steps: int,
        position: tuple[int, int],
        progress: ProgressFn | None,
        target: float,
        photo: np.ndarray,
    ) -> tuple[torch.Tensor, float]:
        """``steps`` evaluations in segments, the style weight re-aimed at ``target`` and at
        the edge floor (edges against ``photo``, uint8) after each but the first and last
        (``models.gatys_balance``); the result and the weight it ended with."""
        done, total = position
        h, w = x.shape[-2:]
        aim = {name: level.grams[name] for name in METRIC_LAYERS}
        segments = max(1, steps // self.config.balance_segment)
        for index in range(segments):
            count = steps // segments + (1 if index < steps % segments else 0)
            x = self._optimise(x, level, count, done, total, progress)
            done += count
            if SETTLE_SEGMENTS <= index < segments - 1:
                with torch.no_grad():
                    distance = gram_distance(self._forward(x, METRIC_LAYERS), aim)
                edges = 1.0
                if self.config.balance_edges > 0:
                    edges = edge_correlation(np.rint(_to_array(x)).astype(np.uint8), photo)
                weight = next_weight(
                    level.style_weight, distance, target, edges, self.config.balance_edges
                )
                self.steering.append((int(max(h, w)), distance, weight, edges))
                level = dataclasses.replace(level, style_weight=weight)
        return x, level.style_weight

    def _initial(self, content: np.ndarray, height: int, width: int) -> np.ndarray:
        if self.config.init == "noise":
            generator = np.random.default_rng(self.config.seed)
            return generator.uniform(0, 255, (height, width, 3)).astype(np.float32)
        return _resize(content, height, width)

    def _upsample(self, x: torch.Tensor, content: np.ndarray) -> torch.Tensor:
        """The coarser level's result at ``content``'s size, with the content's detail.

        Upsampling alone gives a blurred start that the finer level's steps, pulled by a
        deep content layer, do not sharpen again (it cost content distance: docs/GATYS.md,
        "Measurements moved from the code"). So the start is the coarse result's low
        frequencies plus the content's high frequencies, which the coarse level could not
        hold.
        """
        height, width = content.shape[:2]
        coarse = _to_tensor(_resize(content, *x.shape[-2:]), self.device)
        fine = _to_tensor(content, self.device)

        def up(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, size=(height, width), mode="bicubic", align_corners=False)

        return (up(x) + fine - up(coarse)).clamp(0, 255)

    def _loss(self, x: torch.Tensor, level: _Level) -> torch.Tensor:
        config = self.config
        feats = self._forward(x, self._layers, optimising=True)
        style = sum(
            (
                self._layer_weights[name]
                * style_layer_loss(gram_matrix(feats[name]), level.grams[name])
                for name in config.style_layers
            ),
            start=torch.zeros((), device=x.device),
        )
        loss = (
            config.content_weight * content_loss(feats[config.content_layer], level.content)
            + level.style_weight * style
            + config.tv_weight * total_variation(x)
        )
        if level.temporal is not None:
            warped, mask = level.temporal
            # Ruder et al.'s masked squared difference on the [0, 1] scale, divided by the
            # mask's mean: the weight means the same whatever share of pixels is trusted.
            squared = ((x - warped) / 255.0).pow(2) * mask
            loss = loss + config.temporal_weight * squared.mean() / mask.mean()
        return loss

    @staticmethod
    def _lbfgs(
        x: torch.Tensor,
        closure: Callable[[], torch.Tensor],
        gradient: Callable[[], torch.Tensor],
        evaluations: Callable[[], int],
        steps: int,
    ) -> None:
        """One run of L-BFGS from a fresh memory, until it stops or the budget ends.

        ``gradient()``: the last evaluation's; ``evaluations()``: how many there were.
        """
        # Zero tolerances: the evaluation budget ends the run, not a convergence test made
        # for other loss scales.
        optimizer = torch.optim.LBFGS(
            [x],
            lr=1.0,
            max_iter=1,
            max_eval=steps,
            history_size=50,
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )
        closure()
        size = gradient().abs()
        if float(size.max()) == 0:
            return
        # L-BFGS's first step is the gradient times min(1, 1/|g|_1): for these normalised
        # losses on 0..255 pixels (gradients ~1e-6 a pixel at 256 px) that moves no pixel
        # by a float32 ulp, and L-BFGS never measures the curvature (the loss stood still).
        # Scale that one step to move the steepest pixel FIRST_STEP grey levels; the line
        # search takes it from there.
        first = min(1.0, 1.0 / float(size.sum()))
        optimizer.param_groups[0]["lr"] = FIRST_STEP / (first * float(size.max()))
        optimizer.step(closure)
        optimizer.param_groups[0].update(lr=1.0, max_iter=steps)
        while True:
            before = evaluations()
            optimizer.step(closure)
            if evaluations() == before:
                return  # it stopped without trying a new point: its memory is stale

    def _optimise(
        self,
        x: torch.Tensor,
        level: _Level,
        steps: int,
        done: int,
        total: int,
        progress: ProgressFn | None,
    ) -> torch.Tensor:
        config = self.config
        x = x.detach().clone().requires_grad_(True)
        best: list = [math.inf, None]  # (loss, image) of the best point evaluated
        last: list = [None, None, None]  # (image, loss, gradient) of the last evaluation
        count = 0

        def closure() -> torch.Tensor:
            nonlocal count
            if last[0] is not None and torch.equal(x.detach(), last[0]):
                # L-BFGS re-evaluates where it stands at each step() call: free here.
                x.grad = last[2].clone()
                return last[1]
            if count >= steps:
                raise _BudgetSpent
            x.grad = None
            loss = self._loss(x, level)
            loss.backward()
            count += 1
            value = float(loss.detach())
            last[:] = [x.detach().clone(), loss.detach(), x.grad.detach().clone()]
            if value < best[0]:
                best[0], best[1] = value, last[0]
            if progress is not None:
                progress(done + count, total, value)
            return loss

        with torch.enable_grad():
            if config.optimizer == "lbfgs":
                # ``steps`` counts evaluations (one forward and backward each), the cost.
                # L-BFGS may stop early (no descent direction left in its memory): start it
                # afresh then, until the budget is used. It may also run past the budget in
                # a line search: the closure stops it right there.
                with contextlib.suppress(_BudgetSpent):
                    while count < steps:
                        before = count
                        self._lbfgs(x, closure, lambda: last[2], lambda: count, steps)
                        if count == before:
                            break  # a zero gradient: nothing left to do
                # A line search cut short leaves x at an untried point; the best point
                # evaluated is the accepted one or better.
                result = best[1] if best[1] is not None else x.detach()
            else:
                optimizer = torch.optim.Adam([x], lr=config.learning_rate)
                for _ in range(steps):
                    optimizer.step(closure)
                    with torch.no_grad():
                        x.clamp_(0, 255)
                result = x.detach()
                if not bool(torch.isfinite(result).all()) and best[1] is not None:
                    result = best[1]
        return result.clamp(0, 255)
