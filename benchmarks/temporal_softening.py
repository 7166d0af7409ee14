"""Where the flow stage's softening comes from: docs/TEMPORAL.md, "Where the softening comes
from". One clip, one network; the stage as it was (now ``FAST``) changed one thing at a
time, then the default (``SHARP``), each scored against ``--temporal off`` for warping
error, style distance and sharpness (as benchmarks/temporal_quality.py scores them).

    python benchmarks/temporal_softening.py ../shared/data/video/cockatoo.mp4 \\
        --style mosaic --lite --frames 100 --shared ../shared

The variants patch the stage's module from outside (its warp, its contrast match): they
are measurements, not options.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from temporal_quality import decoded, scores, stylized

import realtime.temporal.stage as stage_module
from models.vgg import load_vgg16
from realtime.core.config import EngineConfig, ProcessConfig
from realtime.media.images import read_image
from realtime.runtime.frames import processing_size, resize
from realtime.temporal.stage import FAST, SHARP, FlowQuality, FlowSmoother
from realtime.vision.flow import warp


class OneResampling(FlowSmoother):
    """Blends with the previous *fresh* stylization, warped once, instead of the previous
    output: no stroke is resampled twice, and nothing is averaged over more than 2 frames."""

    def _step(self, frame: np.ndarray, source: np.ndarray) -> np.ndarray:
        self._fresh = frame
        return super()._step(frame, source)

    def _remember(self, out: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(self._fresh, cv2.COLOR_RGB2RGBA)


@contextmanager
def patched(name: str, value: object) -> Iterator[None]:
    original = getattr(stage_module, name)
    setattr(stage_module, name, value)
    try:
        yield
    finally:
        setattr(stage_module, name, original)


def live(**changes: object) -> FlowQuality:
    return dataclasses.replace(FAST, **changes)


# name: (stage maker, module attribute to patch or None, its value)
Variant = tuple[Callable[[], FlowSmoother], str | None, object]
VARIANTS: dict[str, Variant] = {
    "as it was (FAST): DIS fast at 320, bilinear warp, strength 0.7": (
        lambda: FlowSmoother(0.7, FAST), None, None),
    "warp: nearest": (lambda: FlowSmoother(0.7, FAST), "warp",
                      functools.partial(warp, interpolation=cv2.INTER_NEAREST)),
    "warp: bicubic": (lambda: FlowSmoother(0.7, FAST), "warp",
                      functools.partial(warp, interpolation=cv2.INTER_CUBIC)),
    "strength 0.5": (lambda: FlowSmoother(0.5, FAST), None, None),
    "strength 0.85": (lambda: FlowSmoother(0.85, FAST), None, None),
    "no contrast match": (lambda: FlowSmoother(0.7, FAST), "match_contrast",
                          lambda blended, frame: blended),
    "each stroke resampled once (blend with the previous fresh frame)": (
        lambda: OneResampling(0.7, FAST), None, None),
    "flow: DIS fast at 640": (lambda: FlowSmoother(0.7, live(flow_long_side=640)), None, None),
    "flow: DIS medium at 640": (
        lambda: FlowSmoother(0.7, live(flow_method="dis-medium", flow_long_side=640)), None, None),
    "detail restored, DIS fast at 320": (
        lambda: FlowSmoother(0.7, live(detail_gain=SHARP.detail_gain)), None, None),
    "**default (SHARP): DIS fast refined to half of 640, detail restored**": (
        lambda: FlowSmoother(0.7, SHARP), None, None),
}  # fmt: skip


def at_size(style: str, lite: bool, frames: list[np.ndarray], long_side: int):
    """``--size long_side``: stylized small, scaled back as the pipeline does."""
    height, width = frames[0].shape[:2]
    small = processing_size(width, height, ProcessConfig(size=long_side))
    outs = stylized(style, lite, [resize(frame, small) for frame in frames])
    return [resize(out, (width, height)) for out in outs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("clip")
    parser.add_argument("--shared", default="../shared")
    parser.add_argument("--style", default="mosaic")
    parser.add_argument("--lite", action="store_true")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", type=int, default=640, help="the --size row's long side")
    args = parser.parse_args()
    vgg, _ = load_vgg16(Path(args.shared) / "weights" / "vgg16-imagenet-features.pth")
    painting = read_image(f"{args.shared}/data/styles/{args.style}.jpg")
    frames = decoded(Path(args.clip), args.frames)
    reference = stylized(args.style, args.lite, frames)
    off = scores(frames, reference, reference, painting, vgg)
    print(f"off: {off} ({EngineConfig().device} engine)")
    print("| variant | warping error vs off | style distance vs off | sharpness |")
    print("|---|---|---|---|")

    def report(name: str, outputs: list[np.ndarray]) -> None:
        got = scores(frames, outputs, reference, painting, vgg)
        print(
            f"| {name} | {100 * (got['warping_error'] / off['warping_error'] - 1):+.1f}% | "
            f"{100 * (got['style_distance'] / off['style_distance'] - 1):+.1f}% | "
            f"{got['sharpness'] / off['sharpness']:.3f} |",
            flush=True,
        )

    for name, (make, attribute, value) in VARIANTS.items():
        stage = make()
        if attribute is None:
            outputs = [stage(out.copy(), f) for out, f in zip(reference, frames, strict=True)]
        else:
            with patched(attribute, value):
                outputs = [stage(out.copy(), f) for out, f in zip(reference, frames, strict=True)]
        report(name, outputs)
    report(f"--size {args.size}, --temporal off", at_size(args.style, args.lite, frames, args.size))


if __name__ == "__main__":
    main()
