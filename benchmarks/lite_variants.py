"""Inference cost of lite TransformerNet variants against the full network, on ONNX Runtime.

For each variant: parameters, GMAC per frame at the resolution (counted from the
convolutions), and the median model-only latency of the exported fp32 ONNX graph on the CPU
provider (the same session options as ``realtime``: all graph optimisations, intra-op threads
= cores). Weights are random: speed does not depend on them. Quality needs training, so it is
measured separately (docs/BENCHMARKS.md, "Lite network").

    python benchmarks/lite_variants.py --width 640 --height 360 --runs 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_ms  # noqa: E402

from export.onnx_export import export_model  # noqa: E402
from models.lite_net import LiteSpec, LiteTransformerNet  # noqa: E402
from models.transformer_net import TransformerNet  # noqa: E402
from realtime.cli.wiring import parity_session  # noqa: E402
from realtime.core.config import EngineConfig  # noqa: E402
from realtime.runtime.engine import create_session  # noqa: E402

VARIANTS: dict[str, LiteSpec | None] = {
    "full": None,
    "w16-r3-sep-k9": LiteSpec((16, 32, 64), 3, True, 9, 9),
    "w16-r5-sep-k9": LiteSpec((16, 32, 64), 5, True, 9, 9),
    "w16-r3-sep-k5": LiteSpec((16, 32, 64), 3, True, 5, 5),
    "w16-r3-full-k9": LiteSpec((16, 32, 64), 3, False, 9, 9),
    "w24-r3-sep-k9": LiteSpec((24, 48, 96), 3, True, 9, 9),
    "w8-r3-sep-k9": LiteSpec((8, 16, 32), 3, True, 9, 9),
    "half-w16-r3-sep": LiteSpec((16, 32, 64), 3, True, 3, 3, True),
    "half-w32-r5-sep": LiteSpec((32, 64, 128), 5, True, 3, 3, True),
    "half-w32-r5-full": LiteSpec((32, 64, 128), 5, False, 3, 3, True),
    "half-w24-r4-sep": LiteSpec((24, 48, 96), 4, True, 3, 3, True),
    "half-w32-r5-sep-k5": LiteSpec((32, 64, 128), 5, True, 5, 5, True),
    "half-w16-96-r5-sep": LiteSpec((16, 32, 96), 5, True, 3, 3, True),
    "half-w16-r5-sep": LiteSpec((16, 32, 64), 5, True, 3, 3, True),
}


def gmac(model: nn.Module, height: int, width: int) -> float:
    """Multiply-accumulates of every convolution for one frame, in billions."""
    total = 0

    def hook(module: nn.Conv2d, _inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal total
        per_output = module.in_channels // module.groups * module.kernel_size[0]
        total += output.numel() * per_output * module.kernel_size[1]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, height, width))
    for h in handles:
        h.remove()
    return total / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    torch.manual_seed(0)
    frame = np.random.default_rng(0).uniform(0, 255, (1, 3, args.height, args.width))
    frame = frame.astype(np.float32)
    cores = os.cpu_count()
    print(f"{args.width}x{args.height}, CPU provider, {cores} cores, median of {args.runs}")
    print("| variant | params | GMAC | model-only ms | fps |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants.split(","):
            spec = VARIANTS[name]
            model = (TransformerNet() if spec is None else LiteTransformerNet(spec)).eval()
            path = Path(tmp) / f"{name}.onnx"
            export_model(model, path, style_name=name, session_factory=parity_session)
            session, _ = create_session(path, EngineConfig(device="cpu"), announce=False)
            feed = {session.get_inputs()[0].name: frame}
            ms = median_ms(session.run, args.runs, None, feed)
            params = sum(p.numel() for p in model.parameters())
            macs = gmac(model, args.height, args.width)
            print(f"| {name} | {params / 1e3:.0f}k | {macs:.2f} | {ms:.1f} | {1000 / ms:.1f} |")


if __name__ == "__main__":
    main()
