"""A painting added from the panel (``POST /api/styles``) against real ``realtime webcam
--panel`` processes: hostile and bad uploads are refused with their reason and change nothing;
a real painting trains in a real subprocess (a tiny recipe), is installed in the styles
folder and painted live; cancelling or stopping the run ends the training's processes and
leaves the styles folder as it was."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fixtures_media import make_clip
from test_panel import CHROMIUM, Run, end_run, free_port, request, start_panel, state, stop

pytest.importorskip("aiohttp", reason="the panel needs the [panel] extra (aiohttp)")

REPO = Path(__file__).resolve().parents[1]
HAS_TORCH = importlib.util.find_spec("torch") is not None
# Three steps on 64 px crops: the whole path (train, export, install, switch) in seconds.
TINY_RECIPE = """steps = {steps}
batch_size = 2
image_size = 64
style_size = 128
arch = "lite"
preview_every = 1
log_every = 1
checkpoint_every = 0
num_workers = 1
threads = 1
"""


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A still picture for 120 s: what changes in the output, the style changed."""
    folder = tmp_path_factory.mktemp("add-style")
    return make_clip(folder / "camera.mp4", 320, 240, frames=3000, rate=25, pattern="still")


def start_run(clip: Path, cwd: Path, *options: str, env: dict[str, str] | None = None) -> Run:
    """A real ``realtime webcam --panel`` on ``clip``, frames flowing."""
    port = free_port()
    command = [
        sys.executable, "-m", "realtime", "webcam", "--camera", str(clip), "--no-window",
        "--arch", "lite", "--device", "cpu", "--temporal", "off", "--snapshot-dir", str(cwd),
        "--panel", f"127.0.0.1:{port}", "--quiet", *options,
    ]  # fmt: skip
    return start_panel(command, cwd, port, env)


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    """The runs a test started, stopped at its end whatever happened."""
    started: list[Run] = []
    yield started
    for run in started:
        end_run(run)


def wait_for(condition, timeout: float, run: Run | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out" + (
            "\n" + "\n".join(run.lines[-30:]) if run else ""
        )
        time.sleep(0.2)


def form(*fields: tuple[str, str | None, bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body of (field, file name or None, bytes), and its type."""
    boundary = "realtime-test-" + secrets.token_hex(8)
    body = b""
    for name, filename, data in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def add(run: Run, *fields: tuple[str, str | None, bytes], **headers: str) -> tuple[int, dict]:
    body, kind = form(*fields)
    auth = {"Authorization": f"Bearer {run.token}"} if "token" not in headers else {}
    headers.pop("token", None)
    status, data = request(run.api("/api/styles"), "POST", headers=auth | headers | {
        "Content-Type": kind}, raw=body)  # fmt: skip
    return status, json.loads(data)


def cancel(run: Run) -> tuple[int, dict]:
    status, data = request(run.api("/api/styles/cancel"), "POST",
                           headers={"Authorization": f"Bearer {run.token}"})  # fmt: skip
    return status, json.loads(data)


def image(width: int, height: int, ext: str = ".jpg") -> bytes:
    rng = np.random.default_rng(width * height)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, data = cv2.imencode(ext, pixels)
    assert ok
    return data.tobytes()


def listing(folder: Path) -> list[str] | None:
    """Everything under ``folder`` (None when it does not exist)."""
    if not folder.exists():
        return None
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid`` (Linux's /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def trainer_pid(run: Run) -> int:
    """The ``realtime train`` child of the run."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if int(fields[1]) == run.process.pid and b"train" in command:
            return int(stat.parent.name)
    raise AssertionError("no training subprocess found")


# -- refused, and nothing changes --------------------------------------------------------------


def test_bad_paintings_are_refused_and_change_nothing(
    camera_clip: Path, tmp_path: Path, runs: list[Run]
) -> None:
    styles = tmp_path / "styles"  # not there: a refused painting must not create it
    run = start_run(camera_clip, tmp_path, "--style", "mosaic",
                    env={"REALTIME_STYLES_DIR": str(styles)})  # fmt: skip
    runs.append(run)
    before = state(run)
    painting = ("painting", "great-wave.jpg", image(128, 96))

    status, answer = add(run, painting, token="none")
    assert status == 401 and "token" in answer["error"]
    status, answer = add(run, painting, Origin="http://evil.example")
    assert status == 403
    status, _ = request(run.api(f"/api/styles?token={run.token}"))
    assert status == 405  # nothing changes on GET
    status, data = request(run.api("/api/styles"), "POST", {"painting": "x"},
                           {"Authorization": f"Bearer {run.token}"})  # fmt: skip
    assert status == 415 and b"multipart/form-data" in data

    cases = [
        ((("painting", "photo.jpg", b"this is text, not a picture\n" * 40),), 415, "JPEG, PNG"),
        ((("painting", "big.jpg", b"\xff\xd8\xff" + bytes(21 * 2**20)),), 413, "over 20 MB"),
        ((("painting", "tiny.png", image(32, 48, ".png")),), 400, "at least 64 px"),
        ((("painting", "wide.png", image(9000, 64, ".png")),), 400, "at most 8192 px"),
        ((painting, ("name", None, b"candy")), 409, "'candy' exists"),
        ((("painting", "Mosaic.JPG", image(128, 96)),), 409, "'mosaic' exists"),
        ((painting, ("name", None, b"../../etc")), 400, "letters, digits and '-'"),
        ((painting, ("name", None, b"wave-lite")), 400, "may not end in -lite"),
        ((painting, ("name", None, "名前".encode())), 400, "letters, digits and '-'"),
        ((painting, ("colour", None, b"red")), 400, "unknown field 'colour'"),
        ((("name", None, b"wave"),), 400, "no painting"),
    ]
    for fields, code, reason in cases:
        status, answer = add(run, *fields)
        assert (status, reason in answer["error"]) == (code, True), (fields[0][:2], answer)
    assert state(run)["training"] is None
    assert listing(styles) is None

    if HAS_TORCH:  # a training starts (collecting frames first); a second one must wait
        status, answer = add(run, painting)
        assert status == 202 and answer["training"]["status"] == "collecting", answer
        assert answer["training"]["name"] == "great-wave"
        status, answer = add(run, ("painting", "other.png", image(100, 100, ".png")))
        assert status == 409 and "training already (great-wave)" in answer["error"]
        status, answer = cancel(run)
        assert status == 200 and answer["training"]["status"] == "cancelled", answer
    status, answer = cancel(run)
    assert status == 409 and "no painting is training" in answer["error"]
    after = state(run)
    assert after["styles"] == before["styles"] and after["style"] == before["style"]
    assert listing(styles) is None
    assert stop(run) == 0


def test_a_single_style_run_says_what_takes_a_painting(
    camera_clip: Path, tmp_path: Path, runs: list[Run]
) -> None:
    network = REPO / "realtime" / "bundled_styles" / "mosaic-lite.onnx"  # one style, a file
    run = start_run(camera_clip, tmp_path, "--style", str(network))
    runs.append(run)
    status, answer = add(run, ("painting", "wave.jpg", image(128, 96)))
    assert status == 409 and "multi-style network" in answer["error"], answer
    assert "--style paintings-lite" in answer["error"]
    assert state(run)["training"] is None
    assert stop(run) == 0
    done = subprocess.run(
        [sys.executable, "-m", "realtime", "webcam", "--panel-photos", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "--panel-photos goes with --panel" in done.stderr


@pytest.mark.skipif(not HAS_TORCH, reason="a painting trains with torch (the [train] extra)")
def test_a_failed_training_says_why_and_changes_nothing(
    camera_clip: Path, tmp_path: Path, runs: list[Run]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in range(2):
        (photos / f"photo{n}.jpg").write_bytes(image(96 + n, 80))
    recipe = tmp_path / "broken.toml"
    recipe.write_text("steps = 3\nbrush = 1\n", encoding="utf-8")
    styles = tmp_path / "styles"
    env = {"REALTIME_STYLES_DIR": str(styles)}
    run = start_run(camera_clip, tmp_path, "--style", "mosaic", "--panel-photos", str(photos),
                    "--panel-recipe", str(recipe), env=env)  # fmt: skip
    runs.append(run)
    status, answer = add(run, ("painting", "wave.png", image(200, 150, ".png")))
    assert status == 202, answer
    wait_for(lambda: state(run)["training"]["status"] == "failed", 120, run)
    training = state(run)["training"]
    # The trainer's own one-line error, not a traceback.
    assert training["message"].startswith("training wave failed: "), training
    assert "unknown key 'brush'" in training["message"]
    assert "\n" not in training["message"] and "Traceback" not in training["message"]
    assert listing(styles) is None
    assert state(run)["styles"] == ["mosaic", "candy", "udnie", "rain-princess"]
    assert stop(run) == 0


# -- a real painting, a real training ----------------------------------------------------------


def _recipe(folder: Path, steps: int) -> Path:
    path = folder / "tiny.toml"
    path.write_text(TINY_RECIPE.format(steps=steps), encoding="utf-8")
    return path


def _preview(run: Run) -> np.ndarray:
    status, data = request(run.api(f"/api/preview.jpg?token={run.token}"))
    assert status == 200
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(int)


@pytest.mark.slow
def test_a_painting_becomes_a_live_style(
    camera_clip: Path, tmp_path: Path, runs: list[Run], shared_dir: Path, vgg_weights: Path
) -> None:
    painting = shared_dir / "data" / "styles-heldout" / "wave.jpg"
    styles = tmp_path / "styles"
    env = {"REALTIME_STYLES_DIR": str(styles), "REALTIME_VGG_WEIGHTS": str(vgg_weights)}
    # No --panel-photos: it trains on frames of the camera, as a user's first try does.
    run = start_run(camera_clip, tmp_path, "--style", "mosaic", "--panel-recipe",
                    str(_recipe(tmp_path, 3)), env=env)  # fmt: skip
    runs.append(run)
    mosaic = _preview(run)
    status, answer = add(run, ("painting", "Great Wave.jpg", painting.read_bytes()),
                         ("name", None, b"wave"))  # fmt: skip
    assert status == 202, answer
    previews = []

    def finished() -> bool:
        training = state(run)["training"]
        if training["preview"]:
            status, data = request(run.api(f"/api/styles/training/preview.jpg?token={run.token}"))
            previews.append((status, data[:2]))
        return training["status"] not in ("collecting", "training", "exporting")

    wait_for(finished, 240, run)
    after = state(run)
    assert after["training"]["status"] == "done", after["training"]
    assert after["training"]["step"] == after["training"]["steps"] == 3
    assert (200, b"\xff\xd8") in previews  # the style painting the camera's frame, learning
    assert after["styles"][-1] == "wave" and after["style"] == "wave"
    assert after["styles"][:4] == ["mosaic", "candy", "udnie", "rain-princess"]
    time.sleep(1.5)
    assert np.abs(_preview(run) - mosaic).mean() > 5  # the run paints the new style
    status, data = request(run.api(f"/api/styles/wave/thumbnail.jpg?token={run.token}"))
    assert status == 200 and data[:2] == b"\xff\xd8"

    assert listing(styles) == sorted([
        "paintings", "paintings/wave.jpg", "paintings-lite.json", "paintings-lite.onnx",
        "wave-lite.json", "wave-lite.onnx",
    ])  # fmt: skip
    card = json.loads((styles / "paintings-lite.json").read_text())
    assert [s["name"] for s in card["styles"]][-1] == "wave"
    assert card["styles"][-1]["path"] == str(styles / "paintings" / "wave.jpg")
    assert stop(run) == 0
    listed = subprocess.run([sys.executable, "-m", "realtime", "styles"], capture_output=True,
                            text=True, env=os.environ | env, timeout=60)  # fmt: skip
    line = next(x for x in listed.stdout.splitlines() if x.startswith("paintings-lite "))
    assert "mosaic,candy,udnie,rain-princess,wave" in line and "user" in line
    assert any(x.startswith("wave-lite ") for x in listed.stdout.splitlines())


def test_cancel_and_stop_end_the_training_and_leave_no_trace(
    camera_clip: Path, tmp_path: Path, runs: list[Run], shared_dir: Path, vgg_weights: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for path in sorted((shared_dir / "data" / "content").rglob("*.jpg"))[:6]:
        shutil.copy(path, photos)
    styles = tmp_path / "styles"
    styles.mkdir()
    (styles / "notes.txt").write_text("the user's own file\n")
    env = {"REALTIME_STYLES_DIR": str(styles), "REALTIME_VGG_WEIGHTS": str(vgg_weights)}
    run = start_run(camera_clip, tmp_path, "--style", "mosaic", "--panel-photos", "photos",
                    "--panel-recipe", str(_recipe(tmp_path, 5000)), env=env)  # fmt: skip
    runs.append(run)
    painting = ("painting", "wave.jpg", (shared_dir / "data/styles-heldout/wave.jpg").read_bytes())

    def training_started() -> int:
        status, answer = add(run, painting)
        assert status == 202 and answer["training"]["to_collect"] == 0, answer
        wait_for(lambda: state(run)["training"]["step"] >= 1, 120, run)
        pid = trainer_pid(run)
        assert os.getpgid(pid) == pid  # a group of its own
        assert os.getpriority(os.PRIO_PROCESS, pid) >= os.getpriority(os.PRIO_PROCESS, 0) + 1
        return pid

    group = training_started()
    status, answer = cancel(run)
    assert status == 200 and answer["training"]["status"] == "cancelled", answer
    wait_for(lambda: not group_members(group), 10)
    assert listing(styles) == ["notes.txt"]
    assert state(run)["styles"] == ["mosaic", "candy", "udnie", "rain-princess"]

    group = training_started()  # again; now the run stops under it (Ctrl-C)
    assert stop(run) == 0
    wait_for(lambda: not group_members(group), 10)
    assert listing(styles) == ["notes.txt"]


# -- the page, in a real browser ---------------------------------------------------------------


@pytest.mark.skipif(not HAS_TORCH, reason="a painting trains with torch (the [train] extra)")
def test_the_page_takes_a_painting_and_cancels_it(
    camera_clip: Path, tmp_path: Path, runs: list[Run]
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright ([dev])")
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    styles = tmp_path / "styles"
    run = start_run(camera_clip, tmp_path, "--style", "mosaic",
                    env={"REALTIME_STYLES_DIR": str(styles)})  # fmt: skip
    runs.append(run)
    (tmp_path / "notes.jpg").write_text("not a picture\n")
    (tmp_path / "Sunset Study.png").write_bytes(image(160, 120, ".png"))
    expect = sync_api.expect
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(run.url)
            page.wait_for_selector("#style-candy img")
            page.set_input_files("#painting", str(tmp_path / "notes.jpg"))
            expect(page.locator("#add-message.error")).to_contain_text("JPEG, PNG or WebP")
            page.set_input_files("#painting", str(tmp_path / "Sunset Study.png"))
            status = page.locator("#training-status")
            expect(status).to_contain_text("sunset-study: collecting camera frames")
            assert state(run)["training"]["name"] == "sunset-study"
            page.click("#training-cancel")
            expect(status).to_contain_text("cancelled")
            expect(page.locator("#training-cancel")).to_be_hidden()
        finally:
            browser.close()
    assert state(run)["training"]["status"] == "cancelled"
    assert listing(styles) is None
    assert stop(run) == 0
