"""Gatys et al. as a user runs it, against a trained network of the same painting.

    python benchmarks/gatys_quality.py --shared ../shared --out gatys-out
    python benchmarks/gatys_quality.py --shared ../shared --out gatys-out \\
        --network wave=runs/heldout/wave.onnx --network shipwreck=runs/heldout/shipwreck.onnx
    python benchmarks/gatys_quality.py --shared ../shared --paintings candy -- --style-weight 3

For each painting and photo: ``realtime image PHOTO OUT --style-image PAINTING`` at its
defaults (or with the options after ``--``), timed as a whole command, and the same photo
through a network trained on that painting (``realtime image PHOTO OUT --style NAME --arch
full``: a bundled style, or ``--network NAME=NET.onnx`` for a painting nothing ships for).
Both outputs are scored by ``../shared/tools/score_style.py``, the scorer the issues quote
(style / content / edges), and the ratio is checked against issue 36's targets: style at
most 1.05x, content at most 1.10x, edges at least 0.90x the network's.

Paintings are looked for in ``data/styles`` and then ``data/styles-heldout``; rows of
held-out paintings are marked. Photos: ``samples/amber.jpg`` and a training photo the
bundled networks never saw (``--photo``). Writes the outputs and a grid (painting | photo |
network | Gatys) per photo, prints a Markdown table and one JSON line per row.
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

PAINTINGS = ("mosaic", "candy", "udnie", "rain-princess", "wave", "shipwreck")
# Kept out of the bundled networks' training (scripts/retrain_bundled_styles.py, HOLDOUT).
HELD_OUT_PHOTO = "content/train/curban100-img_010.jpg"
TARGETS = {"style_distance": 1.05, "content_distance": 1.10, "edge_correlation": 0.90}
KEYS = tuple(TARGETS)
TILE = 256


def score(shared: Path, output: Path, painting: Path, photo: Path) -> dict[str, float]:
    """The three numbers of ``output``, from the shared scorer itself."""
    command = [sys.executable, str(shared / "tools" / "score_style.py"), str(output),
               str(painting), str(photo), "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def realtime_image(photo: Path, output: Path, options: list[str]) -> float:
    """Seconds ``realtime image PHOTO OUTPUT OPTIONS`` took, as a whole command."""
    command = [sys.executable, "-m", "realtime", "image", str(photo), str(output), *options]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def painting_path(shared: Path, name: str) -> tuple[Path, bool]:
    """The painting's file and whether it is one of the held-out ones."""
    for folder, held_out in (("styles", False), ("styles-heldout", True)):
        path = shared / "data" / folder / f"{name}.jpg"
        if path.is_file():
            return path, held_out
    raise SystemExit(f"no painting {name}.jpg in {shared}/data/styles or styles-heldout")


def meets(ours: dict[str, float], network: dict[str, float]) -> list[str]:
    """The targets this row misses (empty: every one met)."""
    missed = []
    for key, bound in TARGETS.items():
        ratio = ours[key] / network[key]
        if (ratio < bound) if key == "edge_correlation" else (ratio > bound):
            missed.append(key.split("_")[0])
    return missed


def markdown(rows: list[dict]) -> str:
    lines = [
        "| painting | photo | time | Gatys: style / content / edges | network | ratio | targets |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ours, net = r["gatys"], r["network"]
        name = f"**{r['painting']}** (held out)" if r["held_out"] else r["painting"]
        missed = meets(ours, net)
        lines.append(
            f"| {name} | {r['photo']} | {r['seconds']:.0f} s | "
            + " / ".join(f"{ours[k]:.3f}" for k in KEYS)
            + " | "
            + " / ".join(f"{net[k]:.3f}" for k in KEYS)
            + " | "
            + " / ".join(f"{ours[k] / net[k]:.2f}x" for k in KEYS)
            + f" | {'met' if not missed else 'misses ' + ', '.join(missed)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--paintings", default=",".join(PAINTINGS))
    parser.add_argument("--photo", default=HELD_OUT_PHOTO, help="under data/, besides amber")
    parser.add_argument("--network", action="append", default=[], metavar="NAME=NET.onnx",
                        help="the trained network for a painting nothing ships for")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("gatys-out"))
    parser.add_argument("options", nargs="*", help="after --: options for 'realtime image'")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    networks = dict(item.split("=", 1) for item in args.network)
    vgg = args.shared / "weights" / "vgg16-imagenet-features.pth"
    photos = [args.shared / "data" / "samples" / "amber.jpg", args.shared / "data" / args.photo]
    rows, tiles = [], {photo.stem: [] for photo in photos}
    for name in args.paintings.split(","):
        painting, held_out = painting_path(args.shared, name)
        for photo in photos:
            ours = args.out / f"{photo.stem}-{name}.gatys.png"
            theirs = args.out / f"{photo.stem}-{name}.network.png"
            gatys = ["--style-image", str(painting), "--vgg-weights", str(vgg), *args.options]
            seconds = realtime_image(photo, ours, gatys)
            trained = networks.get(name)
            network = ["--style", trained] if trained else ["--style", name, "--arch", "full"]
            realtime_image(photo, theirs, network)
            row = {"painting": name, "held_out": held_out, "photo": photo.stem,
                   "options": args.options, "seconds": round(seconds, 1),
                   "gatys": score(args.shared, ours, painting, photo),
                   "network": score(args.shared, theirs, painting, photo)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
            images = [painting, photo, theirs, ours]
            tiles[photo.stem].append(np.hstack([tile(read_image(path)) for path in images]))
    for stem, strip in tiles.items():
        write_image(args.out / f"grid-{stem}.jpg", np.vstack(strip))
    print()
    print(markdown(rows))


def tile(image: np.ndarray) -> np.ndarray:
    scale = TILE / max(image.shape[:2])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((TILE, TILE, 3), 255, np.uint8)
    y, x = (TILE - small.shape[0]) // 2, (TILE - small.shape[1]) // 2
    canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    return canvas


if __name__ == "__main__":
    main()
