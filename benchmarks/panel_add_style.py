"""A painting added from the panel, measured as a user meets it (docs/PANEL.md, "Adding a
painting: measured"): time from drop to live, live fps before, while and after it trains, and
the new style's three numbers against a full training of the same painting.

    python benchmarks/panel_add_style.py --shared ../shared \
        --painting ../shared/data/styles-heldout/wave.jpg --reference wave=runs/heldout/wave.onnx

For each painting: a real ``realtime webcam --no-window --panel`` run on the CPU's default
(the lite four-painting network), a clip played as a 30 fps camera, the user styles folder a
fresh temporary one. After ``--before`` seconds the painting is POSTed to ``/api/styles``
with ``--panel-photos`` (the shared training photos without the held-out ones); the state is
polled every second for the live rate and the training's progress until the run paints the
new style. Then the new style (``NAME-lite``) and the reference network paint amber and the
held-out photos through ``realtime image``, each scored by ``../shared/tools/score_style.py``
(style / content / edges); the ratios are new over reference.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from lite_vs_full import scores  # noqa: E402
from panel_fps import URL_LINE, camera_clip, free_port  # noqa: E402
from retrain_bundled_styles import HOLDOUT  # noqa: E402

RUNNING = ("collecting", "training", "exporting")


def photo_folder(shared: Path, out: Path) -> Path:
    """The shared training photos without the held-out ones, as links."""
    out.mkdir(parents=True, exist_ok=True)
    for photo in sorted((shared / "data" / "content" / "train").iterdir()):
        if photo.name not in HOLDOUT:
            (out / photo.name).symlink_to(photo.resolve())
    return out


def api(base: str, token: str, path: str, body: bytes | None = None, kind: str = "") -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if kind:
        headers["Content-Type"] = kind
    request = urllib.request.Request(f"{base}{path}", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def multipart(painting: Path, name: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="painting"; '
        f'filename="{painting.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + painting.read_bytes() + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]  # fmt: skip
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def live_add(clip: Path, painting: Path, name: str, photos: Path, env: dict, before: float,
             after: float, recipe: Path | None) -> dict:  # fmt: skip
    """One webcam run: the painting dropped after ``before`` s; its timings and rates."""
    command = [sys.executable, "-m", "realtime", "webcam", "--camera", str(clip), "--no-window",
               "--device", "cpu", "--panel", f"127.0.0.1:{free_port()}", "--panel-photos",
               str(photos)]  # fmt: skip
    if recipe is not None:
        command += ["--panel-recipe", str(recipe)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    log: list[str] = []
    try:
        for line in process.stderr:  # type: ignore[union-attr]
            log.append(line)
            if match := URL_LINE.search(line):
                base, token = match.group(1).split("/?token=")
                break
        else:
            raise SystemExit("".join(log))
        # The rest of its output is read on, so a full pipe never blocks the run.
        reader = threading.Thread(target=log.extend, args=(process.stderr,), daemon=True)
        reader.start()
        rates: dict[str, list[float]] = {"before": [], "training": [], "after": []}
        time.sleep(2.0)  # its first stats line
        end = time.perf_counter() + before
        while time.perf_counter() < end:
            rates["before"].append(api(base, token, "/api/state")["fps"])
            time.sleep(1.0)
        body, kind = multipart(painting, name)
        dropped = time.perf_counter()
        api(base, token, "/api/styles", body, kind)
        state = api(base, token, "/api/state")
        while state["training"]["status"] in RUNNING or state["style"] != name:
            if state["training"]["status"] not in RUNNING + ("done",):
                raise SystemExit(f"the training ended {state['training']}")
            rates["training"].append(state["fps"])
            time.sleep(1.0)
            state = api(base, token, "/api/state")
        live = time.perf_counter() - dropped
        training = state["training"]
        time.sleep(2.0)  # past the switch's own frame
        end = time.perf_counter() + after
        while time.perf_counter() < end:
            rates["after"].append(api(base, token, "/api/state")["fps"])
            time.sleep(1.0)
    except Exception:
        time.sleep(1.0)
        print("".join(log[-40:]), file=sys.stderr)  # what the run said before it failed
        raise
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    reader.join(timeout=10)
    medians = {k: statistics.median(v) for k, v in rates.items() if v}
    return {"drop_to_live_s": live, "steps": training["steps"], "fps": medians}


def three_numbers(shared: Path, out: Path, style: str, painting: Path, env: dict) -> dict:
    """Amber's numbers and the held-out photos' mean, painted by ``style``."""
    data = shared / "data"
    photos = [data / "samples" / "amber.jpg", *(data / "content" / "train" / n for n in HOLDOUT)]
    saved = os.environ.copy()
    os.environ.update(env)  # the new style lives in the run's styles folder
    try:
        got = [scores(shared, out / f"{p.stem}-{Path(style).stem}.png", ["--style", style],
                      painting, p) for p in photos]  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"amber": got[0], "held-out mean": np.mean(got[1:], axis=0).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--painting", type=Path, action="append", required=True)
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="NAME=FULL.onnx",
        help="a full training of the painting NAME (its file's stem)",
    )
    parser.add_argument("--clip", type=Path, help="the camera (default: cockatoo.mp4)")
    parser.add_argument("--before", type=float, default=20.0, help="seconds of plain live rate")
    parser.add_argument("--after", type=float, default=20.0, help="seconds after it is live")
    parser.add_argument("--out", type=Path, default=Path("add-style-out"))
    parser.add_argument("--recipe", type=Path, help="replaces the packaged add-style recipe")
    parser.add_argument("--loops", type=int, default=80, help="times the clip plays")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    references = dict(item.split("=", 1) for item in args.reference)
    source = args.clip or args.shared / "data" / "video" / "cockatoo.mp4"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        # 30 fps for about 12 minutes: faster than the lite network paints on 2 cores.
        clip = camera_clip(source, work / "camera.mp4", (640, 360), 30, loops=args.loops)
        photos = photo_folder(args.shared, work / "photos")
        for painting in args.painting:
            name = painting.stem
            styles = work / f"styles-{name}"
            env = {**os.environ, "REALTIME_STYLES_DIR": str(styles),
                   "REALTIME_VGG_WEIGHTS": str(args.shared / "weights"
                                               / "vgg16-imagenet-features.pth")}  # fmt: skip
            row = {"painting": name, **live_add(clip, painting, name, photos, env, args.before,
                                                args.after, args.recipe)}  # fmt: skip
            row["new"] = three_numbers(args.shared, args.out, f"{name}-lite", painting, env)
            if name in references:
                row["reference"] = three_numbers(args.shared, args.out, references[name],
                                                 painting, env)  # fmt: skip
                row["ratio"] = {k: [a / b for a, b in zip(row["new"][k], row["reference"][k],
                                                          strict=True)]
                                for k in row["new"]}  # fmt: skip
            shutil.copytree(styles, args.out / f"styles-{name}", dirs_exist_ok=True)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
