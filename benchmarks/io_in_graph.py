"""Frame conversion inside the graph (uint8 NHWC in and out) against on the host (float32 NCHW),
per frame on the CPU provider (docs/BENCHMARKS.md "Model I/O").

    python benchmarks/io_in_graph.py --runs 30

The same network (random weights: speed does not depend on them) is exported twice by the
project's exporter, once per I/O convention, and each is timed frame in, frame out, as the
engine runs it (``OnnxStylizer``: for float32 NCHW the host transposes, casts and rounds; for
uint8 NHWC the graph does).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from export.onnx_export import export_model
from models.transformer_net import build_network
from realtime.cli.wiring import parity_session
from realtime.core.config import EngineConfig
from realtime.runtime.engine import OnnxStylizer

SIZES = {"360p": (640, 360), "720p": (1280, 720)}


def per_frame_ms(stylizer: OnnxStylizer, frame: np.ndarray, runs: int) -> float:
    stylizer(frame)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        stylizer(frame)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="lite,full")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    engine = EngineConfig(device="cpu", threads=args.threads)
    print("| network | frame | float32 NCHW (host converts) ms | uint8 NHWC (in the graph) ms |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            torch.manual_seed(0)
            model = build_network(arch).eval()
            stylizers = {}
            for io in ("float32", "uint8"):
                path = Path(tmp) / f"{arch}-{io}.onnx"
                export_model(model, path, style_name=arch, io=io, session_factory=parity_session)
                stylizers[io] = OnnxStylizer(path, engine, announce=False)
            for name, (width, height) in SIZES.items():
                frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
                ms = {io: per_frame_ms(s, frame, args.runs) for io, s in stylizers.items()}
                print(f"| {arch} | {name} | {ms['float32']:.2f} | {ms['uint8']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
