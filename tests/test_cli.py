"""The command line reports every bad option the same way: one line, exit code 2."""

from __future__ import annotations

import pytest

from realtime.cli.main import main
from realtime.core.errors import EXIT_USAGE

IMAGE = ["image", "in.jpg", "out.png"]
VIDEO = ["video", "in.mp4", "out.mp4"]
WEBCAM = ["webcam", "--no-window"]


@pytest.mark.parametrize("command", [IMAGE, VIDEO, WEBCAM], ids=["image", "video", "webcam"])
@pytest.mark.parametrize("size", ["0x0", "abc", "640x", "8x8"])
def test_bad_output_size_is_one_line(
    command: list[str], size: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--output-size", size]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("realtime: error:") and "--output-size" in err[0], err


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        ([*VIDEO, "--crf", "high"], "--crf"),
        ([*IMAGE, "--strength", "lots"], "--strength"),
        ([*VIDEO, "--temporal", "sometimes"], "--temporal"),
        ([*IMAGE, "--no-such-option"], "--no-such-option"),
        (["image", "only-one-path.jpg"], "output"),
        (
            [
                "train",
                "--style-image",
                "s.jpg",
                "--dataset",
                "d",
                "--out",
                "o.pth",
                "--style-size",
                "big",
            ],
            "--style-size",
        ),  # fmt: skip
        (["no-such-command"], "no-such-command"),
    ],
)
def test_every_option_parser_reports_one_line(
    argv: list[str], names: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("realtime: error:") and names in err[0], err
    assert "--help" in err[0]  # where to look for the right form
