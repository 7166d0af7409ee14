"""docs/TEMPORAL.md's table: for each clip and bundled style, the default flow stage against
``--temporal off`` (and against the stage as it was, now the live one): warping error, style
distance to the painting and sharpness.

Each clip is stylized once per network at the default processing size (the clip's own), as
``realtime video --style NAME --temporal off`` does before encoding; the stages then run on
those frames in memory, so all three rows of a style see the very same network outputs and
no codec. ``realtime eval temporal`` defines the numbers (realtime/temporal/metrics.py):
warping error with its default flow, sharpness as the ratio of mean grey gradients to
``off``; the style distance is models/video_metrics.py's over every 10th frame.

    python benchmarks/make_scene_clip.py --shared ../shared --out scene.mp4
    python benchmarks/temporal_quality.py ../shared/data/video/cockatoo.mp4 \\
        ../shared/data/video/realshort.mp4 scene.mp4 --shared ../shared

Needs torch (the style distance). Prints one markdown row per clip and network.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from models.vgg import load_vgg16
from models.video_metrics import mean_style_distance
from realtime.app.build import open_stylizer
from realtime.core.config import EngineConfig
from realtime.media.images import read_image
from realtime.media.video_source import VideoFileSource
from realtime.temporal.metrics import evaluate_temporal
from realtime.temporal.stage import temporal_stage

STYLES = ("mosaic", "candy", "udnie", "rain-princess")
STAGES = {"before": True, "after": False}  # name: live (the stage as it was) or not


def decoded(path: Path, limit: int | None) -> list[np.ndarray]:
    with VideoFileSource(path) as source:
        frames = [frame.image for frame in source.frames()]
    return frames[:limit]


def stylized(style: str, lite: bool, frames: list[np.ndarray]) -> list[np.ndarray]:
    stylizer, _ = open_stylizer(style, EngineConfig(), announce=False, lite=lite)
    return [stylizer(frame) for frame in frames]


def staged(live: bool, frames: list[np.ndarray], reference: list[np.ndarray]) -> list[np.ndarray]:
    stage = temporal_stage("flow", fast=live)
    assert stage is not None
    return [stage(out.copy(), frame) for out, frame in zip(reference, frames, strict=True)]


def scores(frames, outputs, reference, painting, vgg) -> dict[str, float]:
    temporal = evaluate_temporal(frames, outputs, reference if outputs is not reference else None)
    style, _ = mean_style_distance(outputs, painting, every=10, vgg=vgg)
    return {
        "warping_error": temporal.warping_error,
        "style_distance": style,
        "sharpness": temporal.sharpness,
    }


def row(clip: str, name: str, result: dict[str, dict[str, float]]) -> str:
    off = result["off"]

    def change(stage: str, key: str) -> str:
        return f"{100 * (result[stage][key] / off[key] - 1):+.1f}%"

    after, before = "after", "before"
    return (
        f"| {clip} | {name} | {off['warping_error']:.5f} | {result[after]['warping_error']:.5f}"
        f" | **{change(after, 'warping_error')}** | {off['style_distance']:.4f} | "
        f"{result[after]['style_distance']:.4f} | **{change(after, 'style_distance')}** | "
        f"**{result[after]['sharpness'] / off['sharpness']:.3f}** | "
        f"{change(before, 'warping_error')} / {change(before, 'style_distance')} / "
        f"{result[before]['sharpness'] / off['sharpness']:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("clips", type=Path, nargs="+")
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--styles", nargs="+", default=list(STYLES))
    parser.add_argument("--arch", choices=("full", "lite", "both"), default="both")
    parser.add_argument("--frames", type=int, help="only the first N frames of each clip")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    vgg, _ = load_vgg16(args.shared / "weights" / "vgg16-imagenet-features.pth")
    lites = {"full": [False], "lite": [True], "both": [False, True]}[args.arch]
    everything = {}
    print("| clip | network | warping error off | default | cut | style distance off | "
          "default | change | sharpness | before: cut / change / sharpness |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        frames = decoded(clip, args.frames)
        for style in args.styles:
            painting = read_image(args.shared / "data" / "styles" / f"{style}.jpg")
            for lite in lites:
                name = f"{style}-lite" if lite else style
                started = time.perf_counter()
                reference = stylized(style, lite, frames)
                result = {"off": scores(frames, reference, reference, painting, vgg)}
                for stage, live in STAGES.items():
                    outputs = staged(live, frames, reference)
                    result[stage] = scores(frames, outputs, reference, painting, vgg)
                everything[f"{clip.name}/{name}"] = result
                print(row(clip.name, name, result), flush=True)
                print(f"<!-- {time.perf_counter() - started:.0f} s -->", flush=True)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))


if __name__ == "__main__":
    main()
