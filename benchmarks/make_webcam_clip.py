"""The 640x360, 30 fps clip that docs/BENCHMARKS.md plays as a camera (`realtime webcam`).

Every frame of ``cockatoo.mp4`` (1280x720, 20 fps, 280 frames), resized to 640x360 and
written at 30 fps, so the source is faster than the 15 fps a live style must reach.

    python benchmarks/make_webcam_clip.py --shared ../shared --out c360.mp4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--out", type=Path, default=Path("c360.mp4"))
    args = parser.parse_args()
    with (
        av.open(str(args.shared / "data/video/cockatoo.mp4")) as source,
        av.open(str(args.out), "w") as sink,
    ):
        stream = sink.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for frame in source.decode(video=0):
            image = frame.to_ndarray(format="rgb24", width=640, height=360)
            sink.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        sink.mux(stream.encode())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
