"""x264 settings against file size, quality and time, on stylized frames (docs/BENCHMARKS.md).

    python benchmarks/encode_settings.py --shared ../shared --out runs/encode-bench

For each shared clip stylized by a full and a lite style (frames computed once and cached in
``--out``), every combination of preset, CRF and tune is encoded the way ``VideoFileSink``
encodes (yuv420p, BT.709), one x264 thread and x264's own thread count, and measured:

- size in bytes per frame (and the bit rate at the clip's rate);
- SSIM of the luma against the *uncompressed* stylized frames (Wang et al. 2004, 11x11
  Gaussian window, sigma 1.5; stricter than against a near-lossless encode, which itself
  differs from the frames a little), and PSNR;
- encode time per frame, wall clock, with the CPU otherwise idle.

The stylized frames are the real encoder input: their fine texture is what makes them
expensive (a 14 s lite-stylized clip at CRF 18 was 61 MB).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from realtime.app.build import open_stylizer
from realtime.core.config import EncodeConfig, EngineConfig
from realtime.media.video_sink import VideoFileSink
from realtime.media.video_source import VideoFileSource

CLIPS = {
    "realshort": ("data/video/realshort.mp4", None),
    "cockatoo": ("data/video/cockatoo.mp4", 100),
}
STYLES = ("mosaic", "mosaic-lite")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "medium")
CRFS = (18, 20, 23, 26)


def stylized_frames(shared: Path, clip: str, style: str, cache: Path) -> tuple[list, Fraction]:
    path, limit = CLIPS[clip]
    file = cache / f"{clip}-{style}.npz"
    with VideoFileSource(shared / path) as source:
        rate = source.info.rate
        if file.is_file():
            return list(np.load(file)["frames"]), rate
        stylizer, _ = open_stylizer(style, EngineConfig(device="cpu"), announce=False)
        frames = []
        for index, frame in enumerate(source.frames()):
            if limit is not None and index >= limit:
                break
            frames.append(stylizer(frame.image))
    np.savez(file, frames=np.stack(frames))
    return frames, rate


def ssim_luma(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of the BT.709 luma of two uint8 RGB images."""
    weights = np.array([0.2126, 0.7152, 0.0722], np.float32)
    x = (a.astype(np.float32) @ weights).astype(np.float64)
    y = (b.astype(np.float32) @ weights).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(ssim.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def encode(frames: list, rate: Fraction, path: Path, encode: EncodeConfig) -> float:
    """Seconds per frame to encode ``frames`` into ``path``."""
    height, width = frames[0].shape[:2]
    sink = VideoFileSink(path, width, height, rate, 1 / rate, encode, None)
    start = time.perf_counter()
    for index, frame in enumerate(frames):
        sink.write(frame, index)
    sink.close()
    return (time.perf_counter() - start) / len(frames)


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--out", type=Path, default=Path("runs/encode-bench"))
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--crfs", default=",".join(map(str, CRFS)))
    parser.add_argument("--threads", default="0", help="x264 threads: 0 is x264's own choice")
    parser.add_argument("--tunes", default="none,ssim")
    parser.add_argument("--ssim-every", type=int, default=4, help="score every Nth frame")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    for clip, style in itertools.product(args.clips.split(","), args.styles.split(",")):
        frames, rate = stylized_frames(args.shared, clip, style, args.out)
        for preset, crf, tune, threads in itertools.product(
            args.presets.split(","),
            map(int, args.crfs.split(",")),
            args.tunes.split(","),
            map(int, args.threads.split(",")),
        ):
            tune = None if tune == "none" else tune
            config = EncodeConfig(
                encoder="libx264", crf=crf, preset=preset, tune=tune, threads=threads
            )
            path = args.out / "candidate.mp4"
            seconds = encode(frames, rate, path, config)
            back = decoded(path)
            size = path.stat().st_size
            pairs = list(zip(frames, back, strict=True))[:: args.ssim_every]
            row = {
                "clip": clip,
                "style": style,
                "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
                "frames": len(frames),
                "preset": preset,
                "crf": crf,
                "tune": tune or "none",
                "threads": threads,
                "bytes_per_frame": round(size / len(frames)),
                "kbps": round(size * 8 / (len(frames) / float(rate)) / 1000),
                "ssim": round(float(np.mean([ssim_luma(a, b) for a, b in pairs])), 5),
                "psnr": round(float(np.mean([psnr(a, b) for a, b in pairs])), 2),
                "encode_ms": round(1000 * seconds, 2),
            }
            print(json.dumps(row), flush=True)
            with results.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
