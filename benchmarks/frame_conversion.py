"""Frame <-> tensor conversion around the network: the engine's way against alternatives.

uint8 (H, W, 3) RGB -> float32 (1, 3, H, W) before inference, and back after. At 640x360 the
lite network takes about 30 ms, so a millisecond here is a few percent of the frame budget.
Each variant is checked to give exactly the engine's result before it is timed.

    python benchmarks/frame_conversion.py --width 640 --height 360
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_ms  # noqa: E402

from realtime.runtime.engine import OnnxStylizer  # noqa: E402


def pre_numpy(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)


def pre_blob(frame: np.ndarray) -> np.ndarray:
    return cv2.dnn.blobFromImage(frame)


def pre_split(frame: np.ndarray) -> np.ndarray:
    out = np.empty((1, 3, *frame.shape[:2]), np.float32)
    for channel in range(3):
        out[0, channel] = frame[:, :, channel]
    return out


def post_numpy(tensor: np.ndarray) -> np.ndarray:
    # The engine's postprocess before this benchmark: transpose-clip, +0.5, truncate.
    out = np.empty((*tensor.shape[2:], 3), dtype=np.float32)
    np.clip(tensor[0].transpose(1, 2, 0), 0.0, 255.0, out=out)
    out += 0.5
    return out.astype(np.uint8)


def post_engine(tensor: np.ndarray) -> np.ndarray:
    return OnnxStylizer.postprocess(None, tensor)  # type: ignore[arg-type]


def post_merge(tensor: np.ndarray) -> np.ndarray:
    # convertScaleAbs rounds half away from zero and saturates: the engine's +0.5 and clip.
    return cv2.convertScaleAbs(cv2.merge([tensor[0, 0], tensor[0, 1], tensor[0, 2]]))


def post_merge_clipped(tensor: np.ndarray) -> np.ndarray:
    # convertScaleAbs takes the absolute value: negatives (a model without the in-graph clip)
    # must become 0 first, not their mirror image.
    merged = cv2.merge([tensor[0, 0], tensor[0, 1], tensor[0, 2]])
    return cv2.convertScaleAbs(cv2.max(merged, 0.0, dst=merged))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    # A network output: floats in [0, 255] with fractions, including exact halves.
    tensor = rng.uniform(0, 255, (1, 3, args.height, args.width)).astype(np.float32)
    tensor[0, 0, 0, :4] = (0.5, 1.5, 254.5, 255.0)
    print(f"{args.width}x{args.height}, median of {args.runs}")
    print("| conversion | variant | ms | same result |")
    print("|---|---|---|---|")
    reference = pre_numpy(frame)
    for name, fn in (("numpy (engine)", pre_numpy), ("cv2 blob", pre_blob), ("split", pre_split)):
        same = np.array_equal(fn(frame), reference)
        print(f"| pre | {name} | {median_ms(fn, args.runs, frame, warmup=1):.2f} | {same} |")
    tensor[0, 1, 0, :2] = (-3.0, 300.0)  # what a model without the in-graph clip can give
    reference = post_numpy(tensor)
    variants = (
        ("numpy (the engine's before)", post_numpy),
        ("engine now", post_engine),
        ("cv2 merge", post_merge),
        ("cv2 merge, clipped", post_merge_clipped),
    )
    for name, fn in variants:
        result = fn(tensor)
        differ = int(np.count_nonzero(result != reference))
        ties = int(np.count_nonzero(tensor % 1 == 0.5))
        same = "True" if differ == 0 else f"{differ} values differ ({ties} exact .5 ties)"
        print(f"| post | {name} | {median_ms(fn, args.runs, tensor, warmup=1):.2f} | {same} |")


if __name__ == "__main__":
    main()
