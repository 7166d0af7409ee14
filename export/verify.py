"""Parity of an exported model against the torch model it came from.

The ONNX model runs on ONNX Runtime's CPU provider through the same session factory the
stylizer uses (``realtime.runtime.engine.create_session``), at two sizes, one of them odd, on seeded
random images in [0, 255]. The maximum absolute difference must stay within a tolerance
relative to the torch output's range (max - min):

- fp32: 1e-3 of the range. Both sides compute in float32; what remains is summation order
  and the instance-norm variance formula, typically ~1e-5 absolute on a 0..255 output.
- fp16: 2e-2 of the range, about 5 grey levels on a full-range output. fp16 has an 11-bit
  significand (relative step 2^-11 ~ 4.9e-4, 0.125 at 255); the weights are rounded once and
  every convolution's output is rounded again on the way through 16 of them (InstanceNorm
  stays float32, see export/onnx_export.py). Measured on a seeded random-weight network with a
  full 0..255 output: max difference 0.54, i.e. 2e-3 of the range (tests/test_export.py); the
  10x margin is for trained weights with larger activations. A wrong graph (wrong op, swapped
  channels, missing clip) differs by a large fraction of the range and still fails.

The range is floored at 1 grey level so that a (degenerate) constant output does not demand
bit-exact equality.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from realtime.core import model_io
from realtime.core.errors import UserError

# An ONNX Runtime CPU session for a model file (realtime.cli.wiring.parity_session).
SessionFactory = Callable[[Path], Any]

# Export-time parity sizes: one square, one odd in both dimensions (odd sizes exercise the
# upsample-to-encoder-size path, see models/transformer_net.py).
PARITY_SIZES: tuple[tuple[int, int], ...] = ((256, 256), (97, 131))  # (height, width)
RELATIVE_TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2}


class ParityError(UserError):
    """The exported model's output differs from torch's by more than the tolerance."""


@dataclass(frozen=True)
class ParityResult:
    height: int
    width: int
    max_abs_diff: float
    output_range: float  # max - min of the torch output
    tolerance: float  # absolute: relative tolerance x max(range, 1)

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    def describe(self) -> str:
        return (
            f"{self.height}x{self.width}: max|diff| {self.max_abs_diff:.3g} "
            f"(tolerance {self.tolerance:.3g} = {self.tolerance / max(self.output_range, 1.0):.0e}"
            f" x range {self.output_range:.1f})"
        )


def random_image(height: int, width: int, seed: int) -> np.ndarray:
    """A float32 (1, 3, H, W) image in [0, 255]: smooth colour regions plus fine noise, so both
    flat areas and edges are exercised."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(1, 3, height // 8 + 2, width // 8 + 2))
    smooth = np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3)[:, :, :height, :width]
    noise = rng.normal(0, 20, size=(1, 3, height, width))
    return np.clip(smooth + noise, 0, 255).astype(np.float32)


def check_parity(
    model: torch.nn.Module,
    onnx_path: Path,
    precision: str,
    session_factory: SessionFactory,
    sizes: tuple[tuple[int, int], ...] = PARITY_SIZES,
    seed: int = 0,
) -> tuple[ParityResult, ...]:
    """Run ``model`` (torch, fp32, CPU) and ``onnx_path`` (an ONNX Runtime CPU session from
    ``session_factory``, the runtime's own factory, which the command line passes in) on the
    same images. Returns one result per size; raises ParityError if any is above tolerance.
    ``model`` must already clip to [0, 255] like the exported graph does.
    """
    relative = RELATIVE_TOLERANCE[precision]
    session = session_factory(onnx_path)
    # uint8 NHWC models (frames in the graph) round their output: one level apart is parity.
    frames = session.get_inputs()[0].type == "tensor(uint8)"
    # A multi-style network is checked on a mix of its styles, a new one at each size.
    styles = session.get_inputs()[1].shape[1] if len(session.get_inputs()) > 1 else None
    results = []
    for index, (height, width) in enumerate(sizes):
        image = random_image(height, width, seed + index)
        if frames:
            image = np.ascontiguousarray(image.round().astype(np.uint8).transpose(0, 2, 3, 1))
        feed = {model_io.INPUT_NAME: image}
        args = [torch.from_numpy(image)]
        if styles:
            mix = np.random.default_rng(seed + index).dirichlet(np.ones(styles))[None]
            feed[model_io.STYLE_INPUT_NAME] = mix.astype(np.float32)
            args.append(torch.from_numpy(feed[model_io.STYLE_INPUT_NAME]))
        with torch.inference_mode():
            expected = model(*args).numpy().astype(np.float32)
        got = session.run([model_io.OUTPUT_NAME], feed)[0]
        got = got.astype(np.float32)
        if got.shape != expected.shape:
            raise ParityError(
                f"exported model returns shape {got.shape} for input {image.shape}, torch "
                f"returns {expected.shape}; the export is broken, please report it"
            )
        output_range = float(expected.max() - expected.min())
        results.append(
            ParityResult(
                height=height,
                width=width,
                max_abs_diff=float(np.abs(got - expected).max()),
                output_range=output_range,
                tolerance=max(relative * max(output_range, 1.0), 1.0 if frames else 0.0),
            )
        )
    failed = [r for r in results if not r.passed]
    if failed:
        raise ParityError(
            f"ONNX output differs from torch ({precision}): "
            + "; ".join(r.describe() for r in failed)
            + "; the export is not trustworthy, please report it with the checkpoint"
        )
    return tuple(results)
