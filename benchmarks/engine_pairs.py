"""Live fps of two engine settings, in alternating pairs (docs/BENCHMARKS.md, "OpenVINO").

The machine's speed drifts more than some of the differences measured (other work shares
the cores), so the two settings run one after the other, pair after pair, and the ratio is
taken within each pair; the median of the ratios is the answer.

    python benchmarks/make_webcam_clip.py --shared ../shared --out c360.mp4
    python benchmarks/engine_pairs.py --camera c360.mp4 --pairs 5 --duration 20 \\
        --args "--style mosaic --arch full" --a "" --b "--device cpu"

Each run is ``realtime webcam --camera CLIP --no-window --duration D ARGS A|B``; its fps is
the one of its closing summary (frames out over the run's length).
"""

from __future__ import annotations

import argparse
import re
import shlex
import statistics
import subprocess
import sys

SUMMARY = re.compile(r"\(([0-9.]+) fps\)")


def live_fps(camera: str, duration: float, args: list[str]) -> tuple[float, str]:
    """(fps, the engine's startup line) of one ``realtime webcam`` run."""
    command = ["realtime", "webcam", "--camera", camera, "--no-window", "--duration",
               str(duration), *args]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    found = SUMMARY.findall(result.stdout + result.stderr)
    if not found:
        raise SystemExit(f"no fps in the output of {shlex.join(command)}:\n{result.stderr}")
    engine = next(
        (line for line in result.stderr.splitlines() if " on " in line and "threads" in line), ""
    )
    return float(found[-1]), engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--camera", required=True)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--args", default="", help="options for both runs")
    parser.add_argument("--a", default="", help="options of the first setting")
    parser.add_argument("--b", default="--device cpu", help="options of the second setting")
    options = parser.parse_args()
    common = shlex.split(options.args)
    ratios = []
    for index in range(options.pairs):
        fps_a, engine_a = live_fps(
            options.camera, options.duration, common + shlex.split(options.a)
        )
        fps_b, engine_b = live_fps(
            options.camera, options.duration, common + shlex.split(options.b)
        )
        ratios.append(fps_a / fps_b)
        print(f"pair {index + 1}: A {fps_a:.2f} fps, B {fps_b:.2f} fps, A/B {ratios[-1]:.2f}")
        if index == 0:
            print(f"  A: {engine_a}\n  B: {engine_b}")
    print(f"median A/B over {len(ratios)} pairs: {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
