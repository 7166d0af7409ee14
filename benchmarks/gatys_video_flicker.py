"""Flicker of video by optimisation: the no-network mode against per-frame Gatys.

    python benchmarks/gatys_video_flicker.py --shared ../shared --out gatys-video

Cuts the first ``--seconds`` of ``cockatoo.mp4`` and scales it to ``--size`` (long side), so
the optimisation, the output and the metric all work at one size. Then it stylizes that clip
with ``realtime video --style-image`` in three ways, with the same steps per keyframe:

- ``temporal``: the no-network mode as shipped (every frame after the first starts from the
  warped previous output and carries the temporal loss; keyframes every ``--interval``
  frames take the full step count);
- ``no-temporal``: the same with ``--temporal-weight 0`` (warped start, no temporal term);
- ``independent``: every frame a keyframe optimised from its own content
  (``--keyframe-interval 1 --keyframe-start content``): per-frame Gatys.

Each output is scored with ``realtime eval temporal`` (warping error, lower is smoother) and
its style distance to the painting. Prints a Markdown table and JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2

VARIANTS = {
    "temporal": [],
    "no-temporal": ["--temporal-weight", "0"],
    "independent": ["--keyframe-interval", "1", "--keyframe-start", "content"],
}


def cut_clip(source: Path, target: Path, seconds: float, long_side: int) -> int:
    """The first ``seconds`` of ``source`` at ``long_side``, near-lossless H.264; frames."""
    with av.open(str(source)) as container, av.open(str(target), "w") as out:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate)
        scale = long_side / max(stream.width, stream.height)
        size = (round(stream.width * scale / 2) * 2, round(stream.height * scale / 2) * 2)
        video = out.add_stream("libx264", rate=rate, options={"preset": "slow", "crf": "8"})
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = 1 / rate
        count = 0
        for frame in container.decode(stream):
            if count >= round(seconds * rate):
                break
            image = cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
            encoded = av.VideoFrame.from_ndarray(image, format="rgb24")
            encoded.pts = count
            out.mux(video.encode(encoded))
            count += 1
        out.mux(video.encode(None))
    return count


def realtime(*args: str | Path) -> str:
    command = [sys.executable, "-m", "realtime", *map(str, args)]
    print("$ realtime " + " ".join(map(str, args)), file=sys.stderr, flush=True)
    return subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--style", default="mosaic", help="a painting in shared/data/styles")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--steps", type=int, default=150, help="per keyframe")
    parser.add_argument("--frame-steps", type=int, default=30)
    parser.add_argument("--interval", type=int, default=20)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("gatys-video"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.shared / "weights" / "vgg16-imagenet-features.pth"
    painting = args.shared / "data" / "styles" / f"{args.style}.jpg"
    clip = args.out / "cockatoo-cut.mp4"
    frames = cut_clip(
        args.shared / "data" / "video" / "cockatoo.mp4", clip, args.seconds, args.size
    )
    rows = []
    for name in args.variants.split(","):
        output = args.out / f"{name}.mp4"
        started = time.perf_counter()
        realtime(
            "video", clip, output, "--style-image", painting, "--vgg-weights", weights,
            "--steps", args.steps, "--frame-steps", args.frame_steps,
            "--keyframe-interval", args.interval, "--crf", "8", *VARIANTS[name],
        )  # fmt: skip
        seconds = time.perf_counter() - started
        scores = json.loads(
            realtime(
                "eval",
                "temporal",
                clip,
                output,
                "--style-image",
                painting,
                "--vgg-weights",
                weights,
                "--style-every",
                "5",
                "--json",
                "--quiet",
            )  # fmt: skip
        )
        row = {"variant": name, "frames": frames, "seconds": round(seconds, 1), **scores}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{frames} frames of cockatoo.mp4 at a long side of {args.size}, style {args.style}")
    print(f"keyframes {args.steps} steps, frames between {args.frame_steps} steps\n")
    print("| variant | time | warping error | style distance |")
    print("|---|---|---|---|")
    for row in rows:
        style = row["output_style_distance"]
        print(
            f"| {row['variant']} | {row['seconds']:.0f} s | {row['warping_error']:.6f} "
            f"| {style:.3f} |"
        )


if __name__ == "__main__":
    main()
