"""Milliseconds per frame of the temporal stage (``--temporal ema|flow``) at 360p and 720p,
and (``--quality``) what it does to flicker and style.

    python benchmarks/temporal_cost.py [--frames 60] [--resolutions 360p,720p]
    python benchmarks/temporal_cost.py --quality [--clip VIDEO] [--frames 30]

Cost: the stage runs at the processing size, on frames of a synthetic clip (a textured
image panned back and forth and zoomed, so the flow has real work to do and no frame is a
scene cut). The "stylized" frame is a colour map of the input, made before timing starts:
only the stage is timed. Medians are reported because a shared machine's timings have long
tails; the p90 column shows how long.

Quality: a flickering stylizer (the same colour map plus fresh stroke-sized noise every
frame, standard deviation ``--flicker`` grey levels) on the 360p pan/zoom clip, or on the
frames of ``--clip``; for off, ema and flow it prints the warping error and the style change
against the unblended frames (``realtime.temporal_metrics``), computed in memory (no codec).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import cv2
import numpy as np

from realtime.temporal.metrics import evaluate_temporal
from realtime.temporal.stage import FAST, SHARP, temporal_stage

RESOLUTIONS = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}


def textured(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth multi-scale noise: texture at every scale, like a photograph."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for cell in (4, 16, 64):
        noise = rng.random((height // cell + 2, width // cell + 2, 3)).astype(np.float32)
        big = cv2.resize(
            noise, (width + 2 * cell, height + 2 * cell), interpolation=cv2.INTER_CUBIC
        )
        image += big[:height, :width]
    image -= image.min()
    return (image * (255.0 / image.max())).astype(np.uint8)


def clip(width: int, height: int, frames: int) -> list[np.ndarray]:
    """A pan (3 px/frame) and a zoom (0.5%/frame) over a 2x texture, reversing every 20
    frames."""
    base = textured(2 * width, 2 * height)
    out = []
    for index in range(frames):
        phase = index % 40
        ramp = phase if phase < 20 else 40 - phase  # back and forth: no jump, no cut
        shift = 3.0 * ramp
        zoom = 1.0 + 0.005 * ramp
        matrix = np.array(
            [
                [1 / zoom, 0, width / 2 - width / 2 / zoom + shift],
                [0, 1 / zoom, height / 2 - height / 2 / zoom + shift / 3],
            ],
            np.float32,
        )
        out.append(
            cv2.warpAffine(
                base, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            )
        )
    return out


def colour_map(frame: np.ndarray) -> np.ndarray:
    return cv2.applyColorMap(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLORMAP_JET)


def flickering(frames: list[np.ndarray], sigma: float, seed: int = 1) -> list[np.ndarray]:
    """The colour map plus fresh smooth noise per frame: a per-frame stylizer's flicker."""
    rng = np.random.default_rng(seed)
    out = []
    for frame in frames:
        noise = rng.normal(0.0, 1.0, frame.shape).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), 1.5)
        noise *= sigma / noise.std()
        out.append(np.clip(colour_map(frame) + noise, 0, 255).astype(np.uint8))
    return out


def measure(mode: str, strength: float, frames: list[np.ndarray], live: bool) -> list[float]:
    stage = temporal_stage(mode, strength, fast=live)
    if stage is None:
        raise SystemExit(f"mode {mode!r} with strength {strength} makes no stage to time")
    stylized = [colour_map(f) for f in frames]
    times = []
    for image, source in zip(stylized, frames, strict=True):
        start = time.perf_counter()
        stage(image, source)
        times.append((time.perf_counter() - start) * 1000.0)
    return times[2:]  # the first call has no previous frame, the second warms caches


def read_clip(path: str, frames: int) -> list[np.ndarray]:
    from realtime.media.video_source import VideoFileSource

    with VideoFileSource(path) as source:
        out = []
        for decoded in source.frames():
            out.append(decoded.image)
            if len(out) == frames:
                break
    return out


def quality(args: argparse.Namespace) -> None:
    frames = read_clip(args.clip, args.frames) if args.clip else clip(640, 360, args.frames)
    height, width = frames[0].shape[:2]
    where = args.clip or "synthetic pan/zoom"
    print(
        f"# temporal stage quality: {where}, {width}x{height}, {len(frames)} frames, "
        f"colour-map style + flicker sigma {args.flicker}, strength {args.strength}, "
        f"{_quality(args.live)}"
    )
    stylized = flickering(frames, args.flicker)
    print("| mode | warping error | vs off | style change | pixels scored |")
    print("|---|---|---|---|---|")
    baseline = None
    for mode in ("off", "ema", "flow"):
        stage = temporal_stage(mode, args.strength, live=args.live)
        outputs = (
            [stage(s, f) for s, f in zip(stylized, frames, strict=True)] if stage else stylized
        )
        scores = evaluate_temporal(frames, outputs, stylized)
        baseline = baseline or scores.warping_error
        print(
            f"| {mode} | {scores.warping_error:.6f} | {scores.warping_error / baseline:.1%} | "
            f"{scores.style_change:.1%} | {scores.valid_fraction:.1%} |"
        )


def _quality(live: bool) -> str:
    quality = FAST if live else SHARP
    return (
        f"{'webcam (FAST)' if live else 'video (SHARP)'} stage: flow {quality.flow_method} at "
        f"long side {quality.flow_long_side}, detail gain up to {quality.detail_gain}"
    )


def write_clip(args: argparse.Namespace) -> None:
    from fractions import Fraction

    from realtime.core.config import EncodeConfig
    from realtime.media.video_sink import VideoFileSink

    width, height = RESOLUTIONS[args.resolutions.split(",")[0].strip()]
    sink = VideoFileSink(
        args.write_clip, width, height, Fraction(30), Fraction(1, 30), EncodeConfig(crf=12), None
    )
    for index, frame in enumerate(clip(width, height, args.frames)):
        sink.write(frame, index)
    sink.close()
    print(f"wrote {args.write_clip}: {args.frames} frames, {width}x{height}, 30 fps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per run (default: 60)")
    parser.add_argument("--resolutions", default="360p,720p", help="from 360p, 720p, 1080p")
    parser.add_argument("--modes", default="ema,flow", help="comma-separated: ema, flow")
    parser.add_argument("--strength", type=float, default=0.7)
    parser.add_argument("--live", action="store_true", help="the webcam's stage (FAST)")
    parser.add_argument("--quality", action="store_true", help="flicker and style, not time")
    parser.add_argument("--clip", default=None, help="--quality on this video's frames")
    parser.add_argument("--flicker", type=float, default=8.0, help="noise sigma, grey levels")
    parser.add_argument(
        "--write-clip",
        default=None,
        metavar="OUT.mp4",
        help="write the pan/zoom clip (first resolution, --frames frames, 30 fps) as H.264, "
        "to stylize with 'realtime video' and score with 'realtime eval temporal'",
    )
    args = parser.parse_args()
    if args.write_clip:
        write_clip(args)
        return
    if args.quality:
        quality(args)
        return
    print(
        f"# temporal stage cost: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs (shared with other work: medians), "
        f"OpenCV {cv2.__version__} with {cv2.getNumThreads()} threads, "
        f"{_quality(args.live)}, strength {args.strength}"
    )
    print("| resolution | mode | median ms | p90 ms | frames |")
    print("|---|---|---|---|---|")
    for name in (r.strip() for r in args.resolutions.split(",") if r.strip()):
        if name not in RESOLUTIONS:
            raise SystemExit(f"unknown resolution {name!r}; use {', '.join(RESOLUTIONS)}")
        frames = clip(*RESOLUTIONS[name], args.frames)
        for mode in (m.strip() for m in args.modes.split(",") if m.strip()):
            times = measure(mode, args.strength, frames, args.live)
            p90 = statistics.quantiles(times, n=10)[-1]
            print(
                f"| {name} | {mode} | {statistics.median(times):.2f} | {p90:.2f} | {len(times)} |"
            )


if __name__ == "__main__":
    main()
