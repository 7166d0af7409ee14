"""``realtime batch`` against ``realtime video`` on the same file: how far apart, and where
(docs/CLUSTER.md, "Seams").

    python benchmarks/batch_seams.py ../shared/data/video/cockatoo.mp4 --out runs/seams \\
        --segment-seconds 3 -- --style mosaic --size 360

Runs both commands with the options after ``--`` (batch with ``--workers 2``), decodes both
outputs and prints, for the whole file and for each segment (its first frame, and all its
frames), the mean absolute difference per pixel and channel in levels (0-255), and the largest
per-frame mean. With ``--crf 0`` it sees the processing alone; at the default CRF it sees
what a user sees: the processing and the two encodes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

from realtime.app.batch.plan import plan_segments
from realtime.media.video_source import index_frames


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


def run(command: list[str]) -> None:
    print("$", " ".join(command), file=sys.stderr)
    code = subprocess.run(command).returncode
    if code not in (0, 3):
        raise SystemExit(f"exit code {code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/seams"))
    parser.add_argument("--segment-seconds", type=float, default=3.0)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.options = argv[split + 1 :]  # realtime options for both commands
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    realtime = [sys.executable, "-c", "from realtime.cli import main; raise SystemExit(main())"]
    whole = args.out / f"video{args.input.suffix}"
    run([*realtime, "video", str(args.input), str(whole), "--quiet", *args.options])
    run([*realtime, "batch", str(args.input), "--out-dir", str(args.out / "batch"),
         "--workers", "2", "--segment-seconds", str(args.segment_seconds), "--quiet",
         *args.options])  # fmt: skip
    single, joined = frames(whole), frames(args.out / "batch" / args.input.name)
    if len(single) != len(joined):
        raise SystemExit(f"frame counts differ: video {len(single)}, batch {len(joined)}")
    diffs = np.array([np.abs(a - b).mean() for a, b in zip(single, joined, strict=True)])
    print(f"whole file: {len(diffs)} frames, mean {diffs.mean():.3f}, largest {diffs.max():.3f}")
    index = index_frames(args.input)
    first = 0
    for segment in plan_segments(index, args.segment_seconds):
        part = diffs[first : first + segment.frames]
        print(
            f"segment {segment.index + 1} (frames {first}-{first + segment.frames - 1}): "
            f"first frame {part[0]:.3f}, all {part.mean():.3f}, largest {part.max():.3f}"
        )
        first += segment.frames


if __name__ == "__main__":
    main()
