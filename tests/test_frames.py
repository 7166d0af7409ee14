"""Frame stages: sizes, strength blend, colour preservation, composition."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.core.config import ProcessConfig
from realtime.core.errors import UserError
from realtime.runtime.frames import (
    FrameProcessor,
    PreserveColor,
    Strength,
    output_stages,
    processing_size,
)


def _frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_processing_size_long_side_and_scale() -> None:
    assert processing_size(1280, 720, ProcessConfig(size=640)) == (640, 360)
    assert processing_size(720, 1280, ProcessConfig(size=640)) == (360, 640)
    assert processing_size(1280, 720, ProcessConfig(scale=0.5)) == (640, 360)
    assert processing_size(1280, 720, ProcessConfig()) == (1280, 720)


def test_processing_size_rejects_tiny_and_conflicting() -> None:
    with pytest.raises(UserError, match="too small"):
        processing_size(1280, 720, ProcessConfig(size=20))
    with pytest.raises(UserError, match="not both"):
        processing_size(1280, 720, ProcessConfig(size=640, scale=0.5))


def test_strength_blends_linearly() -> None:
    styled = np.full((4, 4, 3), 200, np.uint8)
    source = np.full((4, 4, 3), 100, np.uint8)
    assert Strength(0.25)(styled, source)[0, 0, 0] == 125
    assert Strength(1.0)(styled, source) is styled
    with pytest.raises(UserError, match="between 0 and 1"):
        Strength(1.5)


def test_preserve_color_keeps_source_chroma_and_stylized_luma() -> None:
    styled, source = _frame(32, 24, 1), _frame(32, 24, 2)
    out = PreserveColor()(styled, source)
    out_ycc = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb).astype(int)
    src_ycc = cv2.cvtColor(source, cv2.COLOR_RGB2YCrCb).astype(int)
    sty_ycc = cv2.cvtColor(styled, cv2.COLOR_RGB2YCrCb).astype(int)
    # Round trips through 8-bit RGB cost a few levels, and gamut clipping a few more.
    assert np.mean(np.abs(out_ycc[..., 1:] - src_ycc[..., 1:])) < 4
    assert np.mean(np.abs(out_ycc[..., 0] - sty_ycc[..., 0])) < 4
    assert np.mean(np.abs(out_ycc[..., 1:] - sty_ycc[..., 1:])) > 20


def test_processor_runs_network_at_processing_size_and_writes_output_size() -> None:
    seen: list[tuple[int, ...]] = []

    def network(frame: np.ndarray) -> np.ndarray:
        seen.append(frame.shape)
        return 255 - frame

    config = ProcessConfig(size=64, output_size=(200, 100))
    processor = FrameProcessor(network, config, at_output_size=output_stages(config))
    out = processor(_frame(128, 72))
    assert seen == [(36, 64, 3)]
    assert out.shape == (100, 200, 3) and out.dtype == np.uint8


def test_processor_strength_zero_returns_source() -> None:
    config = ProcessConfig(strength=0.0)
    processor = FrameProcessor(lambda f: 255 - f, config, at_output_size=output_stages(config))
    source = _frame(40, 30)
    assert np.array_equal(processor(source), source)


def test_output_stages_validate_strength() -> None:
    with pytest.raises(UserError, match="between 0 and 1"):
        output_stages(ProcessConfig(strength=-0.1))
