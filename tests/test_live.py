"""The live loop: latest-frame-wins policy with a slow stylizer, stop conditions, statistics,
hotkey actions, live style switching, and the ``realtime webcam`` command without a window."""

from __future__ import annotations

import io
import re
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from fixtures_media import make_clip

from realtime.cli.main import main
from realtime.core.config import EncodeConfig, EngineConfig, LiveConfig, ProcessConfig
from realtime.core.errors import UserError
from realtime.live.controls import LiveControls
from realtime.live.file_camera import FileCamera
from realtime.live.keys import handle_key
from realtime.live.look import LiveLook, TemporalSlot
from realtime.live.loop import run_live
from realtime.live.recording import RecordingOutput
from realtime.live.stats import LatencyStats
from realtime.live.switcher import StyleSwitcher
from realtime.runtime.engine import OnnxStylizer
from realtime.runtime.frames import FrameProcessor

CPU = EngineConfig(device="cpu", threads=1)


@pytest.fixture(scope="module")
def stylizer(style_onnx: Path) -> OnnxStylizer:
    return OnnxStylizer(style_onnx, CPU, announce=False)


@pytest.fixture(scope="module")
def clip_2s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64x48, 25 fps, 50 frames."""
    return make_clip(tmp_path_factory.mktemp("live") / "two-seconds.mp4", frames=50, rate=25)


class Slow:
    """The real stylizer behind a fixed delay: a network slower than the camera."""

    def __init__(self, stylize, delay: float, fail_after: int | None = None) -> None:
        self.stylize, self.delay, self.fail_after = stylize, delay, fail_after
        self.calls = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("stylizer broke")
        time.sleep(self.delay)
        return self.stylize(frame)


# -- the policy -------------------------------------------------------------------------------


def test_slow_stylizer_drops_frames_and_latency_stays_bounded(
    clip_2s: Path, stylizer: OnnxStylizer
) -> None:
    delay = 0.12  # three camera frames (40 ms each) per stylized frame
    slow = Slow(stylizer, delay)
    processor = FrameProcessor(slow, ProcessConfig())
    log = io.StringIO()
    result = run_live(
        FileCamera(clip_2s), processor, [], LiveConfig(stats_interval=0.5), stats_stream=log
    )
    assert result.stop_reason == "the video file ended"
    assert result.frames_in == 50
    assert result.frames_out == slow.calls
    assert result.frames_out < 25  # far fewer frames out than in
    assert result.dropped >= result.frames_in - result.frames_out - 2  # the rest were dropped
    # A queue would make the last frame wait for every frame before it: about
    # 50 * 0.12 - 2 = 4 s. Latest-frame-wins bounds it by one frame's wait plus one
    # stylization (generous margins for a shared, loaded CI machine).
    assert result.latency_max_ms < 1000 * (delay + 0.04) + 400
    assert result.latency_p50_ms >= 1000 * delay
    lines = [line for line in log.getvalue().splitlines() if line.startswith("live: ")]
    assert lines, log.getvalue()
    assert re.match(r"live: [\d.]+ fps \| latency p50 \d+ ms, p95 \d+ ms \| dropped \d+", lines[0])


def test_frames_limit_and_max_fps(clip_2s: Path, stylizer: OnnxStylizer) -> None:
    processor = FrameProcessor(stylizer, ProcessConfig())
    result = run_live(
        FileCamera(clip_2s), processor, [], LiveConfig(frames=4, max_fps=5, log_stats=False)
    )
    assert result.frames_out == 4
    assert result.stop_reason == "--frames 4 reached"
    # 5 fps: four frames take at least three gaps of 0.2 s.
    assert result.seconds >= 0.55


def test_duration_stops_the_loop(clip_2s: Path, stylizer: OnnxStylizer) -> None:
    processor = FrameProcessor(stylizer, ProcessConfig())
    result = run_live(FileCamera(clip_2s), processor, [], LiveConfig(duration=0.5, log_stats=False))
    assert result.stop_reason == "--duration 0.5 s reached"
    assert 0.45 <= result.seconds < 1.5
    assert 0 < result.frames_out < 50


def test_bad_live_config_is_a_user_error(clip_2s: Path, stylizer: OnnxStylizer) -> None:
    with pytest.raises(UserError, match="--max-fps must be positive"):
        LiveConfig(max_fps=0).check()
    with pytest.raises(UserError, match="--frames must be positive"):
        run_live(
            FileCamera(clip_2s),
            FrameProcessor(stylizer, ProcessConfig()),
            [],
            LiveConfig(frames=-1),
        )


def test_recording_keeps_wall_clock_speed_and_final_name(
    clip_2s: Path, stylizer: OnnxStylizer, tmp_path: Path
) -> None:
    out = tmp_path / "live.mp4"
    processor = FrameProcessor(Slow(stylizer, 0.08), ProcessConfig())
    recording = RecordingOutput(out, 64, 48, 25, EncodeConfig(crf=23, preset="ultrafast"))
    result = run_live(FileCamera(clip_2s), processor, [recording], LiveConfig(log_stats=False))
    assert out.is_file() and not recording.temp.exists()
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        times = [float(f.pts * f.time_base) for f in container.decode(stream)]
    assert len(times) == result.frames_out
    # About 10 fps were recorded from a 2 s "camera": counting frames at the nominal 25 fps
    # would play them in well under a second; wall-clock timestamps keep the 2 s.
    assert times[-1] - times[0] == pytest.approx(1.9, abs=0.35)


def test_error_mid_run_leaves_a_partial_recording(
    clip_2s: Path, stylizer: OnnxStylizer, tmp_path: Path
) -> None:
    out = tmp_path / "broken.mp4"
    processor = FrameProcessor(Slow(stylizer, 0.0, fail_after=3), ProcessConfig())
    recording = RecordingOutput(out, 64, 48, 25, EncodeConfig(preset="ultrafast"))
    with pytest.raises(RuntimeError, match="stylizer broke"):
        run_live(FileCamera(clip_2s), processor, [recording], LiveConfig(log_stats=False))
    partial = tmp_path / "broken.partial.mp4"
    assert partial.is_file() and not out.exists() and not recording.temp.exists()
    with av.open(str(partial)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3


# -- statistics -------------------------------------------------------------------------------


def test_latency_stats_percentiles_and_rate() -> None:
    stats = LatencyStats(interval=1.0, now=100.0)
    for ms in range(1, 101):  # 1 .. 100 ms
        stats.add(ms / 1000, dropped_before=1)
    assert not stats.due(100.5) and stats.due(101.0)
    line = stats.roll(102.0)  # 100 frames in 2 s
    assert line.fps == pytest.approx(50)
    assert line.p50_ms == pytest.approx(50.5)
    assert line.p95_ms == pytest.approx(95.05)
    assert line.dropped == 100
    assert stats.overall_ms(50) == pytest.approx(50.5, abs=1)
    assert stats.overall_ms(95) == pytest.approx(95.5, abs=1)
    assert stats.roll(103.0).frames == 0  # a new interval starts empty


# -- keys and controls ------------------------------------------------------------------------


def controls_for(
    processor_stylizer, tmp_path: Path, temporal: str = "off", **kw
) -> tuple[LiveControls, FrameProcessor]:
    """Controls around a processor built as a live run builds it: one TemporalSlot, one
    LiveLook, held by name."""
    look = LiveLook()
    slot = TemporalSlot(temporal, 0.7, on=temporal != "off")
    processor = FrameProcessor(
        processor_stylizer, ProcessConfig(), at_process_size=[slot], at_output_size=[look]
    )
    return LiveControls(processor, look, slot, snapshot_dir=tmp_path, **kw), processor


def test_strength_keys_clamp_and_change_the_output(stylizer: OnnxStylizer, tmp_path: Path) -> None:
    controls, processor = controls_for(stylizer, tmp_path)
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    full = processor(frame)
    for _ in range(3):
        handle_key(controls, ord("-"))
    assert controls.look.strength == pytest.approx(0.7)
    blended = processor(frame)
    expected = cv2.addWeighted(full, 0.7, frame, 0.3, 0.0)
    assert np.abs(blended.astype(int) - expected.astype(int)).max() <= 1
    for _ in range(12):
        handle_key(controls, ord("+"))
    assert controls.look.strength == 1.0
    for _ in range(12):
        handle_key(controls, ord("-"))
    assert controls.look.strength == 0.0
    assert np.array_equal(processor(frame), frame)  # strength 0: the camera picture
    with pytest.raises(UserError, match="between 0 and 1"):
        controls.set_strength(1.5)
    assert controls.look.strength == 0.0  # a bad value changes nothing


def test_preserve_color_control_keeps_the_camera_colours(
    stylizer: OnnxStylizer, tmp_path: Path
) -> None:
    controls, processor = controls_for(stylizer, tmp_path)
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[..., 2] = 200  # a blue picture
    controls.set_preserve_color(True)
    kept = processor(frame).astype(int)
    assert controls.state().preserve_color
    # The camera's chroma: blue stays the strongest channel everywhere.
    assert (kept[..., 2] >= kept[..., 0]).mean() > 0.95


def test_pause_quit_and_snapshot_keys(stylizer: OnnxStylizer, tmp_path: Path) -> None:
    controls, processor = controls_for(stylizer, tmp_path)
    handle_key(controls, ord(" "))
    assert controls.paused and controls.state().paused
    handle_key(controls, ord(" "))
    assert not controls.paused
    handle_key(controls, ord("s"))
    assert "no frame to save yet" in controls.message and not controls.snapshots
    frame = processor(np.full((48, 64, 3), 90, np.uint8))
    controls.frame_done(frame)
    handle_key(controls, ord("s"))
    handle_key(controls, ord("s"))  # same second: a second, distinct file
    assert len(controls.snapshots) == 2 and len(set(controls.snapshots)) == 2
    saved = cv2.cvtColor(cv2.imread(str(controls.snapshots[0])), cv2.COLOR_BGR2RGB)
    assert np.array_equal(saved, frame)  # PNG: lossless, RGB order kept
    assert not controls.quit
    handle_key(controls, 27)  # Esc
    assert controls.quit


def test_temporal_key_puts_a_real_stage_in_the_slot(stylizer: OnnxStylizer, tmp_path: Path) -> None:
    controls, processor = controls_for(stylizer, tmp_path, temporal="off")
    source = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    plain = processor(source)
    handle_key(controls, ord("t"))
    assert controls.temporal.on and controls.state().temporal
    assert type(controls.temporal.stage).__module__ == "realtime.temporal.stage"
    assert controls.temporal.mode == "flow"  # a run started with it off gets the better mode
    for _ in range(2):
        assert processor(source).shape == source.shape
    handle_key(controls, ord("t"))
    assert controls.temporal.stage is None
    assert np.array_equal(processor(source), plain)  # off: the network's output again
    # Its strength, live: 0 cannot be on.
    with pytest.raises(UserError, match="temporal-strength 0"):
        controls.set_temporal(True, 0.0)
    with pytest.raises(UserError, match="between 0 and 1"):
        controls.set_temporal(True, 1.5)
    controls.set_temporal(True, 0.4)
    assert controls.temporal.stage.strength == pytest.approx(0.4)


def test_ema_slot_averages_consecutive_outputs(tmp_path: Path) -> None:
    slot = TemporalSlot("ema", 0.5, on=True)
    source = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    first, second = np.full_like(source, 100), np.full_like(source, 140)
    slot(first, source)
    assert np.abs(slot(second, source).astype(int) - 120).max() <= 1
    slot.reset()  # a style switch: no history
    assert np.array_equal(slot(second, source), second)


def test_controls_from_another_thread_wait_for_the_loop(
    stylizer: OnnxStylizer, tmp_path: Path
) -> None:
    """A control called off the loop's thread is carried out by the loop, between frames."""
    import threading

    controls, _ = controls_for(stylizer, tmp_path)
    controls.attach(LatencyStats())  # this thread is now "the loop"
    done = []

    def panel() -> None:
        controls.set_strength(0.25)
        done.append(threading.current_thread().name)

    worker = threading.Thread(target=panel, name="panel")
    worker.start()
    time.sleep(0.2)
    assert controls.look.strength == 1.0 and not done  # queued, not yet carried out
    controls.turn(time.perf_counter())
    worker.join(5)
    assert controls.look.strength == 0.25 and done == ["panel"]
    errors = []

    def bad() -> None:
        try:
            controls.set_strength(-1)
        except UserError as exc:
            errors.append(str(exc))

    worker = threading.Thread(target=bad)
    worker.start()
    while worker.is_alive():
        controls.turn(time.perf_counter())
        time.sleep(0.01)
    assert errors and "between 0 and 1" in errors[0]  # the caller gets the loop's error
    controls.detach()
    with pytest.raises(UserError, match="has ended"):
        controls.set_strength(0.5)


def test_webcam_command_starts_with_temporal(clip_2s: Path, style_onnx: Path, capsys) -> None:
    args = ["webcam", "--camera", str(clip_2s), "--style", str(style_onnx), "--no-window"]
    assert main([*args, "--device", "cpu", "--frames", "3", "--temporal", "ema"]) == 0
    assert "3 frames out of" in capsys.readouterr().err
    assert main([*args, "--temporal-strength", "2"]) == 2
    assert "--temporal-strength must be between 0 and 1" in capsys.readouterr().err


# -- switching styles live --------------------------------------------------------------------


def test_style_switcher_loads_in_the_background(style_onnx: Path, tmp_path: Path) -> None:
    loads = []

    def load(name: str) -> OnnxStylizer:
        loads.append(name)
        return OnnxStylizer(style_onnx, CPU, style_name=name, announce=False)

    first = load("a")
    switcher = StyleSwitcher(["a", "b", "c"], "a", first, load)
    started = time.perf_counter()
    assert switcher.request(1) == "b"
    requested_in = time.perf_counter() - started
    assert switcher.loading == "b"
    deadline = time.perf_counter() + 20
    while (ready := switcher.poll()) is None:
        assert time.perf_counter() < deadline
        time.sleep(0.01)
    name, second = ready
    assert name == "b" and second is not first and second.style_name == "b"
    assert requested_in < 0.05  # asking did not wait for the model to load
    assert switcher.request(-1) == "a"  # back to a: already loaded, no new load
    assert switcher.poll() == ("a", first)
    assert loads == ["a", "b"]
    switcher.close()


def test_style_that_fails_to_load_keeps_the_current(stylizer: OnnxStylizer, tmp_path: Path) -> None:
    def load(name: str) -> OnnxStylizer:
        raise UserError(f"{name}.onnx is broken")

    switcher = StyleSwitcher(["a", "b"], "a", stylizer, load)
    switcher.request(1)
    deadline = time.perf_counter() + 5
    with pytest.raises(UserError, match="style b not loaded: b.onnx is broken"):
        while time.perf_counter() < deadline:
            switcher.poll()
            time.sleep(0.01)
    assert switcher.current == "a" and switcher.poll() is None
    single = StyleSwitcher(["a"], "a", stylizer, load)
    with pytest.raises(UserError, match="only one style"):
        single.request(1)


# -- the command ------------------------------------------------------------------------------


def test_webcam_command_headless(clip_2s: Path, style_onnx: Path, capsys) -> None:
    code = main(
        [
            "webcam",
            "--camera",
            str(clip_2s),
            "--style",
            str(style_onnx),
            "--no-window",
            "--device",
            "cpu",
            "--frames",
            "3",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "frames are stylized and measured, then discarded" in err
    assert re.search(r"^3 frames out of \d+ captured", err, re.M), err
    assert "--frames 3 reached" in err


def test_webcam_command_errors(clip_2s: Path, style_onnx: Path, tmp_path: Path, capsys) -> None:
    assert main(["webcam", "--camera", str(tmp_path / "none.mp4"), "--no-window"]) == 2
    assert "no such file or device" in capsys.readouterr().err
    args = ["webcam", "--camera", str(clip_2s), "--style", str(style_onnx), "--no-window"]
    assert main([*args, "--record", str(tmp_path / "noext")]) == 2
    assert "has no suffix" in capsys.readouterr().err
    assert main([*args, "--duration", "0"]) == 2
    assert "--duration must be positive" in capsys.readouterr().err
    assert main([*args, "--size", "4"]) == 2
    assert "too small" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the DISPLAY check is Linux's")
def test_window_needs_a_display(clip_2s: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["webcam", "--camera", str(clip_2s)]) == 2
    assert "no display" in capsys.readouterr().err


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or Path("/dev/video7").exists(),
    reason="needs Linux without a /dev/video7",
)
def test_a_missing_camera_is_one_line_before_any_model_loads(capsys) -> None:
    assert main(["webcam", "--camera", "7", "--no-window"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no camera 7" in lines[0], lines
