"""Take docs/panel.jpg: a real ``realtime webcam --panel`` run on a clip, its page opened in
headless Chromium (Debian's ``chromium``, driven by Playwright), a mix set, a screenshot.

    python scripts/panel_screenshot.py --clip ../shared/data/video/cockatoo.mp4 --out docs/panel.jpg

With ``--painting P --photos DIR`` (and ``REALTIME_VGG_WEIGHTS`` where torchvision cannot
download VGG-16) the page is given a painting and shot while it trains: the progress and the
new style's preview beside the live picture. The run's styles folder is a temporary one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

URL_LINE = re.compile(r"realtime: panel: (http://\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(clip: Path, photos: Path | None, styles: Path) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable, "-m", "realtime", "webcam", "--camera", str(clip), "--no-window",
        "--style", "mosaic", "--arch", "lite", "--size", "480", "--quiet",
        "--panel", f"127.0.0.1:{free_port()}",
    ]  # fmt: skip
    if photos is not None:
        command += ["--panel-photos", str(photos)]
    env = {**os.environ, "REALTIME_STYLES_DIR": str(styles)}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            if match := URL_LINE.search(line):
                found.append(match.group(1))
                ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(60):
        process.kill()
        raise SystemExit(f"no panel URL; the run ended with {process.wait()}")
    return process, found[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/panel.jpg"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--painting", type=Path, help="a painting to drop on the page")
    parser.add_argument("--photos", type=Path, help="with --painting: photos to train on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.painting is not None:  # the camera must outlast the training
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
            from panel_fps import camera_clip

            args.clip = camera_clip(args.clip, Path(folder) / "camera.mp4", (640, 360), 25, 30)
        shoot(args, Path(folder) / "styles")
    print(f"wrote {args.out}")


def shoot(args: argparse.Namespace, styles: Path) -> None:
    process, url = start(args.clip, args.photos, styles)
    base, token = url.split("/?token=")
    try:
        body = json.dumps({"mix": {"mosaic": 0.35, "candy": 0.65}}).encode()
        request = urllib.request.Request(
            f"{base}/api/state", body, {"Authorization": f"Bearer {token}",
                                         "Content-Type": "application/json"},
        )  # fmt: skip
        urllib.request.urlopen(request, timeout=20).close()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True)
            height = 720 if args.painting is None else 940
            page = browser.new_page(viewport={"width": 1180, "height": height})
            page.goto(url)
            page.locator("#style-rain-princess img").wait_for()
            if args.painting is not None:
                page.set_input_files("#painting", str(args.painting))
                # A few previews in: the new style is already recognisable in it.
                page.locator("#training-preview").wait_for(state="visible", timeout=300_000)
                time.sleep(30)
            time.sleep(4)  # the preview and a full second of statistics
            page.screenshot(path=str(args.out), quality=90, type="jpeg")
            browser.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


if __name__ == "__main__":
    main()
