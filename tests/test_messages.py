"""One precise line for each input a user gets wrong, and nothing said that does not matter
(issue 35, point 6): the real command line on real files, folders and bytes."""

from __future__ import annotations

import fcntl
import logging
import os
import sys

import pytest

from realtime.cli.main import main
from realtime.core.errors import UserError
from realtime.runtime.styles import parse_mix


def run(argv: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(argv)
    return code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    ("mix", "says"),
    [
        ("mosaic:inf,candy:1", "the mix 'mosaic:inf,candy:1': the weight of mosaic is inf, not a"),
        ("mosaic:nan,candy:1", "the weight of mosaic is nan, not a finite number"),
        ("mosaic:-1,candy:2", "the mix 'mosaic:-1,candy:2': the weight of mosaic is negative (-1)"),
        ("mosaic:x,candy:2", "cannot read the mix 'mosaic:x,candy:2': the weight of mosaic is 'x'"),
        ("mosaic:1,mosaic:2", "(mosaic is named twice)"),
        ("mosaic:0,candy:0", "has no weight"),
    ],
)
def test_a_bad_mix_says_what_is_wrong(mix: str, says: str) -> None:
    with pytest.raises(UserError) as error:
        parse_mix(mix)
    assert says in str(error.value)
    assert "{" not in str(error.value)  # never the internal dict


def test_mix_weights_are_normalised() -> None:
    assert parse_mix("mosaic:3,candy:1") == {"mosaic": 0.75, "candy": 0.25}


def test_a_mix_with_an_infinite_weight_is_one_line_before_any_work(tmp_path, capsys) -> None:
    code, lines = run(["video", "missing.mp4", str(tmp_path / "o.mp4"), "--style",
                       "mosaic:inf,candy:1"], capsys)  # fmt: skip
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("realtime: error: ")


@pytest.mark.parametrize("command", ["video", "image"])
def test_an_empty_style_is_an_error_not_mosaic(command: str, tmp_path, capsys) -> None:
    output = tmp_path / ("o.mp4" if command == "video" else "o.png")
    code, lines = run([command, "in", str(output), "--style", ""], capsys)
    assert code == 2
    assert lines == [lines[0]] and "--style/--model: is empty" in lines[0]
    assert not output.exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("udp://host:99999", "port 99999 is out of range; give a port from 1 to 65535"),
        ("udp://host:0", "port 0 is out of range"),
        ("udp://host:abc", "port abc is not a number"),
        ("udp://[::1]:70000", "e.g. udp://[::1]:9000"),
        ("udp://host", "has no port"),
    ],
)
def test_stream_ports(url: str, says: str) -> None:
    from realtime.live.stream import check_stream_url

    with pytest.raises(UserError, match=None) as error:
        check_stream_url(url)
    assert says in str(error.value)


def test_stream_port_out_of_range_from_the_command_line(clip_aac, capsys) -> None:
    code, lines = run(["webcam", "--camera", str(clip_aac), "--no-window", "--frames", "1",
                       "--stream", "udp://127.0.0.1:99999"], capsys)  # fmt: skip
    assert code == 2
    assert lines == ["realtime: error: --stream udp://127.0.0.1:99999: port 99999 is out of "
                     "range; give a port from 1 to 65535, e.g. udp://127.0.0.1:9000"]  # fmt: skip


@pytest.mark.parametrize("command", ["video", "image"])
def test_outputs_that_are_folders_or_under_files(command, clip_aac, tmp_path, capsys) -> None:
    source = clip_aac
    if command == "image":
        import cv2
        import numpy as np

        source = tmp_path / "in.png"
        cv2.imwrite(str(source), np.zeros((32, 32, 3), np.uint8))
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "notes.txt").write_text("a file")
    code, lines = run([command, str(source), str(folder)], capsys)
    assert code == 2 and len(lines) == 1
    assert f"output {folder} is a directory, not a file name" in lines[0]
    for under in ("notes.txt/out.mp4", "notes.txt/deeper/out.mp4"):
        code, lines = run([command, str(source), str(tmp_path / under)], capsys)
        assert code == 2 and len(lines) == 1
        assert f"cannot be created: {tmp_path / 'notes.txt'} is a file, not a folder" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["folder", "notes.txt", *(["in.png"] if command == "image" else [])]
    )


@pytest.mark.slow  # imports ray
def test_batch_out_dir_under_a_file(tmp_path, capsys) -> None:
    pytest.importorskip("ray")
    (tmp_path / "notes.txt").write_text("a file")
    code, lines = run(["batch", str(tmp_path), "--out-dir", str(tmp_path / "notes.txt" / "x")],
                      capsys)  # fmt: skip
    assert code == 2 and len(lines) == 1
    assert "is a file, not a folder" in lines[0]


@pytest.mark.parametrize("kind", ["empty", "folder"])
def test_no_encoder_or_cuda_notes_before_an_input_error(kind, tmp_path, capsys) -> None:
    source = tmp_path / "in.mp4"
    if kind == "empty":
        source.write_bytes(b"")
    else:
        source.mkdir()
    code, lines = run(["video", str(source), str(tmp_path / "o.mp4")], capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("realtime: error: "), lines
    # A camera file that is no video: fails before the network loads and says why.
    code, lines = run(["webcam", "--camera", str(source), "--no-window", "--frames", "1"], capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("realtime: error: "), lines


@pytest.mark.slow  # probes every hardware encoder of this FFmpeg build
def test_the_encoder_note_is_said_when_a_file_is_encoded(clip_aac, tmp_path, capsys) -> None:
    from realtime.media import encoders

    if not any(encoders.probe(n) for n in encoders.HARDWARE if n in encoders.av.codecs_available):
        pytest.skip("every hardware encoder of this FFmpeg build works here: no note")
    encoders._announce.cache_clear()
    code, lines = run(["video", str(clip_aac), str(tmp_path / "o.mp4"), "--style",
                       "mosaic-lite", "--quiet"], capsys)  # fmt: skip
    assert code == 0
    assert any("no hardware H.264 encoder works here" in line for line in lines)


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_notes_before_or_after_the_command(where, clip_aac, tmp_path, capsys) -> None:
    args = ["video", str(clip_aac), str(tmp_path / f"{where}.mp4"), "--style", "mosaic-lite",
            "--quiet"]  # fmt: skip
    argv = ["-q", *args] if where == "before" else [*args, "-q"]
    code, lines = run(argv, capsys)
    assert code == 0
    assert not [line for line in lines if line.startswith("realtime: ") and "note" in line]
    assert not [line for line in lines if "ONNX Runtime" in line]
    logging.getLogger("realtime").setLevel(logging.INFO)  # as the other tests expect


def test_a_line_logged_while_a_bar_is_drawn_starts_a_line_of_its_own(capsys) -> None:
    from realtime.core.log import setup_logging
    from realtime.core.progress import drop_progress_bars, progress_bar

    setup_logging(0)
    bar = progress_bar(30, "stylizing", "frames")
    bar.update(12)
    bar.refresh()
    logging.getLogger("realtime.test").info("done: something")
    bar.update(3)
    bar.refresh()
    drop_progress_bars()  # as the command line does before its error line
    print("realtime: error: boom", file=sys.stderr)
    bar.close()  # what collection at exit would do: nothing more may be drawn
    err = capsys.readouterr().err
    lines = err.replace("\r", "\n").splitlines()
    assert "realtime: done: something" in lines
    assert "realtime: error: boom" in lines
    assert err.endswith("realtime: error: boom\n"), repr(err)


def test_stale_ray_folders_go_live_ones_stay(tmp_path) -> None:
    from realtime.app.batch.ray_session import FOLDER_PREFIX, remove_stale_folders

    stale, live = tmp_path / f"{FOLDER_PREFIX}dead", tmp_path / f"{FOLDER_PREFIX}alive"
    for folder in (stale, live):
        (folder / "session_x").mkdir(parents=True)
        (folder / "run.lock").touch()
    held = os.open(live / "run.lock", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        assert remove_stale_folders(tmp_path) == [stale]
    finally:
        os.close(held)
    assert live.is_dir() and not stale.exists()


def test_a_finished_output_counts_only_while_it_is_the_file_written(tmp_path, caplog) -> None:
    from realtime.app.batch.inputs import Item
    from realtime.app.batch.state import BatchState, Written

    out = tmp_path / "out"
    item = Item(tmp_path / "a.mp4", tmp_path.joinpath("a.mp4").relative_to(tmp_path), "video")
    output = item.output(out)
    output.parent.mkdir(parents=True)
    output.write_bytes(b"x" * 1000)
    state = BatchState(out)
    state.mark(item, "key", output, Written(10, "file is truncated"))
    assert state.finished(item, "key", output) == Written(10, "file is truncated")
    assert state.finished(item, "other key", output) is None
    os.utime(output, ns=(1, 1))  # touched: the same content still counts
    assert state.finished(item, "key", output) is not None
    output.write_bytes(b"y" * 1000)  # the same size, other content
    os.utime(output, ns=(1, 1))
    assert state.finished(item, "key", output) is None
    output.write_bytes(b"junk1234")
    assert state.finished(item, "key", output) is None
    assert "has changed since a batch wrote it (8 bytes, 1000 were written)" in caplog.text
