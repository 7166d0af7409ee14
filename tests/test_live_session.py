"""``LiveSession``: a real live run (a video file played as the camera, the bundled multi-style
lite network on ONNX Runtime's CPU provider) driven from another thread, as the panel drives
it, while the loop runs on the main thread."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from fixtures_media import make_clip

from realtime.app.live import LiveSpec, open_live_session
from realtime.cli.wiring import TorchWiring
from realtime.core.config import (
    CameraConfig,
    EngineConfig,
    LiveConfig,
    LiveOutputsConfig,
    ProcessConfig,
    RunConfig,
)
from realtime.core.errors import UserError


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64x48, 25 fps, 8 s: long enough for the controls below, ended by stop()."""
    return make_clip(tmp_path_factory.mktemp("session") / "camera.mp4", frames=200, rate=25)


def spec_for(clip: Path, tmp_path: Path, **live) -> LiveSpec:
    return LiveSpec(
        run=RunConfig(
            style="mosaic",
            arch="lite",
            engine=EngineConfig(device="cpu", threads=1),
            process=ProcessConfig(temporal="off"),
        ),
        camera=CameraConfig(camera=str(clip)),
        outputs=LiveOutputsConfig(window=False, snapshot_dir=tmp_path),
        live=LiveConfig(log_stats=False, **live),
    )


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        assert time.perf_counter() < deadline, "timed out"
        time.sleep(0.02)


def test_every_control_from_another_thread_changes_the_run(clip: Path, tmp_path: Path) -> None:
    session = open_live_session(spec_for(clip, tmp_path), TorchWiring())
    state = session.state()
    # The bundled lite network paints all four paintings: one row each, mixable.
    assert state.arch == "lite" and state.style == "mosaic"
    assert {"mosaic", "candy"} <= set(state.mixable) and state.mix is not None
    seen: dict[str, object] = {}
    errors: list[BaseException] = []
    recording = tmp_path / "take.mp4"

    def frame_after_next() -> np.ndarray:
        done = session.state().frames
        wait_for(lambda: session.state().frames >= done + 2)
        frame = session.controls.last_output
        assert frame is not None
        return frame.copy()

    def panel() -> None:
        try:
            wait_for(lambda: session.state().frames >= 2)
            before = frame_after_next()
            session.set_style("candy")
            seen["style"] = session.state().style
            candy = frame_after_next()
            seen["style changed the picture"] = float(np.abs(candy.astype(int) - before).mean())
            session.set_mix({"mosaic": 0.5, "candy": 0.5})
            seen["mix"] = session.state().mix
            session.set_strength(0.0)
            seen["strength 0 frame"] = frame_after_next()
            session.set_strength(0.6)
            session.set_temporal(True, 0.5)
            seen["temporal"] = (session.state().temporal, session.state().temporal_strength)
            session.set_preserve_color(True)
            session.morph_to("udnie", 0.2)
            wait_for(lambda: not session.state().morphing)
            seen["morphed"] = session.state().style
            seen["snapshot"] = session.snapshot()
            session.start_recording(recording)
            seen["recording"] = session.state().recording
            frame_after_next()
            frame_after_next()
            seen["summary"] = session.stop_recording()
            with pytest.raises(UserError, match="no style 'nonesuch'"):
                session.set_style("nonesuch")
            session.set_paused(True)
            seen["paused"] = session.state().paused
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            session.stop()

    worker = threading.Thread(target=panel)
    worker.start()
    result = session.run()
    worker.join(10)
    assert not errors, errors
    assert result.stop_reason == "quit"
    assert seen["style"] == "candy" and seen["style changed the picture"] > 5
    assert seen["mix"] == pytest.approx(
        {"mosaic": 0.5, "candy": 0.5, "udnie": 0, "rain-princess": 0}
    )
    assert seen["temporal"] == (True, 0.5)
    assert seen["morphed"] == "udnie" and seen["paused"]
    # Strength 0 is the camera picture itself: exactly one of the clip's frames.
    zero = seen["strength 0 frame"]
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert any(np.array_equal(zero, frame) for frame in frames)
    snapshot = seen["snapshot"]
    assert isinstance(snapshot, Path) and snapshot.is_file() and snapshot.parent == tmp_path
    assert seen["recording"] == str(recording) and str(recording) in seen["summary"]
    with av.open(str(recording)) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 2


def test_update_refuses_what_would_change_nothing(clip: Path, tmp_path: Path) -> None:
    session = open_live_session(spec_for(clip, tmp_path, frames=1), TorchWiring())
    with pytest.raises(UserError, match="morph_seconds goes with morph_to"):
        session.update({"morph_seconds": 5})
    with pytest.raises(UserError, match="cannot set volume"):
        session.update({"volume": 11})
    with pytest.raises(UserError, match="strength"):
        session.update({"style": "candy", "strength": 5})
    assert session.state().style == "mosaic"  # the style applied first was put back
    session.run()


def test_bad_options_fail_before_the_camera_opens(clip: Path, tmp_path: Path) -> None:
    spec = spec_for(clip, tmp_path)
    bad = LiveSpec(spec.run, spec.camera, spec.outputs, LiveConfig(morph_seconds=0))
    with pytest.raises(UserError, match="--morph-seconds must be positive"):
        open_live_session(bad, TorchWiring())
    bad = LiveSpec(spec.run, spec.camera, spec.outputs, LiveConfig(morph_to="nonesuch"))
    with pytest.raises(UserError, match="no style 'nonesuch' to mix"):
        open_live_session(bad, TorchWiring())
