"""Does a live morph flicker? The warping error (``realtime eval temporal``'s measure) of a
morph from one style to another, against steady single-style frames, through the webcam's own
parts: the multi-style network's session, the ``Mixer`` that moves the mix frame by frame and
the live frame processor with its temporal stage.

The clock is the clip's (frame i is at i / fps), not the wall's, so every run stylizes the
same frames with the same mixes: the runs differ only in the mix, and a run never drops a
frame (a live run drops what the CPU cannot take, which would make runs incomparable).

Also writes the morph as a strip of frames (docs/STYLES.md).

    python benchmarks/make_webcam_clip.py --shared ../shared --out c360.mp4
    python benchmarks/morph_flicker.py --camera c360.mp4 --from mosaic --to candy \
        --strip docs/morph-strip.jpg
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import av
import numpy as np
from PIL import Image

from realtime.app.build import build_processor, open_stylizer
from realtime.core.config import EngineConfig, ProcessConfig
from realtime.live.mixing import Mixer
from realtime.temporal.metrics import evaluate_temporal


def clip_frames(path: Path, count: int) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        frames = []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return frames, fps


def stylize_run(
    frames: list[np.ndarray],
    fps: float,
    start: str,
    morph_to: str | None,
    seconds: float,
    process: ProcessConfig,
    network: str,
) -> list[np.ndarray]:
    """The frames as the webcam loop paints them: the mixer ticks, then the frame is
    stylized (``realtime.live.loop``'s order)."""
    stylizer, _ = open_stylizer(network, EngineConfig(device="cpu"), announce=False)
    mixer = Mixer(stylizer, seconds)
    mixer.switch(mixer.index(start))
    if morph_to is not None:
        mixer.morph_to(mixer.index(morph_to), now=0.0)
    processor = build_processor(stylizer, process, frames[0].shape[1::-1], live=True)
    out = []
    for i, frame in enumerate(frames):
        mixer.tick(i / fps)
        out.append(processor(frame))
    return out


def strip(frames: list[np.ndarray], picks: list[int], path: Path, height: int = 240) -> None:
    cells = [
        np.asarray(Image.fromarray(frames[i]).resize((round(height * 16 / 9), height)))
        for i in picks
    ]
    Image.fromarray(np.concatenate(cells, axis=1)).save(path, quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camera", type=Path, required=True)
    parser.add_argument("--network", default="paintings", help="a multi-style network")
    parser.add_argument("--from", dest="start", default="mosaic")
    parser.add_argument("--to", dest="target", default="candy")
    parser.add_argument("--seconds", type=float, default=3.0, help="the morph's length")
    parser.add_argument("--size", type=int, default=320, help="processing long side")
    parser.add_argument("--strip", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    frames, fps = clip_frames(args.camera, round(args.seconds * 30) + 1)
    results = {}
    morph = None
    for temporal in ("flow", "off"):
        process = ProcessConfig(size=args.size, temporal=temporal)
        runs = {
            f"steady {args.start}": (args.start, None),
            f"steady {args.target}": (args.target, None),
            f"morph {args.start} -> {args.target}": (args.start, args.target),
        }
        for label, (start, target) in runs.items():
            out = stylize_run(frames, fps, start, target, args.seconds, process, args.network)
            scores = evaluate_temporal(frames, out)
            results[f"{label}, temporal {temporal}"] = round(scores.warping_error, 6)
            print(f"{label}, temporal {temporal}: warping error {scores.warping_error:.6f} "
                  f"({scores.pairs} pairs)", flush=True)  # fmt: skip
            if target is not None and temporal == "flow":
                morph = out
    if args.strip is not None and morph is not None:
        last = len(morph) - 1
        strip(morph, [round(last * k / 4) for k in range(5)], args.strip)
        print(f"wrote {args.strip}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
