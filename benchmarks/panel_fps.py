"""Live fps with the control panel open and its preview streaming, against the same run without
the panel (docs/PANEL.md, "What it costs").

A clip plays as the camera faster than the network can paint (60 fps), so the live rate is the
network's and anything the panel takes shows. Runs alternate, panel and plain, so a change in
the machine's load falls on both; each run's rate is the one ``realtime webcam`` reports at
its end. With the panel, one client streams the MJPEG preview and polls the state once a
second, as the page does.

    python benchmarks/panel_fps.py --clip ../shared/data/video/cockatoo.mp4 --runs 3
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from fractions import Fraction
from pathlib import Path

import av
import cv2

SUMMARY = re.compile(r"in [\d.]+ s \(([\d.]+) fps\)")
URL_LINE = re.compile(r"realtime: panel: (http://\S+)")


def camera_clip(source: Path, out: Path, size: tuple[int, int], rate: int, loops: int) -> Path:
    """``source``'s frames at ``size``, played ``loops`` times at ``rate`` fps."""
    with av.open(str(source)) as container:
        frames = [
            cv2.resize(f.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
            for f in container.decode(video=0)
        ]
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(rate))
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for _ in range(loops):
            for image in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def watch(url: str, stop: threading.Event) -> None:
    """What an open page does: stream the preview, poll the state every second."""
    base, token = url.split("/?token=")
    auth = {"Authorization": f"Bearer {token}"}

    def preview() -> None:
        request = urllib.request.Request(f"{base}/api/preview.mjpg", headers=auth)
        try:
            with urllib.request.urlopen(request, timeout=30) as stream:
                while not stop.is_set() and stream.read(65536):
                    pass
        except (OSError, http.client.HTTPException):
            pass  # the run ended

    threading.Thread(target=preview, daemon=True).start()
    while not stop.wait(1.0):
        try:
            request = urllib.request.Request(f"{base}/api/state", headers=auth)
            with urllib.request.urlopen(request, timeout=10) as answer:
                json.load(answer)
        except (OSError, http.client.HTTPException):
            return


def run_once(clip: Path, seconds: float, panel: bool, extra: list[str]) -> float:
    command = [
        sys.executable, "-m", "realtime", "webcam", "--camera", str(clip), "--no-window",
        "--quiet", "--duration", str(seconds), *extra,
    ]  # fmt: skip
    if panel:
        command += ["--panel", f"127.0.0.1:{free_port()}"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()
    lines = []
    for line in process.stderr:  # type: ignore[union-attr]
        lines.append(line)
        match = URL_LINE.search(line)
        if match:
            threading.Thread(target=watch, args=(match.group(1), stop), daemon=True).start()
    process.wait()
    stop.set()
    rates = [float(m.group(1)) for line in lines if (m := SUMMARY.search(line))]
    if process.returncode != 0 or not rates:
        raise SystemExit("".join(lines))
    return rates[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, required=True, help="a video to play as the camera")
    parser.add_argument("--size", default="640x360", help="the camera's frame size")
    parser.add_argument("--seconds", type=float, default=10.0, help="each run's length")
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind")
    parser.add_argument("--style", default="mosaic")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        clip = camera_clip(args.clip, Path(folder) / "camera.mp4", size, 60, loops=3)
        extra = ["--style", args.style, "--arch", "lite", "--device", "cpu"]
        plain, with_panel = [], []
        for index in range(args.runs):
            # Each pair runs back to back, in alternating order, so a drift in the machine's
            # speed falls on both sides of a pair; the pairs' ratios are what is compared.
            order = (False, True) if index % 2 == 0 else (True, False)
            for panel in order:
                rate = run_once(clip, args.seconds, panel, extra)
                (with_panel if panel else plain).append(rate)
            time.sleep(1)
    ratios = [p / q for p, q in zip(with_panel, plain, strict=True)]
    print(f"without the panel: {', '.join(f'{r:.2f}' for r in plain)} fps")
    print(f"panel + preview:   {', '.join(f'{r:.2f}' for r in with_panel)} fps")
    print(f"pairs' ratios: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"median of the pairs' ratios: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
