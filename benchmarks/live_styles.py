"""Is every bundled style real-time live on this machine? ``realtime webcam`` with a clip as
the camera, each style run ``--runs`` times, as docs/BENCHMARKS.md records it.

For each run: the per-second ``live:`` reports after the first ``--settle`` seconds (their
median is the run's fps; the first seconds load the network and fill the pipeline), the
run's latency p50 / p95 and its dropped frames, from the summary line ``realtime webcam``
prints. Pass ``--pause PID`` to stop a background process (a training) while measuring.

    python benchmarks/make_webcam_clip.py --shared ../shared --out c360.mp4
    python benchmarks/live_styles.py --camera c360.mp4 --styles mosaic candy udnie rain-princess

Other arguments go to ``realtime webcam`` (e.g. ``--size 320 --morph-to candy``).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPORT = re.compile(r"^live: ([\d.]+) fps \| latency p50 (\d+) ms, p95 (\d+) ms")
SUMMARY = re.compile(
    r"(\d+) frames out of (\d+) captured \((\d+) dropped\) in ([\d.]+) s .*"
    r"latency p50 (\d+) ms, p95 (\d+) ms; style '([^']+)'"
)


@dataclass(frozen=True)
class Run:
    style: str  # the network that ran (NAME-lite where the CPU picks it)
    fps_reports: list[float]  # per-second reports after the settling seconds
    p50_ms: int
    p95_ms: int
    dropped: int
    captured: int
    choice: str  # the line saying which network and why

    @property
    def median_fps(self) -> float:
        return statistics.median(self.fps_reports)


def run_once(camera: Path, style: str, seconds: int, settle: int, extra: list[str]) -> Run:
    command = [
        sys.executable, "-m", "realtime", "webcam", "--camera", str(camera), "--no-window",
        "--style", style, "--duration", str(seconds), *extra,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    lines = (done.stdout + done.stderr).splitlines()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {lines[-1:]}")
    reports = [float(m.group(1)) for line in lines if (m := REPORT.match(line))]
    summary = next(m for line in lines if (m := SUMMARY.search(line)))
    choice = next((line for line in lines if "lite network" in line or "--arch" in line), "")
    return Run(
        style=summary.group(7),
        fps_reports=reports[settle:],
        p50_ms=int(summary.group(5)),
        p95_ms=int(summary.group(6)),
        dropped=int(summary.group(3)),
        captured=int(summary.group(2)),
        choice=choice.strip(),
    )


@contextmanager
def paused(pid: int | None):
    """SIGSTOP ``pid``'s process group for the measurement, SIGCONT after, whatever happens."""
    if pid is None:
        yield
        return
    group = os.getpgid(pid)
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camera", type=Path, required=True, help="a 640x360 30 fps clip")
    parser.add_argument(
        "--styles", nargs="+", default=["mosaic", "candy", "udnie", "rain-princess"],
        help="styles or mixes (a mix has commas: mosaic:1,candy:0)",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--settle", type=int, default=3, help="reports left out at the start")
    parser.add_argument("--pause", type=int, help="PID whose process group is stopped meanwhile")
    args, extra = parser.parse_known_args()
    print("| style | run | network | fps reports after the first 3 s | median | "
          "latency p50 / p95 | dropped |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    with paused(args.pause):
        for style in args.styles:
            for number in range(1, args.runs + 1):
                run = run_once(args.camera, style, args.seconds, args.settle, extra)
                reports = ", ".join(f"{fps:.1f}" for fps in run.fps_reports)
                print(
                    f"| {style} | {number} | {run.style} | {reports} | {run.median_fps:.1f} | "
                    f"{run.p50_ms} / {run.p95_ms} ms | {run.dropped} of {run.captured} |",
                    flush=True,
                )
                if run.choice:
                    print(f"<!-- {run.choice} -->", flush=True)


if __name__ == "__main__":
    main()
