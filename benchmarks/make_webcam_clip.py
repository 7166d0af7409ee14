"""The 640x360, 30 fps clip that docs/BENCHMARKS.md plays as a camera (`realtime webcam`).

The frames of ``cockatoo.mp4`` (1280x720, 20 fps, 280 frames), resized to 640x360 and
written at 30 fps, so the source is faster than the 20 fps a live style must reach. Played
forwards, backwards, forwards... until the clip lasts ``--seconds`` (default 28, so a
``--duration 20`` run never runs out of camera): the motion turns round instead of cutting,
as a camera's would.

    python benchmarks/make_webcam_clip.py --shared ../shared --out c360.mp4
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import av
import numpy as np

FPS = 30


def ping_pong(frames: list[np.ndarray], count: int) -> list[np.ndarray]:
    """``count`` frames going forwards and backwards through ``frames`` (ends not repeated)."""
    forth_and_back = frames + frames[-2:0:-1]
    return list(itertools.islice(itertools.cycle(forth_and_back), count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--out", type=Path, default=Path("c360.mp4"))
    parser.add_argument("--seconds", type=float, default=28.0)
    # A faster, larger camera: the lite network's live fps not capped by the clip's own
    # (docs/TEMPORAL.md measures the stage's cost at 1280x720, 60 fps).
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=FPS)
    args = parser.parse_args()
    with av.open(str(args.shared / "data/video/cockatoo.mp4")) as source:
        frames = [
            frame.to_ndarray(format="rgb24", width=args.width, height=args.height)
            for frame in source.decode(video=0)
        ]
    with av.open(str(args.out), "w") as sink:
        stream = sink.add_stream("libx264", rate=args.fps)
        stream.width, stream.height, stream.pix_fmt = args.width, args.height, "yuv420p"
        for image in ping_pong(frames, round(args.seconds * args.fps)):
            sink.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        sink.mux(stream.encode())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
