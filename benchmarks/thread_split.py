"""How to split a CPU's cores between inference, decoding and encoding (docs/BENCHMARKS.md).

    python benchmarks/thread_split.py --frames 90

For 360p and 720p synthetic clips (``realtime.app.bench``'s: textured and moving) and a full
and a lite style, it measures

- model-only fps: one frame at a time on every core (``realtime bench``'s figure, the
  reference the issue's targets are relative to), median per-frame time;
- the real ``realtime video`` pipeline end to end (decode, stylize, encode in their threads;
  temporal stage off, as ``realtime bench`` measures it), best of ``--repeat`` runs,

for each split: ONNX Runtime threads per inference x inferences at once, FFmpeg decoder
threads and x264 threads (0: the library's own choice), at each x264 preset given.
Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

from realtime.app.bench import RESOLUTIONS, make_clip, synthetic_frames
from realtime.app.build import build_processor, open_stylizer
from realtime.core.config import EncodeConfig, EngineConfig, ProcessConfig
from realtime.media.video_file import stylize_video


def model_only_fps(style: str, frames, runs: int) -> float:
    stylizer, _ = open_stylizer(style, EngineConfig(device="cpu"), announce=False)
    stylizer(frames[0])
    times = []
    for frame in frames[1 : runs + 1]:
        start = time.perf_counter()
        stylizer(frame)
        times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times)


def end_to_end_fps(style, clip, out, split, preset, crf, tune, repeat) -> float:
    threads, workers, decode, encode = split
    stylizer, _ = open_stylizer(style, EngineConfig(device="cpu", threads=threads), announce=False)
    config = EncodeConfig(encoder="libx264", crf=crf, preset=preset, tune=tune, threads=encode)
    best = 0.0
    for _ in range(repeat):
        result = stylize_video(
            clip, out, build_processor(stylizer, ProcessConfig(temporal="off"), workers=workers),
            lambda w, h: (w, h), config, show_progress=False, decode_threads=decode,
            workers=workers,
        )  # fmt: skip
        best = max(best, result.fps)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", default="mosaic-lite,mosaic")
    parser.add_argument("--resolutions", default="360p,720p")
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--presets", default="superfast,veryfast,faster,medium")
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument("--tune", default="ssim")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--splits",
        default="2:1:0:0,1:2:1:1,1:2:0:1,1:2:1:2",
        help="threads per inference:inferences at once:decode threads:x264 threads",
    )
    args = parser.parse_args()
    tune = None if args.tune == "none" else args.tune
    print(f"{os.cpu_count()} cores; x264 crf {args.crf} tune {args.tune}; {args.frames} frames; "
          "temporal off")  # fmt: skip
    print("| style | resolution | x264 preset | threads x at once : decode : x264 "
          "| model-only fps | end-to-end fps | e2e / model-only |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for style, resolution in itertools.product(
            args.styles.split(","), args.resolutions.split(",")
        ):
            width, height = RESOLUTIONS[resolution]
            frames = synthetic_frames(width, height, args.frames)
            clip = Path(tmp) / f"{resolution}.mp4"
            if not clip.exists():
                make_clip(clip, frames)
            lite = style.endswith("-lite")
            frames_count = args.frames if lite else max(6, args.frames // 10)
            alone = model_only_fps(style, frames, min(40, frames_count))
            short = Path(tmp) / f"{resolution}-{frames_count}.mp4"
            if not short.exists():
                make_clip(short, frames[:frames_count])
            for preset, split in itertools.product(args.presets.split(","), args.splits.split(",")):
                numbers = tuple(int(x) for x in split.split(":"))
                fps = end_to_end_fps(
                    style, short, Path(tmp) / "out.mp4", numbers, preset, args.crf, tune,
                    args.repeat,
                )  # fmt: skip
                shown = f"{numbers[0]} x {numbers[1]} : {numbers[2]} : {numbers[3]}"
                print(
                    f"| {style} | {resolution} | {preset} | {shown} | {alone:.1f} | {fps:.1f} "
                    f"| {100 * fps / alone:.0f}% |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
