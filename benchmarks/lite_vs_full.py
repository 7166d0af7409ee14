"""Each lite network against its full network: the three numbers on amber and on held-out photos.

    python benchmarks/lite_vs_full.py --shared ../shared
    python benchmarks/lite_vs_full.py --shared ../shared --lite candy=runs/candy-lite.onnx

For each bundled style: ``realtime image PHOTO OUT --style NAME --arch full`` and ``--arch
lite`` (or ``--lite NAME=NET.onnx``, a candidate not installed yet) on ``samples/amber.jpg``
and on the training photos the bundled networks never saw (``HOLDOUT`` in
scripts/retrain_bundled_styles.py), each output scored by ``../shared/tools/score_style.py``
against the painting and its photo (style / content / edges). The lite network meets issue
36's bound when, on amber and on the held-out photos' mean alike, its style and content
distances are at most 1.10x and its edge correlation at least 0.90x its full network's.
Prints one JSON line per style and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from retrain_bundled_styles import HOLDOUT, STYLES  # noqa: E402  (one list of each)

KEYS = ("style_distance", "content_distance", "edge_correlation")
BOUNDS = (1.10, 1.10, 0.90)  # at most, at most, at least


def scores(shared: Path, out: Path, style: list[str], painting: Path, photo: Path) -> list[float]:
    """The three numbers of ``realtime image PHOTO --style ...`` (written to ``out``)."""
    subprocess.run([sys.executable, "-m", "realtime", "image", str(photo), str(out), *style],
                   check=True, capture_output=True)  # fmt: skip
    command = [sys.executable, str(shared / "tools" / "score_style.py"), str(out),
               str(painting), str(photo), "--json"]  # fmt: skip
    done = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    return [done[key] for key in KEYS]


def ratios(lite: list[float], full: list[float]) -> tuple[list[float], bool]:
    values = [a / b for a, b in zip(lite, full, strict=True)]
    met = values[0] <= BOUNDS[0] and values[1] <= BOUNDS[1] and values[2] >= BOUNDS[2]
    return values, met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--lite", action="append", default=[], metavar="NAME=NET.onnx")
    parser.add_argument("--out", type=Path, default=Path("lite-out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    candidates = dict(item.split("=", 1) for item in args.lite)
    data = args.shared / "data"
    photos = [data / "samples" / "amber.jpg", *(data / "content" / "train" / n for n in HOLDOUT)]
    table = []
    for name in args.styles.split(","):
        painting = data / "styles" / f"{name}.jpg"
        given = candidates.get(name)
        lite = ["--style", given] if given else ["--style", name, "--arch", "lite"]
        full = ["--style", name, "--arch", "full"]
        got = {arch: [scores(args.shared, args.out / f"{photo.stem}-{name}-{arch}.png", style,
                             painting, photo) for photo in photos]
               for arch, style in (("full", full), ("lite", lite))}  # fmt: skip
        row = {"style": name, "lite": lite[1]}
        for where, pick in (("amber", slice(0, 1)), ("held-out mean", slice(1, None))):
            means = {arch: np.mean(got[arch][pick], axis=0).tolist() for arch in got}
            values, met = ratios(means["lite"], means["full"])
            row[where] = {"full": means["full"], "lite": means["lite"], "ratio": values,
                          "met": met}  # fmt: skip
        table.append(row)
        print(json.dumps(row), flush=True)
    print("\n| lite network | photos | full | lite | ratio | met |\n|---|---|---|---|---|---|")
    for row in table:
        for where in ("amber", "held-out mean"):
            r = row[where]
            print(f"| {row['style']}-lite | {where} | "
                  + " / ".join(f"{v:.3f}" for v in r["full"]) + " | "
                  + " / ".join(f"{v:.3f}" for v in r["lite"]) + " | "
                  + ", ".join(f"{v:.2f}x" for v in r["ratio"])
                  + f" | {'yes' if r['met'] else '**no**'} |")  # fmt: skip


if __name__ == "__main__":
    main()
