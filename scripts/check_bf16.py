"""Check once per bundled style whether OpenVINO's bf16 keeps its scores, and record it.

For every bundled network (full and lite; the multi-style ``paintings`` networks once per
style they paint), on ``amber.jpg`` and one held-out photo, at full size as ``realtime
image`` stylizes it: ONNX Runtime's CPU provider in float32 (the reference), OpenVINO in
float32 and in bf16, each scored with the three numbers of ``realtime eval style``
(``models.metrics``: style distance, content distance, edge correlation). A network runs in
bf16 under ``--precision auto`` only where no score of any of its styles moved by more than
``--bound`` (1%) on amber: ``--write`` records that in its card (``"bf16"``), which the
runtime reads without torch (``realtime.runtime.openvino_engine.card_allows_bf16``).

Then the default engine (``EngineConfig()``, reading the cards just written) stylizes the
same images, and the table for docs/BENCHMARKS.md compares it with ONNX Runtime's float32.

    python scripts/check_bf16.py --shared ../shared --write

Needs torch ([train]) and OpenVINO on a CPU with native bf16; about five minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.metrics import score  # noqa: E402
from models.vgg import load_vgg16  # noqa: E402
from realtime.core.cards import read_card, write_card  # noqa: E402
from realtime.core.config import EngineConfig  # noqa: E402
from realtime.media.images import read_image  # noqa: E402
from realtime.runtime.engine import OnnxStylizer  # noqa: E402
from realtime.runtime.openvino_engine import has_native_bf16, version  # noqa: E402

BUNDLED = REPO / "realtime" / "bundled_styles"
HELD_OUT = "curban100-img_010.jpg"  # a held-out photo of the cards' evaluations
METRICS = ("style_distance", "content_distance", "edge_correlation")
ENGINES = {
    "ort_fp32": EngineConfig(device="cpu"),
    "ov_fp32": EngineConfig(device="openvino", precision="fp32"),
    "ov_bf16": EngineConfig(device="openvino", precision="bf16"),
}


def networks() -> list[tuple[Path, list[str]]]:
    """(bundled .onnx, the styles it paints) for every bundled network."""
    found = []
    for path in sorted(BUNDLED.glob("*.onnx")):
        card = read_card(path) or {}
        styles = [s["name"] for s in card.get("styles", [])] or [path.stem.removesuffix("-lite")]
        found.append((path, styles))
    return found


def stylize(path: Path, engine: EngineConfig, style: str, photo: np.ndarray) -> np.ndarray:
    stylizer = OnnxStylizer(path, engine, announce=False)
    if stylizer.styles:
        stylizer.set_mix({style: 1.0})
    return stylizer(photo)


def change(scores: dict[str, float], reference: dict[str, float]) -> float:
    """The largest relative change of any of the three numbers."""
    return max(abs(scores[m] - reference[m]) / abs(reference[m]) for m in METRICS)


def measure(args: argparse.Namespace, vgg, photos: dict[str, np.ndarray]) -> list[dict]:
    """One row per network, style and photo: each engine's scores."""
    rows = []
    for path, styles in networks():
        for style in styles:
            painting = read_image(args.shared / "data" / "styles" / f"{style}.jpg")
            for photo_name, photo in photos.items():
                row = {"network": path.stem, "style": style, "photo": photo_name}
                for name, engine in ENGINES.items():
                    out = stylize(path, engine, style, photo)
                    row[name] = score(vgg, out, painting, photo).as_dict()
                    if name == "ort_fp32":
                        row["ort_fp32_image"] = out
                rows.append(row)
                print(
                    f"{path.stem} {style} {photo_name}: bf16 moves the scores by "
                    f"{100 * change(row['ov_bf16'], row['ort_fp32']):.2f}%, OpenVINO fp32 by "
                    f"{100 * change(row['ov_fp32'], row['ort_fp32']):.2f}%",
                    file=sys.stderr,
                )
    return rows


def record(rows: list[dict], bound: float, write: bool) -> dict[str, bool]:
    """Each network's verdict on amber, written into its card with ``write``."""
    verdicts = {}
    for network in dict.fromkeys(r["network"] for r in rows):
        amber = [r for r in rows if r["network"] == network and r["photo"] == "amber.jpg"]
        worst = max(change(r["ov_bf16"], r["ort_fp32"]) for r in amber)
        verdicts[network] = worst <= bound
        if not write:
            continue
        card_path = BUNDLED / f"{network}.json"
        card = read_card(card_path) or {}
        card["bf16"] = {
            "ok": worst <= bound,
            "bound": bound,
            "max_relative_change": round(worst, 5),
            "photo": "samples/amber.jpg (1080x1080), at full size",
            "styles": sorted({r["style"] for r in amber}),
            "openvino": version(),
            "date": date.today().isoformat(),
            "command": "python scripts/check_bf16.py --shared ../shared --write",
        }
        write_card(card_path, card)
    return verdicts


def default_engine(rows: list[dict], vgg, photos, shared: Path) -> None:
    """The default engine's scores (it reads the cards as written now), into each row."""
    for row in rows:
        path = BUNDLED / f"{row['network']}.onnx"
        stylizer = OnnxStylizer(path, EngineConfig(), announce=False)
        if stylizer.styles:
            stylizer.set_mix({row["style"]: 1.0})
        painting = read_image(shared / "data" / "styles" / f"{row['style']}.jpg")
        out = stylizer(photos[row["photo"]])
        row["default"] = score(vgg, out, painting, photos[row["photo"]]).as_dict()
        row["default_engine"] = f"{stylizer.engine} {stylizer.precision}"
        row["default_levels"] = float(
            np.abs(out.astype(np.int16) - row["ort_fp32_image"].astype(np.int16)).mean()
        )


def table(rows: list[dict]) -> str:
    lines = [
        "| network | style | photo | ONNX Runtime fp32: style / content / edges | default "
        "engine | its scores | largest change | mean diff (levels) | OpenVINO bf16's change |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ref, new = r["ort_fp32"], r["default"]
        lines.append(
            f"| {r['network']} | {r['style']} | {r['photo']} | "
            + " / ".join(f"{ref[m]:.4f}" for m in METRICS)
            + f" | {r['default_engine']} | "
            + " / ".join(f"{new[m]:.4f}" for m in METRICS)
            + f" | {100 * change(new, ref):.2f}% | {r['default_levels']:.2f} "
            f"| {100 * change(r['ov_bf16'], ref):.2f}% |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--bound", type=float, default=0.01, help="largest relative change")
    parser.add_argument("--write", action="store_true", help="record the verdicts in the cards")
    args = parser.parse_args()
    if not has_native_bf16():
        print("check_bf16: this CPU has no native bf16; nothing to check", file=sys.stderr)
        return 1
    vgg, _ = load_vgg16(args.shared / "weights" / "vgg16-imagenet-features.pth")
    photos = {
        "amber.jpg": read_image(args.shared / "data" / "samples" / "amber.jpg"),
        HELD_OUT: read_image(args.shared / "data" / "content" / "train" / HELD_OUT),
    }
    rows = measure(args, vgg, photos)
    verdicts = record(rows, args.bound, args.write)
    print("bf16 under --precision auto: " + ", ".join(f"{n} {v}" for n, v in verdicts.items()))
    default_engine(rows, vgg, photos, args.shared)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
