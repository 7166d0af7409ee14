"""ONNX Runtime graph optimisation level and intra-op threads, for one style network.

Model-only latency at the given size on the CPU provider, median of --runs, for each level
(basic, extended, all) and 1..cores threads; fp16 models are upcast as the engine does.

    python benchmarks/ort_session_options.py --style mosaic-lite --width 640 --height 360
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_ms  # noqa: E402

from realtime.core.config import EngineConfig  # noqa: E402
from realtime.core.model_io import read_model_info  # noqa: E402
from realtime.runtime.precision import upcast_to_fp32  # noqa: E402
from realtime.runtime.styles import resolve_style  # noqa: E402

LEVELS = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="mosaic-lite")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    entry = resolve_style(args.style, EngineConfig(device="cpu"))
    fp16 = read_model_info(entry.path).precision == "fp16"
    model = upcast_to_fp32(entry.path) if fp16 else str(entry.path)
    frame = np.random.default_rng(0).uniform(0, 255, (1, 3, args.height, args.width))
    feed = {"input": frame.astype(np.float32)}
    print(f"{entry.name}, {args.width}x{args.height}, model-only ms, median of {args.runs}")
    print("| optimisation | " + " | ".join(f"{t} threads" for t in range(1, cores() + 1)) + " |")
    print("|---" * (cores() + 1) + "|")
    for name, level in LEVELS.items():
        cells = []
        for threads in range(1, cores() + 1):
            options = ort.SessionOptions()
            options.graph_optimization_level = level
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            cells.append(f"{median_ms(session.run, args.runs, None, feed):.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def cores() -> int:
    return os.cpu_count() or 1


if __name__ == "__main__":
    main()
