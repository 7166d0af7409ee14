"""Take docs/panel.jpg: a real ``realtime webcam --panel`` run on a clip, its page opened in
headless Chromium (Debian's ``chromium``, driven by Playwright), a mix set, a screenshot.

    python scripts/panel_screenshot.py --clip ../shared/data/video/cockatoo.mp4 --out docs/panel.jpg
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
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


def start(clip: Path) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable, "-m", "realtime", "webcam", "--camera", str(clip), "--no-window",
        "--style", "mosaic", "--arch", "lite", "--size", "480", "--quiet",
        "--panel", f"127.0.0.1:{free_port()}",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
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
    args = parser.parse_args()
    process, url = start(args.clip)
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
            page = browser.new_page(viewport={"width": 1180, "height": 720})
            page.goto(url)
            page.locator("#style-rain-princess img").wait_for()
            time.sleep(4)  # the preview and a full second of statistics
            page.screenshot(path=str(args.out), quality=90, type="jpeg")
            browser.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
