"""Frame-in/frame-out stages around the network, and the processor that composes them.

Frames are uint8 (H, W, 3) RGB arrays. Post-stages see the stylized frame and the source
frame at the same size, because blending and colour transfer need both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from realtime.core.config import ProcessConfig
from realtime.core.errors import UserError

Frame = np.ndarray
Stylize = Callable[[Frame], Frame]

# The smallest side the processing size may shrink to: below this TransformerNet's
# padding no longer fits (models.transformer_net.MIN_SIDE) and the result is useless anyway.
MIN_PROCESS_SIDE = 16


class Stage(Protocol):
    """A frame-in/frame-out step. ``source`` is the input frame at the same size as ``frame``."""

    def __call__(self, frame: Frame, source: Frame) -> Frame: ...


def resize(frame: Frame, size: tuple[int, int]) -> Frame:
    """Resize to (width, height); area filter when shrinking (no aliasing), linear when growing."""
    height, width = frame.shape[:2]
    if (width, height) == size:
        return frame
    shrinking = size[0] * size[1] < width * height
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def processing_size(width: int, height: int, config: ProcessConfig) -> tuple[int, int]:
    """The (width, height) the network sees: the long side set by ``size``, or ``scale``."""
    if config.size is not None and config.scale is not None:
        raise UserError("give either --size or --scale, not both")
    if config.size is not None:
        factor = config.size / max(width, height)
    elif config.scale is not None:
        factor = config.scale
    else:
        return width, height
    if factor <= 0:
        raise UserError("--size and --scale must be positive")
    new = (max(1, round(width * factor)), max(1, round(height * factor)))
    if min(new) < MIN_PROCESS_SIDE:
        raise UserError(
            f"processing size {new[0]}x{new[1]} is too small; "
            f"use a --size or --scale that keeps each side at least {MIN_PROCESS_SIDE} px"
        )
    return new


def clamp_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """``size`` (width, height) scaled down, aspect kept, so its long side is at most
    ``max_side`` (None: no limit); the sizes a TensorRT engine was built for."""
    width, height = size
    if max_side is None or max(width, height) <= max_side:
        return size
    factor = max_side / max(width, height)
    return (
        min(max_side, max(1, round(width * factor))),
        min(max_side, max(1, round(height * factor))),
    )


@dataclass
class Strength:
    """Blend the stylized frame with the source: 1 is fully stylized, 0 the original."""

    amount: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.amount <= 1.0:
            raise UserError(f"--strength must be between 0 and 1, got {self.amount}")

    def __call__(self, frame: Frame, source: Frame) -> Frame:
        if self.amount >= 1.0:
            return frame
        return cv2.addWeighted(frame, self.amount, source, 1.0 - self.amount, 0.0)


class PreserveColor:
    """Keep the source's chroma and take only the stylized luminance (Gatys et al. 2016),
    so a painting's palette does not repaint the scene."""

    def __call__(self, frame: Frame, source: Frame) -> Frame:
        stylized = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb)
        original = cv2.cvtColor(source, cv2.COLOR_RGB2YCrCb)
        original[..., 0] = stylized[..., 0]
        return cv2.cvtColor(original, cv2.COLOR_YCrCb2RGB)


@dataclass
class FrameProcessor:
    """Source frame -> processing size -> network -> process-size stages -> output size ->
    output stages. One instance per stream: stages may keep state between frames."""

    stylize: Stylize
    process_config: ProcessConfig
    # Stages at the processing size, right after the network (e.g. temporal smoothing).
    at_process_size: Sequence[Stage] = field(default_factory=list)
    # Stages at the output size (strength, colour preservation).
    at_output_size: Sequence[Stage] = field(default_factory=list)

    def sizes(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """(processing size, output size) for a source of this size. The processing size is
        kept within what the network's engine takes (its ``max_side``, if it has one)."""
        output = self.process_config.output_size or (width, height)
        process = processing_size(width, height, self.process_config)
        return clamp_size(process, getattr(self.stylize, "max_side", None)), output

    @property
    def frames_independent(self) -> bool:
        """Whether ``network`` may run on several frames at once (out of order): true for a
        stateless network; stages with state run in ``finish``, in order, either way."""
        return bool(getattr(self.stylize, "stateless", False))

    def network(self, source: Frame) -> tuple[Frame, Frame]:
        """The first step: (stylized, source) at the processing size."""
        height, width = source.shape[:2]
        small = resize(source, self.sizes(width, height)[0])
        return self.stylize(small), small

    def finish(self, stylized: Frame, small: Frame, source: Frame) -> Frame:
        """The second step, in frame order: the stages with state, the output size."""
        frame = stylized
        for stage in self.at_process_size:
            frame = stage(frame, small)
        output = self.sizes(source.shape[1], source.shape[0])[1]
        frame = resize(frame, output)
        if self.at_output_size:
            target = resize(source, output)
            for stage in self.at_output_size:
                frame = stage(frame, target)
        return frame

    def __call__(self, source: Frame) -> Frame:
        return self.finish(*self.network(source), source)


def output_stages(config: ProcessConfig) -> list[Stage]:
    """The output-size stages a ProcessConfig asks for, in the order they apply."""
    if not 0.0 <= config.strength <= 1.0:
        raise UserError(f"--strength must be between 0 and 1, got {config.strength}")
    stages: list[Stage] = []
    if config.preserve_color:
        stages.append(PreserveColor())
    if config.strength < 1.0:
        stages.append(Strength(config.strength))
    return stages
