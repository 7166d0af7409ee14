"""Any painting, live, in minutes: a painting given to a running multi-style session (the
panel's drop zone) becomes one more style of its network while the run goes on.

``StyleDesk.add`` checks the painting by its content and the name, then one ``StyleTraining``
job, on a thread of its own:

1. saves the camera's current frame (the training's preview photo) and, unless
   ``LiveConfig.add_style_photos`` names photos, collects frames of the live input to train on;
2. runs ``realtime train --add-style`` in a subprocess (torch stays out of this process), in a
   process group of its own at a lower priority, reading its progress and previews;
3. exports the network with its new last row, and the new row alone, in subprocesses;
4. moves both into the user styles folder (the network under the running one's name, so it
   shadows it), each file by an atomic rename, and the painting under ``paintings/``;
5. loads the new network off the loop, warms it up, and swaps it in between two frames.

All is written in a work folder under the styles folder first: a failed or cancelled job, or
a run stopped meanwhile, removes it and leaves the styles folder as it was.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import shutil
import sys
import threading
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from realtime.app.child_process import Cancelled, ChildProcess
from realtime.app.live import LiveSession
from realtime.app.painting import (
    Painting,
    StyleConflict,
    check_name_free,
    read_painting,
    style_name,
)
from realtime.core.cards import card_path_for, read_card, write_card
from realtime.core.errors import UserError, first_line
from realtime.core.extras import missing_message, missing_module
from realtime.core.model_io import ARCH_LITE
from realtime.core.paths import packaged_recipe_path
from realtime.runtime.styles import LITE_SUFFIX, user_styles_dir

log = logging.getLogger(__name__)

STATUSES = ("collecting", "training", "exporting", "done", "failed", "cancelled")
RUNNING = STATUSES[:3]
RECIPES = {True: "add-style-lite", False: "add-style-full"}  # by lite-ness
LITE_ARCH_CARD = "TransformerNet-lite"  # a card's "arch" for a lite network
_NO_FRAME_SECONDS = 10.0  # a camera that sends nothing this long fails the job
_JOIN_SECONDS = 15.0
_STEP = re.compile(r"train: step (\d+)/(\d+)|\|\s*(\d+)/(\d+) \[")
_PREVIEW = re.compile(r"^step_(\d+)\.jpg$")


@dataclass(frozen=True)
class TrainingState:
    """A job as it is: ``GET /api/state``'s ``training``."""

    status: str  # one of STATUSES
    name: str
    collected: int  # frames of the live input saved so far
    to_collect: int  # frames to collect (0: training on LiveConfig.add_style_photos)
    step: int  # training steps done
    steps: int
    eta_seconds: float | None  # the training's, from its measured rate; None until known
    elapsed_seconds: float
    message: str  # why it failed, or what was done
    preview: bool  # a preview of the new style painting the camera's frame exists

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Plan:
    name: str
    painting: Painting
    base: Path  # the running multi-style network
    lite: bool
    recipe: Path
    photos: Path | None
    frames: int
    interval: float
    styles_dir: Path


class StyleDesk:
    """Where one live session takes new paintings: one training at a time."""

    def __init__(self, session: LiveSession) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._job: StyleTraining | None = None

    def add(self, data: bytes, filename: str | None, name: str | None) -> TrainingState:
        """Start training ``data`` (an image file's bytes) as a new style; UserError (its
        subclasses say which) when it cannot be, and nothing is written then."""
        with self._lock:
            base = self._check_session()
            painting = read_painting(data)
            chosen = style_name(name, filename)
            check_name_free(chosen, self.session.state().styles)
            plan = _plan(self.session, chosen, painting, base)
            self._job = StyleTraining(self.session, plan)
            self._job.start()
            self.session.controls.say(f"training the new style {chosen}")
            return self._job.state()

    def _check_session(self) -> Path:
        base = self.session.network_path
        if base is None:
            raise StyleConflict(
                "adding a painting needs a multi-style network; run with one, e.g. --style "
                "paintings-lite on a CPU ('realtime styles' lists the MIXES)"
            )
        if self._job is not None and self._job.running:
            raise StyleConflict(
                f"a painting is training already ({self._job.plan.name}); wait for it or cancel it"
            )
        missing = missing_module("torch", "torchvision", "PIL")
        if missing is not None:
            raise StyleConflict(missing_message("adding a painting (training)", missing))
        return base

    def cancel(self) -> TrainingState:
        with self._lock:  # not halfway through an add
            job = self._job
        if job is None or not job.running:
            raise StyleConflict("no painting is training")
        job.cancel()
        job.join(_JOIN_SECONDS)
        return job.state()

    def state(self) -> TrainingState | None:
        return self._job.state() if self._job is not None else None

    def preview(self) -> bytes | None:
        return self._job.preview_jpeg() if self._job is not None else None

    def close(self) -> None:
        """The run is ending: a training stops, its subprocesses end, its files go."""
        with self._lock:
            job = self._job
        if job is not None and job.running:
            job.cancel()
            job.join(_JOIN_SECONDS)


def _plan(session: LiveSession, name: str, painting: Painting, base: Path) -> _Plan:
    card = read_card(base) or {}
    stylizer = session.controls.mixer.stylizer  # type: ignore[union-attr]
    # The base network's kind: its card's arch, else what its model file says.
    lite = card["arch"] == LITE_ARCH_CARD if "arch" in card else stylizer.info.arch == ARCH_LITE
    live = session.spec.live
    photos = live.add_style_photos
    return _Plan(  # absolute paths: the subprocesses run in the work folder
        name=name,
        painting=painting,
        base=base.resolve(),
        lite=lite,
        recipe=(live.add_style_recipe or packaged_recipe(lite)).resolve(),
        photos=photos.resolve() if photos is not None else None,
        frames=live.add_style_frames,
        interval=live.add_style_frame_interval,
        styles_dir=user_styles_dir().resolve(),
    )


def packaged_recipe(lite: bool) -> Path:
    """The packaged training recipe for a painting added to a lite or a full network."""
    resource = packaged_recipe_path(RECIPES[lite])
    if not resource.is_file():
        raise UserError(
            f"the packaged recipe realtime/recipes/{RECIPES[lite]}.toml is missing; reinstall "
            "realtime, or give --panel-recipe RECIPE.toml"
        )
    return resource


class StyleTraining:
    """One painting on its way to a style: collect, train, export, install, switch."""

    def __init__(self, session: LiveSession, plan: _Plan) -> None:
        self.session, self.plan = session, plan
        self.work = plan.styles_dir / ".training" / plan.name
        self.status = "collecting"
        self.message = ""
        self.collected = 0
        self.step, self.steps = 0, _recipe_steps(plan.recipe)
        self.started = time.monotonic()
        self.ended: float | None = None
        self._rate_from: tuple[int, float] | None = None  # (step, time) the rate counts from
        self._rate: float | None = None  # steps a second
        self._cancel = threading.Event()
        self._child_lock = threading.Lock()  # no subprocess starts after a cancel
        self._child: ChildProcess | None = None
        self._made: list[Path] = []  # folders this job created, removed when left empty
        self._last_preview: bytes | None = None  # kept when the work folder goes
        self._thread = threading.Thread(target=self._run, name=f"add-style {plan.name}",
                                        daemon=True)  # fmt: skip

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def cancel(self) -> None:
        self._cancel.set()
        with self._child_lock:
            if self._child is not None:
                self._child.stop()

    def state(self) -> TrainingState:
        now = self.ended if self.ended is not None else time.monotonic()
        eta = None
        if self._rate and self.status == "training":
            eta = round(max(0, self.steps - self.step) / self._rate, 1)
        return TrainingState(
            status=self.status,
            name=self.plan.name,
            collected=self.collected,
            to_collect=0 if self.plan.photos is not None else self.plan.frames,
            step=self.step,
            steps=self.steps,
            eta_seconds=eta,
            elapsed_seconds=round(now - self.started, 1),
            message=self.message,
            preview=self._last_preview is not None or self._newest_preview() is not None,
        )

    def preview_jpeg(self) -> bytes | None:
        path = self._newest_preview()
        try:
            return path.read_bytes() if path is not None else self._last_preview
        except OSError:
            return self._last_preview  # removed meanwhile: the job ended

    def _newest_preview(self) -> Path | None:
        folder = self.work / f"{self.plan.name}.previews"
        try:
            names = [n for n in (p.name for p in folder.iterdir()) if _PREVIEW.match(n)]
        except OSError:
            return None
        return folder / max(names) if names else None

    # -- the job's thread --------------------------------------------------------------------

    def _run(self) -> None:
        status, message = self._steps()
        self._clean_up()
        self.ended = time.monotonic()
        # Last: a job that says it ended has cleaned up (a test, a script may look at once).
        self.message, self.status = message, status
        self.session.controls.say(message)

    def _steps(self) -> tuple[str, str]:
        """Every step in turn; the job's final status and message."""
        plan = self.plan
        try:
            painting, frame = self._prepare()
            dataset = plan.photos or self._collect()
            self.status = "training"
            trained = self._train(painting, frame, dataset)
            self.status = "exporting"
            network, single = self._export(trained)
            if self._cancel.is_set():
                raise Cancelled
            self._install(painting, network, single)
            return "done", self._switch(plan.styles_dir / network.name)
        except Cancelled:
            return "cancelled", f"cancelled; {plan.name} was not added"
        except UserError as exc:
            return "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - the run goes on; the page says what failed
            log.debug("adding %s failed", plan.name, exc_info=True)  # -v: the traceback
            return "failed", f"adding {plan.name} failed: {first_line(exc)}"

    def _prepare(self) -> tuple[Path, Path]:
        """The work folder (a leftover of a killed run is replaced), the painting and the
        camera's current frame in it."""
        for folder in (self.plan.styles_dir, self.work.parent):
            if not folder.exists():
                folder.mkdir(parents=True)
                self._made.append(folder)
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir()
        painting = self.work / f"{self.plan.name}{self.plan.painting.ext}"
        painting.write_bytes(self.plan.painting.data)
        frame = self.work / "frame.jpg"
        _write_jpeg(frame, self._next_frame(None))
        return painting, frame

    def _next_frame(self, last: np.ndarray | None) -> np.ndarray:
        """The camera's newest frame, once it is not ``last``."""
        deadline = time.monotonic() + _NO_FRAME_SECONDS
        while True:
            frame = self.session.latest_input()
            if frame is not None and frame is not last:
                return frame
            if time.monotonic() > deadline:
                raise UserError(
                    f"the camera sent no frame for {_NO_FRAME_SECONDS:g} s; check it, or give "
                    "--panel-photos DIR to train on photos"
                )
            if self._cancel.wait(0.05):
                raise Cancelled

    def _collect(self) -> Path:
        """Frames of the live input, ``interval`` apart: the photos the style trains on."""
        folder = self.work / "frames"
        folder.mkdir()
        frame = None
        while self.collected < self.plan.frames:
            frame = self._next_frame(frame)
            _write_jpeg(folder / f"frame_{self.collected:03d}.jpg", frame)
            self.collected += 1
            if self._cancel.wait(self.plan.interval):
                raise Cancelled
        return folder

    def _train(self, painting: Path, frame: Path, dataset: Path) -> Path:
        out = self.work / f"{self.plan.name}.pth"
        self._call("training", [
            "train", "--config", str(self.plan.recipe), "--add-style", str(painting),
            "--base", str(self.plan.base), "--dataset", str(dataset), "--out", str(out),
            "--preview-image", str(frame),
        ], on_line=self._progress)  # fmt: skip
        return out

    def _export(self, trained: Path) -> tuple[Path, Path]:
        """The network with its new row, under the running one's name, and the new row alone."""
        plan = self.plan
        folder = self.work / "export"
        folder.mkdir()
        network = folder / f"{plan.base.stem}.onnx"
        alone = plan.name + (LITE_SUFFIX if plan.lite else "")  # as --style NAME finds it
        single = folder / f"{alone}.onnx"
        self._call("exporting", ["export", str(trained), str(network), "--fp16",
                                 "--style-name", plan.base.stem])  # fmt: skip
        self._call("exporting", ["export", str(trained), str(single), "--fp16", "--style",
                                 plan.name, "--style-name", alone])  # fmt: skip
        self._finish_cards(network, single)
        return network, single

    def _call(self, what: str, arguments: list[str], on_line: Any = None) -> None:
        """``python -m realtime ARGUMENTS`` to its end; Cancelled or UserError if it did not
        succeed."""
        with self._child_lock:
            if self._cancel.is_set():
                raise Cancelled
            command = [sys.executable, "-m", "realtime", *arguments]
            self._child = ChildProcess(command, self.work, on_line)
        code = self._child.wait()
        if self._cancel.is_set():
            raise Cancelled
        if code != 0:
            raise UserError(f"{what} {self.plan.name} failed: {self._child.reason(code)}")

    def _progress(self, line: str) -> None:
        match = _STEP.search(line)
        if match is None:
            return
        step, steps = (int(g) for g in match.groups() if g is not None)
        now = time.monotonic()
        self.step, self.steps = step, steps
        if self._rate_from is None:
            # From the first step seen: the steps before it paid for loading torch and VGG.
            self._rate_from = (step, now)
        elif step > self._rate_from[0]:
            self._rate = (step - self._rate_from[0]) / (now - self._rate_from[1])

    def _finish_cards(self, network: Path, single: Path) -> None:
        """The cards name the painting where it is kept, carry its thumbnail (the gallery
        shows the painting), and the network's card its own name."""
        plan = self.plan
        kept = str(plan.styles_dir / "paintings" / f"{plan.name}{plan.painting.ext}")
        thumbnail = base64.b64encode(plan.painting.thumbnail).decode("ascii")
        card = read_card(network) or {}
        card["name"] = plan.base.stem
        for entry in card.get("styles", []):
            if entry.get("name") == plan.name:
                entry.update(path=kept, thumbnail=thumbnail)
        write_card(card_path_for(network), card)
        card = read_card(single) or {}
        card.setdefault("style_image", {}).update(path=kept, thumbnail=thumbnail)
        if isinstance(card.get("multi_style"), dict):
            card["multi_style"]["network"] = plan.base.stem
        write_card(card_path_for(single), card)

    def _install(self, painting: Path, network: Path, single: Path) -> None:
        """Into the styles folder by renames (one file system): the new row first, the
        network it shadows the running one with last, its card before it."""
        paintings = self.plan.styles_dir / "paintings"
        paintings.mkdir(exist_ok=True)
        painting.replace(paintings / painting.name)
        for path in (card_path_for(single), single, card_path_for(network), network):
            path.replace(self.plan.styles_dir / path.name)

    def _switch(self, network: Path) -> str:
        """The live run paints with the new network from the next frame, or says why not."""
        name = self.plan.name
        try:
            if self._cancel.is_set():
                raise UserError("the run is stopping")
            stylizer = self.session.load_network(network)
            self.session.replace_network(stylizer, name)
        except UserError as exc:
            return f"{name} is added ({network}); restart the run to paint it ({exc})"
        return f"{name} is added ({network}) and painting"

    def _clean_up(self) -> None:
        self._last_preview = self.preview_jpeg()
        shutil.rmtree(self.work, ignore_errors=True)
        for folder in (self.work.parent, *reversed(self._made)):
            with contextlib.suppress(OSError):  # only when empty: other files stay
                folder.rmdir()


def _recipe_steps(recipe: Path) -> int:
    """The steps the recipe trains for (0 when it does not say: the trainer's log will)."""
    try:
        steps = tomllib.loads(recipe.read_text(encoding="utf-8")).get("steps", 0)
    except (OSError, ValueError):
        return 0
    return steps if isinstance(steps, int) else 0


def _write_jpeg(path: Path, frame: np.ndarray) -> None:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 92])  # fmt: skip
    if not ok:
        raise UserError(f"could not encode a camera frame as {path.name}")
    path.write_bytes(data.tobytes())
