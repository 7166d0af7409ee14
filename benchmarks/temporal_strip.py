"""Make the image strip in docs/TEMPORAL.md: consecutive frames of the input, the plain
per-frame stylization (--temporal off) and the flow-blended one, one row each.

    python benchmarks/temporal_strip.py INPUT OFF.mp4 FLOW.mp4 OUT.jpg --start 100 --count 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from realtime.media.video_source import VideoFileSource


def frames(path: Path, start: int, count: int, width: int) -> list[np.ndarray]:
    picked = []
    with VideoFileSource(path) as source:
        for frame in source.frames():
            if frame.index >= start + count:
                break
            if frame.index >= start:
                height = round(frame.image.shape[0] * width / frame.image.shape[1])
                picked.append(
                    cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_AREA)
                )
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("input", type=Path)
    parser.add_argument("off", type=Path)
    parser.add_argument("flow", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--start", type=int, default=100)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--width", type=int, default=320, help="width of each tile")
    args = parser.parse_args()
    rows = []
    for label, path in (("input", args.input), ("off", args.off), ("flow", args.flow)):
        tiles = frames(path, args.start, args.count, args.width)
        row = np.concatenate(tiles, axis=1)
        cv2.putText(row, label, (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
        rows.append(row)
    strip = cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(args.out), strip, [cv2.IMWRITE_JPEG_QUALITY, 85])


if __name__ == "__main__":
    main()
