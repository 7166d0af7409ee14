"""Gatys et al. against the reference networks on amber.jpg: time, style and content distance.

    python benchmarks/gatys_quality.py --shared ../shared --size 512 --steps 100 --out gatys-out

For each style: the reference output (the PyTorch examples' pretrained network,
``amber-<style>.reference.jpg``) and our Gatys result from the content, both at ``--size``,
scored with ``models.metrics`` exactly as ``realtime eval style`` does (Gram distance
relu1_2..relu4_3 relative to the painting at its own size; relu3_3 content distance to
amber at the same size). The painting is matched at its own size (``style_scale``), the scale
the metric judges it at. Writes the outputs, a grid image (amber | reference | ours per
style) and prints a Markdown table and JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from models.gatys import GatysConfig, GatysStylizer
from models.metrics import score
from models.vgg import load_vgg16
from realtime.media.images import read_image, write_image

STYLES = ("mosaic", "candy", "udnie", "rain-princess")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--style-weight", type=float, default=GatysConfig.style_weight)
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--out", type=Path, default=Path("gatys-out"))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    samples = args.shared / "data" / "samples"
    vgg, identity = load_vgg16(args.shared / "weights" / "vgg16-imagenet-features.pth")
    amber_full = read_image(samples / "amber.jpg")
    height, width = amber_full.shape[:2]
    factor = args.size / max(height, width)
    size = (round(width * factor), round(height * factor))
    amber = cv2.resize(amber_full, size, interpolation=cv2.INTER_AREA)
    rows, tiles = [], []
    for name in args.styles.split(","):
        painting = read_image(args.shared / "data" / "styles" / f"{name}.jpg")
        reference = cv2.resize(
            read_image(samples / f"amber-{name}.reference.jpg"), size, interpolation=cv2.INTER_AREA
        )
        config = dataclasses.replace(
            GatysConfig(),
            steps=args.steps,
            style_weight=args.style_weight,
            style_scale=max(painting.shape[:2]) / max(size),
        )
        stylizer = GatysStylizer(vgg, painting, config)
        started = time.perf_counter()
        ours = stylizer.stylize(amber)
        seconds = time.perf_counter() - started
        write_image(args.out / f"amber-{name}.gatys.jpg", ours)
        mine, theirs = score(vgg, ours, painting, amber), score(vgg, reference, painting, amber)
        row = {
            "style": name,
            "steps": args.steps,
            "seconds": round(seconds, 1),
            "ours_style": mine.style_distance,
            "ours_content": mine.content_distance,
            "ours_edges": mine.edge_correlation,
            "reference_style": theirs.style_distance,
            "reference_content": theirs.content_distance,
            "reference_edges": theirs.edge_correlation,
        }
        rows.append(row)
        tiles.append(np.hstack([amber, reference, ours]))
        print(json.dumps(row), flush=True)
    write_image(args.out / "grid.jpg", np.vstack(tiles))
    print(f"\nsize {size[0]}x{size[1]}, VGG-16 {identity}, {torch.get_num_threads()} threads\n")
    print("| style | steps | time | style ours / reference | content | edges |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['style']} | {r['steps']} | {r['seconds']:.0f} s "
            f"| **{r['ours_style']:.3f}** / {r['reference_style']:.3f} "
            f"| **{r['ours_content']:.3f}** / {r['reference_content']:.3f} "
            f"| **{r['ours_edges']:.3f}** / {r['reference_edges']:.3f} |"
        )


if __name__ == "__main__":
    main()
