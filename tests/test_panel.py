"""The control panel against a real ``realtime webcam --panel`` process: its guard (token, Host,
Origin, bad requests), its JSON API, and the real page in a real headless Chromium (Debian's
``chromium`` driven by Playwright), which must change the loop's state and the preview."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
from fixtures_media import make_clip

pytest.importorskip("aiohttp", reason="the panel needs the [panel] extra (aiohttp)")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOC = Path(__file__).resolve().parents[1] / "docs" / "PANEL.md"
URL_LINE = re.compile(r"realtime: panel: (http://\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Run:
    """A real ``realtime webcam --panel`` process and what it printed."""

    process: subprocess.Popen
    url: str
    port: int
    token: str
    lines: list[str] = field(default_factory=list)

    def api(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def request(
    url: str,
    method: str = "GET",
    body: object = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, bytes]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if body is not None and raw is None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def state(run: Run) -> dict:
    status, data = request(run.api(f"/api/state?token={run.token}"))
    assert status == 200, data
    return json.loads(data)


def post(run: Run, path: str, body: object, **headers: str) -> tuple[int, dict]:
    auth = {"Authorization": f"Bearer {run.token}", **headers}
    status, data = request(run.api(path), "POST", body, auth)
    return status, json.loads(data)


def start_panel(command: list[str], cwd: Path, port: int, env: dict[str, str] | None = None) -> Run:
    """``command``, a real ``realtime webcam --panel 127.0.0.1:PORT`` run, once it has printed
    its URL and frames are flowing; its stderr is kept in ``Run.lines``."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=cwd,
                               env=os.environ | (env or {}))  # fmt: skip
    lines: list[str] = []
    found = threading.Event()

    def drain() -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            lines.append(line.rstrip())
            if URL_LINE.search(line):
                found.set()

    threading.Thread(target=drain, daemon=True).start()
    if not found.wait(60):
        process.kill()
        pytest.fail("no panel URL printed:\n" + "\n".join(lines))
    url = next(m.group(1) for line in lines if (m := URL_LINE.search(line)))
    live = Run(process, url, port, url.split("token=", 1)[1], lines)
    deadline = time.monotonic() + 30
    while state(live)["frames"] < 2:  # frames are flowing
        assert time.monotonic() < deadline, lines
        time.sleep(0.1)
    return live


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """320x240, 25 fps, 60 s of a still picture: whatever changes in the output, the
    controls changed."""
    folder = tmp_path_factory.mktemp("panel")
    return make_clip(folder / "camera.mp4", 320, 240, frames=1500, rate=25, pattern="still")


@pytest.fixture
def run(camera_clip: Path, tmp_path: Path) -> Iterator[Run]:
    port = free_port()
    command = [
        sys.executable, "-m", "realtime", "webcam", "--camera", str(camera_clip), "--no-window",
        "--style", "mosaic", "--arch", "lite", "--device", "cpu", "--temporal", "off",
        "--snapshot-dir", str(tmp_path), "--panel", f"127.0.0.1:{port}", "--quiet",
    ]  # fmt: skip
    live = start_panel(command, tmp_path, port)
    yield live
    end_run(live)


def end_run(run: Run, timeout: float = 30) -> None:
    """A test's run, stopped at its end whatever happened: Ctrl-C, then a kill."""
    if run.process.poll() is None:
        run.process.send_signal(signal.SIGINT)
        try:
            run.process.wait(timeout)
        except subprocess.TimeoutExpired:
            run.process.kill()


def stop(run: Run) -> int:
    """Ctrl-C, as a terminal gives it: the run ends, the server with it."""
    run.process.send_signal(signal.SIGINT)
    return run.process.wait(30)


# -- nobody else can drive it -------------------------------------------------------------


def test_the_guard_refuses_what_it_must(run: Run) -> None:
    assert run.url.startswith(f"http://127.0.0.1:{run.port}/?token=")
    assert len(run.token) >= 30
    status, body = request(run.api("/api/state"))
    assert status == 401 and b"token" in body
    status, _ = request(run.api("/api/state?token=wrong"))
    assert status == 401
    status, _ = request(run.api("/api/state"), headers={"Authorization": "Bearer wrong"})
    assert status == 401
    # DNS rebinding: the right token through a foreign name.
    status, body = request(
        run.api(f"/api/state?token={run.token}"), headers={"Host": f"evil.example:{run.port}"}
    )
    assert status == 421 and b"Host" in body
    # Another origin's page cannot post, even with the token.
    status, answer = post(run, "/api/state", {"strength": 0.1}, Origin="http://evil.example")
    assert status == 403, answer
    # No state change on GET; no permissive CORS.
    status, _ = request(run.api(f"/api/snapshot?token={run.token}"))
    assert status == 405
    with urllib.request.urlopen(run.api(f"/api/state?token={run.token}"), timeout=10) as answer:
        assert "Access-Control-Allow-Origin" not in answer.headers
        assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert state(run)["strength"] == 1.0  # nothing above changed the run


def test_bad_requests_get_a_clear_answer_and_change_nothing(run: Run) -> None:
    before = state(run)
    auth = {"Authorization": f"Bearer {run.token}"}
    status, data = request(run.api("/api/state"), "POST", headers=auth, raw=b"strength=1")
    assert status == 415 and b"JSON" in data
    status, answer = post(run, "/api/state", {"strength": 5})
    assert status == 400 and "between 0 and 1" in answer["error"]
    status, answer = post(run, "/api/state", {"style": "candy", "strength": "loud"})
    assert status == 400 and "strength" in answer["error"]
    status, answer = post(run, "/api/state", {"volume": 11})
    assert status == 400 and "cannot set volume" in answer["error"]
    status, answer = post(run, "/api/record", {"recording": True, "name": "../../etc/x.mp4"})
    assert status == 400 and "plain file name" in answer["error"]
    status, _ = request(run.api(f"/api/snapshots/..%2F..%2Fetc%2Fpasswd?token={run.token}"))
    assert status == 404
    status, _ = request(
        run.api("/api/state"), "POST", headers=auth | {"Content-Type": "application/json"},
        raw=b"x" * (200 * 1024),
    )  # fmt: skip
    assert status == 413
    after = state(run)
    for key in ("style", "strength", "temporal", "paused", "recording"):
        assert after[key] == before[key], key


def test_a_stalled_preview_client_cannot_stall_the_run(run: Run) -> None:
    """Preview streams that are never read (and more of them than are served): the loop and
    the API go on."""
    stalled = []
    for _ in range(6):
        sock = socket.create_connection(("127.0.0.1", run.port), timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(
            f"GET /api/preview.mjpg?token={run.token} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{run.port}\r\n\r\n".encode()
        )
        stalled.append(sock)  # never read from
    try:
        before = state(run)["frames"]
        time.sleep(3)
        after = state(run)["frames"]
        assert after > before + 3  # frames kept flowing
        started = time.monotonic()
        status, data = request(run.api(f"/api/preview.jpg?token={run.token}"))
        assert status == 200 and data[:2] == b"\xff\xd8"  # a JPEG, served at once
        assert time.monotonic() - started < 5
    finally:
        for sock in stalled:
            sock.close()


def test_ctrl_c_stops_the_server_with_the_run(run: Run) -> None:
    assert stop(run) == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(run.api(f"/api/state?token={run.token}"), timeout=3)


def curl_examples() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("curl ")]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl (apt-get install curl)")
def test_every_curl_example_in_the_docs_works(run: Run, tmp_path: Path) -> None:
    examples = curl_examples()
    assert len(examples) >= 12, examples
    env = os.environ | {"PANEL": f"http://127.0.0.1:{run.port}", "TOKEN": run.token}
    # The painting the "Adding a painting" example sends; it is cancelled by the next one
    # while it collects camera frames (training needs torch: without it the run says so).
    cv2.imwrite(str(tmp_path / "painting.jpg"), np.full((96, 128, 3), (40, 90, 200), np.uint8))
    has_torch = importlib.util.find_spec("torch") is not None
    for line in examples:
        if "/api/styles" in line and not has_torch:
            continue
        if '"recording": false' in line:
            # A person types the stop seconds after the start; back to back, a run still
            # loading the network the examples above switched to has no frame to record
            # (and says "nothing written", rightly). Wait for frames to flow first.
            deadline = time.monotonic() + 60
            while state(run)["loading"] is not None and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.5)
        done = subprocess.run(
            ["bash", "-c", line], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, (line, done.stdout, done.stderr)
    after = state(run)
    assert after["strength"] == 0.8 and after["temporal_strength"] == 0.5
    assert after["recording"] is None and (tmp_path / "show.mp4").is_file()
    assert (tmp_path / "preview.jpg").stat().st_size > 0
    assert list(tmp_path.glob("realtime-*.png"))  # the snapshot, in --snapshot-dir
    if has_torch:
        assert after["training"]["status"] == "cancelled", after["training"]


# -- the page, in a real browser ----------------------------------------------------------


def _preview(page) -> np.ndarray:
    png = page.locator("#preview").screenshot()
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(int)


def _settle(run: Run, seconds: float = 1.5) -> None:
    """Long enough for new frames to reach the preview (8 fps, a frame or two late)."""
    time.sleep(seconds)


@pytest.mark.slow
def test_the_page_drives_the_run_in_a_real_browser(run: Run, tmp_path: Path) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="needs playwright (the [dev] extra)"
    )
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.goto(run.url)
            page.wait_for_selector("#style-candy img")
            preview = page.locator("#preview")
            _wait(lambda: preview.evaluate("image => image.naturalWidth") > 0)
            _settle(run)
            mosaic = _preview(page)

            page.click("#style-candy")
            page.locator("#style-candy.current").wait_for()
            assert state(run)["style"] == "candy"
            _settle(run)
            candy = _preview(page)
            assert np.abs(candy - mosaic).mean() > 8  # the picture really changed

            page.locator("#mix-mosaic").fill("50")  # a range input: sets it and fires change
            _wait(lambda: state(run)["mix"]["mosaic"] > 0.2)
            mix = state(run)["mix"]  # mosaic at 50 beside candy at 100: a third and two
            assert mix["mosaic"] == pytest.approx(1 / 3, abs=0.02)
            assert mix["candy"] == pytest.approx(2 / 3, abs=0.02)

            page.locator("#strength").fill("0")
            _wait(lambda: state(run)["strength"] == 0.0)
            _settle(run)
            plain = _preview(page)
            assert np.abs(plain - candy).mean() > 8

            page.click("#temporal")
            _wait(lambda: state(run)["temporal"] is True)
            page.click("#temporal")
            _wait(lambda: state(run)["temporal"] is False)

            with page.expect_download() as download:
                page.click("#snapshot")
            saved = tmp_path / "downloaded.png"
            download.value.save_as(saved)
            picture = cv2.imread(str(saved))
            assert picture is not None and picture.shape == (240, 320, 3)
            assert list(tmp_path.glob("realtime-*.png"))  # kept beside the run too

            # A second tab shows the same state, and a change made elsewhere shows up.
            other = browser.new_page()
            other.goto(run.url)
            post(run, "/api/state", {"paused": True})
            for tab in (other, page):
                sync_api.expect(tab.locator("#pause")).to_have_text("Resume", timeout=10_000)
            page.screenshot(path=str(tmp_path / "panel.png"), full_page=True)
            if os.environ.get("REALTIME_PANEL_SCREENSHOT"):
                shutil.copy(tmp_path / "panel.png", os.environ["REALTIME_PANEL_SCREENSHOT"])
        finally:
            browser.close()
    assert stop(run) == 0


def _wait(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
