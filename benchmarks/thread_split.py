"""How to split a CPU's cores between inference, decoding and encoding (docs/BENCHMARKS.md).

    python benchmarks/thread_split.py --frames 60

For 360p and 720p synthetic clips (``realtime.app.bench``'s: textured and moving) and a full
and a lite style, it measures the stylizer alone (preprocess + inference + postprocess) and
the real ``realtime video`` pipeline end to end (decode, stylize, encode in their threads;
temporal stage off, as ``realtime bench`` measures it), for each split of threads:
ONNX Runtime intra-op threads, FFmpeg decoder threads and x264 threads, at the given x264
preset. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

from realtime.app.bench import RESOLUTIONS, make_clip, synthetic_frames
from realtime.app.build import build_processor, open_stylizer
from realtime.core.config import EncodeConfig, EngineConfig, ProcessConfig
from realtime.media.video_file import stylize_video


def stylizer_fps(stylizer, frames) -> float:
    stylizer(frames[0])
    start = time.perf_counter()
    for frame in frames[1:]:
        stylizer(frame)
    return (len(frames) - 1) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", default="mosaic-lite,mosaic")
    parser.add_argument("--resolutions", default="360p,720p")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crf", type=int, default=20)
    parser.add_argument("--tune", default="ssim")
    parser.add_argument(
        "--splits",
        default="2:0:0,2:1:1,2:1:2,1:1:1,2:2:1",
        help="inference:decode:encode threads, comma-separated (0: the library's own choice)",
    )
    args = parser.parse_args()
    cores = os.cpu_count()
    print(f"{cores} cores; x264 {args.preset} crf {args.crf} tune {args.tune}; "
          f"{args.frames} frames; temporal off")  # fmt: skip
    print("| style | resolution | inference:decode:encode threads | model-only fps "
          "| end-to-end fps | e2e / model-only |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for style, resolution in itertools.product(
            args.styles.split(","), args.resolutions.split(",")
        ):
            width, height = RESOLUTIONS[resolution]
            frames = synthetic_frames(width, height, args.frames)
            clip = Path(tmp) / f"{resolution}.mp4"
            if not clip.exists():
                make_clip(clip, frames)
            for split in args.splits.split(","):
                inference, decode, encode = (int(x) for x in split.split(":"))
                engine = EngineConfig(device="cpu", threads=inference)
                stylizer, _ = open_stylizer(style, engine, announce=False)
                alone = stylizer_fps(stylizer, frames[: max(5, args.frames // 3)])
                process = ProcessConfig(temporal="off")
                config = EncodeConfig(
                    encoder="libx264",
                    crf=args.crf,
                    preset=args.preset,
                    tune=None if args.tune == "none" else args.tune,
                    threads=encode,
                )
                result = stylize_video(
                    clip, Path(tmp) / "out.mp4", build_processor(stylizer, process),
                    lambda w, h: (w, h), config, show_progress=False, decode_threads=decode,
                )  # fmt: skip
                print(
                    f"| {style} | {resolution} | {split} | {alone:.1f} | {result.fps:.1f} "
                    f"| {100 * result.fps / alone:.0f}% |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
