"""``realtime video``'s default encode against the previous default (x264 medium, CRF 18), on
the shared clips, by size and by SSIM against a lossless encode of the same run
(docs/BENCHMARKS.md "Encoding").

    python benchmarks/video_defaults.py --shared ../shared

Each clip is stylized three times with the same options (the stylization is deterministic):
``--crf 0`` (lossless, the reference), ``--preset medium`` (the previous default) and the
defaults. Sizes are the files' bytes; SSIM is the luma SSIM of each frame against the
reference's frame (benchmarks/encode_settings.py), averaged.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encode_settings import decoded as frames  # noqa: E402
from encode_settings import ssim_luma  # noqa: E402  (this script's folder)

CASES = (
    ("realshort.mp4", "mosaic-lite", []),
    ("cockatoo.mp4", "mosaic-lite", []),
    ("realshort.mp4", "mosaic", []),
    ("cockatoo.mp4", "mosaic", ["--size", "480"]),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    args = parser.parse_args()
    print("| clip | style | options | medium CRF 18: size, SSIM | default: preset, size, SSIM |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for clip, style, extra in CASES:
            source = args.shared / "data/video" / clip
            runs = {"lossless": ["--crf", "0"], "medium": ["--preset", "medium"], "default": []}
            outputs = {}
            for name, options in runs.items():
                out = Path(tmp) / f"{name}.mp4"
                command = [
                    *(sys.executable, "-m", "realtime", "-q", "video", str(source), str(out)),
                    *("--style", style, "--device", "cpu", "--quiet", *extra, *options),
                ]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(done.stderr)
                outputs[name] = out
            reference = frames(outputs["lossless"])
            row = {}
            for name in ("medium", "default"):
                decoded = frames(outputs[name])
                ssim = np.mean([ssim_luma(a, b) for a, b in zip(reference, decoded, strict=True)])
                row[name] = (outputs[name].stat().st_size, float(ssim))
            (m_size, m_ssim), (d_size, d_ssim) = row["medium"], row["default"]
            preset = "superfast" if style.endswith("-lite") else "medium"
            print(
                f"| {clip} | {style} | {' '.join(extra) or '-'} | {m_size / 1e6:.2f} MB, "
                f"{m_ssim:.4f} | {preset}, {d_size / 1e6:.2f} MB ({100 * d_size / m_size:.0f}%), "
                f"{d_ssim:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
