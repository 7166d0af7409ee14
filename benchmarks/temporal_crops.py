"""docs/TEMPORAL.md's 1:1 strip: one frame's crop at native pixels, ``--temporal off``, the
stage as it was (now the webcam's, ``FAST``) and the default (``SHARP``), side by side.

    python benchmarks/temporal_crops.py ../shared/data/video/cockatoo.mp4 docs/temporal-crops.jpg \\
        --style mosaic --frame 60 --box 80,40,400,300

``--box X,Y,W,H`` is in the clip's pixels; nothing is scaled.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from temporal_quality import decoded, stylized

from realtime.temporal.stage import temporal_stage

LABEL_HEIGHT = 28


def labelled(tile: np.ndarray, text: str) -> np.ndarray:
    band = np.full((LABEL_HEIGHT, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([band, tile])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("clip", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--style", default="mosaic")
    parser.add_argument("--lite", action="store_true")
    parser.add_argument("--frame", type=int, default=60)
    parser.add_argument("--box", default="80,40,400,300", help="X,Y,W,H in the clip's pixels")
    args = parser.parse_args()
    x, y, w, h = (int(v) for v in args.box.split(","))
    frames = decoded(args.clip, args.frame + 1)
    reference = stylized(args.style, args.lite, frames)
    tiles = [labelled(reference[-1][y : y + h, x : x + w], "--temporal off")]
    for name, live in (("before (the webcam's stage)", True), ("after (video default)", False)):
        stage = temporal_stage("flow", fast=live)
        assert stage is not None
        for out, frame in zip(reference, frames, strict=True):
            result = stage(out.copy(), frame)
        tiles.append(labelled(result[y : y + h, x : x + w], name))
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    strip = np.hstack([part for tile in tiles for part in (tile, gap)][:-1])
    bgr = cv2.cvtColor(strip, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(args.out), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
    print(f"wrote {args.out}: {strip.shape[1]}x{strip.shape[0]}")


if __name__ == "__main__":
    main()
