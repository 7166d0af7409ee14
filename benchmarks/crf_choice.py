"""The default CRF, chosen again: size and SSIM against a near-lossless encode, across CRF,
at the preset ``--preset auto`` picks for each network (docs/BENCHMARKS.md, "Choosing the
default CRF").

    python benchmarks/crf_choice.py --shared ../shared --out runs/crf-choice --frames 40

For each shared clip stylized by a full and a lite style (its first ``--frames`` frames,
cached in ``--out``), each CRF is encoded as ``realtime video`` encodes on a CPU (yuv420p,
BT.709, one x264 thread, medium for the full network and superfast for the lite one) and
measured against the near-lossless reference: the same frames at CRF 0, which x264 keeps
lossless after the yuv420p conversion every output goes through, so the reference holds
exactly what the best output could. Reported: the size the whole clip would have (bytes per
frame times its frame count), luma SSIM against the reference, and PSNR. ``--crops`` writes,
for each clip and style, one PNG with the same 1:1 crop of one frame at the reference and at
every CRF, side by side, to look at.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import av
import cv2
import numpy as np
from encode_settings import CLIPS, decoded, encode, psnr, ssim_luma

from realtime.app.build import open_stylizer
from realtime.core.config import FAST_PRESET, SLOW_PRESET, EncodeConfig, EngineConfig
from realtime.media.video_source import VideoFileSource

CRFS = (14, 16, 18, 20, 22, 23, 24, 26, 28)
STYLES = ("mosaic", "mosaic-lite")
CROP = 200  # pixels square, 1:1


def stylized(shared: Path, clip: str, style: str, count: int, cache: Path) -> tuple[list, float]:
    """The clip's first ``count`` frames as the network paints them at full size (cached)."""
    file = cache / f"{clip}-{style}-{count}.npz"
    with VideoFileSource(shared / CLIPS[clip][0]) as source:
        rate = source.info.rate
        if file.is_file():
            return list(np.load(file)["frames"]), rate
        stylizer, _ = open_stylizer(style, EngineConfig(device="cpu"), announce=False)
        frames = []
        for frame in source.frames():
            if len(frames) == count:
                break
            frames.append(stylizer(frame.image))
    np.savez(file, frames=np.stack(frames))
    return frames, rate


def auto_preset(style: str) -> str:
    """What ``--preset auto`` picks on a CPU: fast for the lite network, else slow."""
    return FAST_PRESET if style.endswith("-lite") else SLOW_PRESET


def clip_frames(shared: Path, clip: str) -> int:
    with av.open(str(shared / CLIPS[clip][0])) as container:
        return container.streams.video[0].frames


def crop(image: np.ndarray, label: str) -> np.ndarray:
    """The crop looked at, labelled: from the middle, where both clips have detail."""
    height, width = image.shape[:2]
    top, left = (height - CROP) // 2, (width - CROP) // 2
    part = np.ascontiguousarray(image[top : top + CROP, left : left + CROP, ::-1])
    band = np.full((24, CROP, 3), 255, np.uint8)
    cv2.putText(band, label, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    return np.vstack([band, part])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--out", type=Path, default=Path("runs/crf-choice"))
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--crfs", default=",".join(map(str, CRFS)))
    parser.add_argument("--frames", type=int, default=40, help="frames of each clip encoded")
    parser.add_argument("--crops", action="store_true", help="write 1:1 crops to --out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for clip, style in itertools.product(args.clips.split(","), args.styles.split(",")):
        frames, rate = stylized(args.shared, clip, style, args.frames, args.out)
        preset, total = auto_preset(style), clip_frames(args.shared, clip)
        settings = {"encoder": "libx264", "preset": preset, "threads": 1}
        reference_path = args.out / f"{clip}-{style}-crf0.mp4"
        encode(frames, rate, reference_path, EncodeConfig(crf=0, **settings))
        reference = decoded(reference_path)
        shown = [crop(reference[len(frames) // 2], "CRF 0 (reference)")]
        for crf in map(int, args.crfs.split(",")):
            path = args.out / "candidate.mp4"
            encode(frames, rate, path, EncodeConfig(crf=crf, **settings))
            back = decoded(path)
            pairs = list(zip(reference, back, strict=True))
            per_frame = path.stat().st_size / len(frames)
            row = {
                "clip": clip,
                "style": style,
                "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
                "preset": preset,
                "crf": crf,
                "clip_mb": round(per_frame * total / 1e6, 2),
                "kbps": round(per_frame * 8 * float(rate) / 1000),
                "ssim": round(float(np.mean([ssim_luma(a, b) for a, b in pairs])), 5),
                "psnr": round(float(np.mean([psnr(a, b) for a, b in pairs])), 2),
            }
            print(json.dumps(row), flush=True)
            with (args.out / "results.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
            shown.append(crop(back[len(frames) // 2], f"CRF {crf}"))
        if args.crops:
            cv2.imwrite(str(args.out / f"crops-{clip}-{style}.png"), np.hstack(shown))


if __name__ == "__main__":
    main()
