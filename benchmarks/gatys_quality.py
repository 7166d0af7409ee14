"""Gatys et al. as a user runs it, against the reference networks on amber.jpg.

    python benchmarks/gatys_quality.py --shared ../shared --out gatys-out
    python benchmarks/gatys_quality.py --shared ../shared --styles candy -- --style-weight 2

For each painting: ``realtime image amber.jpg OUT --style-image PAINTING`` at its defaults
(or with the options after ``--``), timed as a whole command, then the output and the PyTorch
examples' reference output (``amber-<style>.reference.jpg``) are both scored by
``../shared/tools/score_style.py``, the scorer the issues quote (style / content / edges).
Writes the outputs and a grid (painting | amber | reference | Gatys), prints a Markdown
table and one JSON line per painting.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.media.images import read_image, write_image

STYLES = ("mosaic", "candy", "udnie", "rain-princess")
TILE = 256


def score(shared: Path, output: Path, painting: Path, photo: Path) -> dict[str, float]:
    """The three numbers of ``output``, from the shared scorer itself."""
    command = [sys.executable, str(shared / "tools" / "score_style.py"), str(output),
               str(painting), str(photo), "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def tile(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_AREA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--out", type=Path, default=Path("gatys-out"))
    parser.add_argument("options", nargs="*", help="after --: options for 'realtime image'")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    samples = args.shared / "data" / "samples"
    amber = samples / "amber.jpg"
    vgg = args.shared / "weights" / "vgg16-imagenet-features.pth"
    rows, tiles = [], []
    for name in args.styles.split(","):
        painting = args.shared / "data" / "styles" / f"{name}.jpg"
        output = args.out / f"amber-{name}.gatys.jpg"
        command = [sys.executable, "-m", "realtime", "image", str(amber), str(output),
                   "--style-image", str(painting), "--vgg-weights", str(vgg),
                   *args.options]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - started
        ours = score(args.shared, output, painting, amber)
        theirs = score(args.shared, samples / f"amber-{name}.reference.jpg", painting, amber)
        row = {"style": name, "options": args.options, "seconds": round(seconds, 1),
               "ours": ours, "reference": theirs}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
        images = [painting, amber, samples / f"amber-{name}.reference.jpg", output]
        tiles.append(np.hstack([tile(read_image(path)) for path in images]))
    write_image(args.out / "grid.jpg", np.vstack(tiles))
    keys = ("style_distance", "content_distance", "edge_correlation")
    print("\n| painting | time | Gatys: style / content / edges | reference | ratio |")
    print("|---|---|---|---|---|")
    for r in rows:
        ours, ref = r["ours"], r["reference"]
        ratio = " / ".join(f"{ours[k] / ref[k]:.2f}x" for k in keys)
        print(
            f"| {r['style']} | {r['seconds']:.0f} s | "
            + " / ".join(f"{ours[k]:.3f}" for k in keys)
            + " | "
            + " / ".join(f"{ref[k]:.3f}" for k in keys)
            + f" | {ratio} |"
        )


if __name__ == "__main__":
    main()
