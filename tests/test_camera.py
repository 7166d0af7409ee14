"""Live sources: --camera parsing, the latest-frame-wins mailbox, a video file played like a
camera, and OpenCV capture with its lost/reconnect policy (on a file read through OpenCV's
FFmpeg backend, the same code path as a network stream)."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from fixtures_media import make_clip

from realtime.core.errors import UserError
from realtime.live.camera import open_camera, parse_camera
from realtime.live.file_camera import FileCamera
from realtime.live.opencv_camera import OpenCVCamera, capture_backends
from realtime.live.source import CameraLost, CameraSpec, LatestFrame


@pytest.fixture(scope="module")
def clip_25fps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64x48, 25 fps, 20 frames: 0.8 s of video."""
    return make_clip(tmp_path_factory.mktemp("camera") / "clip.mp4", frames=20, rate=25)


def take_all(source, per_frame_sleep: float = 0.0, limit_s: float = 10.0) -> list:
    """Take frames until the source finishes (bounded in time)."""
    taken, seq = [], 0
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        item = source.wait_newer(seq, 0.2)
        if item is None:
            if source.finished:
                return taken
            continue
        seq = item.seq
        taken.append(item)
        time.sleep(per_frame_sleep)
    raise AssertionError(f"source did not finish within {limit_s} s")


# -- --camera ---------------------------------------------------------------------------------


def test_parse_camera_kinds(clip_25fps: Path) -> None:
    assert parse_camera("0") == CameraSpec("index", "0")
    assert parse_camera(" 02 ") == CameraSpec("index", "2")
    assert parse_camera("/dev/video4") == CameraSpec("device", "/dev/video4")
    assert parse_camera("rtsp://cam.local/live").kind == "url"
    assert parse_camera(str(clip_25fps)) == CameraSpec("file", str(clip_25fps))


def test_parse_camera_rejects_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file or device"):
        parse_camera(str(tmp_path / "nope.mp4"))
    with pytest.raises(UserError, match="empty --camera"):
        parse_camera("  ")
    with pytest.raises(UserError, match="not a file or a device"):
        parse_camera(str(tmp_path))


def test_capture_backend_per_os() -> None:
    assert capture_backends("linux") == [(cv2.CAP_V4L2, "V4L2")]
    assert [api for api, _ in capture_backends("win32")] == [cv2.CAP_DSHOW, cv2.CAP_MSMF]
    assert capture_backends("darwin") == [(cv2.CAP_AVFOUNDATION, "AVFoundation")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="device nodes are Linux's")
def test_missing_camera_index_is_one_clear_line() -> None:
    index = next(i for i in range(60, 99) if not Path(f"/dev/video{i}").exists())
    started = time.perf_counter()
    with pytest.raises(UserError) as info:
        open_camera(parse_camera(str(index)))
    assert f"no camera {index}" in str(info.value)
    assert "\n" not in str(info.value)
    assert time.perf_counter() - started < 2


def test_unreachable_stream_url_fails_fast() -> None:
    started = time.perf_counter()
    with pytest.raises(UserError, match="cannot open stream rtsp://127.0.0.1:1/"):
        open_camera(parse_camera("rtsp://127.0.0.1:1/live"))
    assert time.perf_counter() - started < 8  # refused at once; the open timeout is 5 s


def test_bad_requested_size_rejected(clip_25fps: Path) -> None:
    with pytest.raises(UserError, match="--fps must be positive"):
        open_camera(parse_camera(str(clip_25fps)), fps=0)


# -- latest frame wins ------------------------------------------------------------------------


def test_latest_frame_keeps_only_the_newest() -> None:
    slot = LatestFrame()
    for i in range(1, 6):
        slot.publish(i, float(i))
    raw, captured_at, seq = slot.wait_newer(0, 0.1)
    # Five frames went in while nobody looked: the consumer gets the fifth, not the first.
    assert (raw, captured_at, seq) == (5, 5.0, 5)
    assert slot.wait_newer(5, 0.05) is None  # nothing newer: times out instead of repeating


def test_latest_frame_slow_consumer_with_real_threads() -> None:
    slot = LatestFrame()
    produced = 300

    def produce() -> None:
        for i in range(1, produced + 1):
            slot.publish(i, time.perf_counter())
            time.sleep(0.001)
        slot.finish()

    thread = threading.Thread(target=produce)
    thread.start()
    taken, seq = [], 0
    while (got := slot.wait_newer(seq, 2.0)) is not None:
        raw, _, seq = got
        assert raw == seq  # the payload is the frame published as number seq
        taken.append(seq)
        time.sleep(0.01)  # ten times slower than the producer
    thread.join()
    assert taken == sorted(set(taken))  # never the same frame twice, never out of order
    assert len(taken) < produced / 3  # most frames were dropped, not queued
    assert taken[-1] == produced  # and the newest one is still the one delivered last


def test_latest_frame_raises_the_source_error() -> None:
    slot = LatestFrame()
    slot.finish(CameraLost("camera 0 went away"))
    with pytest.raises(CameraLost, match="went away"):
        slot.wait_newer(0, 0.1)


# -- a video file as the camera ---------------------------------------------------------------


def test_file_camera_plays_at_its_own_rate(clip_25fps: Path) -> None:
    source = open_camera(parse_camera(str(clip_25fps)))
    assert isinstance(source, FileCamera)
    assert (source.width, source.height, source.fps) == (64, 48, 25.0)
    source.start()
    try:
        taken = take_all(source)
    finally:
        source.close()
    assert [t.seq for t in taken] == list(range(1, 21))  # a fast consumer misses nothing
    span = taken[-1].captured_at - taken[0].captured_at
    assert span == pytest.approx(19 / 25, abs=0.15)  # paced by the timestamps, not as fast
    assert taken[0].image.shape == (48, 64, 3) and taken[0].image.dtype == np.uint8
    assert source.finished


def test_file_camera_drops_for_a_slow_consumer(clip_25fps: Path) -> None:
    source = FileCamera(clip_25fps)
    source.start()
    try:
        taken = take_all(source, per_frame_sleep=0.1)
    finally:
        source.close()
    seqs = [t.seq for t in taken]
    assert len(seqs) < 14  # 0.8 s at one frame per 0.1 s: about 8, certainly not all 20
    assert max(b - a for a, b in zip(seqs, seqs[1:], strict=False)) > 1  # gaps: drops
    assert source.published == 20


def test_file_camera_notes_ignored_camera_settings(clip_25fps: Path) -> None:
    source = open_camera(parse_camera(str(clip_25fps)), width=640, fps=60)
    try:
        assert any("plays at its own size and rate" in n for n in source.notices)
    finally:
        source.close()


# -- OpenCV capture: lost and reconnect -------------------------------------------------------


def test_opencv_source_converts_to_rgb(clip_25fps: Path) -> None:
    source = OpenCVCamera(CameraSpec("url", str(clip_25fps)), reconnect=0.5)
    try:
        assert (source.width, source.height) == (64, 48)
        source.start()
        item = source.wait_newer(0, 2.0)
        assert item is not None
        # The clip's red square (230, 30, 30) sits at x 0..7 from row 24 in the first frames:
        # red must land in channel 0, so BGR was turned into RGB.
        r, g, b = (int(v) for v in item.image[27, 3])
        assert r > 150 and g < 100 and b < 100
    finally:
        source.close()


def test_opencv_source_lost_raises_after_retrying(clip_25fps: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copy(clip_25fps, tmp_path / "stream.mp4"))
    source = OpenCVCamera(CameraSpec("url", str(copy)), reconnect=0.6)
    copy.unlink()  # the "camera" goes away: after the buffered frames, reopening fails
    source.start()
    seq = 0
    started = time.perf_counter()
    try:
        with pytest.raises(CameraLost, match=r"could not be reopened within 0\.6 s"):
            while time.perf_counter() - started < 10:
                item = source.wait_newer(seq, 0.2)
                if item is not None:
                    seq = item.seq
        elapsed = time.perf_counter() - started
    finally:
        source.close()
    assert seq >= 1
    assert 0.5 < elapsed < 5  # it did retry for the reconnect window, then gave up


def test_opencv_source_reconnects_when_it_comes_back(clip_25fps: Path) -> None:
    # A file read through OpenCV ends after 20 frames; "reconnecting" reopens it, so a source
    # that keeps delivering past 20 frames went through the reconnect path successfully.
    source = OpenCVCamera(CameraSpec("url", str(clip_25fps)), reconnect=2.0)
    source.start()
    try:
        deadline = time.perf_counter() + 5
        while source.published <= 25 and time.perf_counter() < deadline:
            time.sleep(0.02)
        assert source.published > 25
        assert source.wait_newer(0, 1.0) is not None
    finally:
        source.close()
