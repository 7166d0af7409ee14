"""What does the multi-style network's style input cost per frame?

The mixable networks take the style weights as a graph input (N, styles) and compute each
norm's scale and shift inside the graph (``w @ rows``). The alternative, per-layer scale and
shift inputs computed on the host, would leave the graph exactly a single-style network's.
So the single-style file of the same style (its row, baked in) bounds the alternative from
below: if the mixable network is as fast as it, the (N, styles) input costs nothing worth
moving to the host.

    python benchmarks/style_input_cost.py --pairs paintings-lite:mosaic-lite paintings:mosaic
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from realtime.app.build import open_stylizer
from realtime.core.config import EngineConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=["paintings-lite:mosaic-lite"])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    args = parser.parse_args()
    frame = np.random.default_rng(0).integers(0, 256, (args.height, args.width, 3), np.uint8)
    print("| mixable network | ms | single-style network | ms | ratio |")
    print("|---|---|---|---|---|")
    for pair in args.pairs:
        mixable_name, single_name = pair.split(":")
        engine = EngineConfig(device="cpu")
        mixable, _ = open_stylizer(mixable_name, engine, announce=False)
        single, _ = open_stylizer(single_name, engine, announce=False)
        for _ in range(3):  # warm up: first runs allocate and pick kernels
            mixable(frame), single(frame)
        times: dict[str, list[float]] = {"mixable": [], "single": []}
        for _ in range(args.runs):  # interleaved, so drifts in machine speed hit both
            for key, stylize in (("mixable", mixable), ("single", single)):
                start = time.perf_counter()
                stylize(frame)
                times[key].append((time.perf_counter() - start) * 1000)
        m, s = statistics.median(times["mixable"]), statistics.median(times["single"])
        print(f"| {mixable_name} | {m:.1f} | {single_name} | {s:.1f} | {m / s:.3f} |", flush=True)


if __name__ == "__main__":
    main()
