"""The runtime install (``pip install .``, no extras) has no torch, no onnxscript, no ray:
the real command line, run in a Python where those cannot be imported, stylizes an image
and a clip with a bundled style and never imports them, and the commands that need them
answer with one line naming the extra to install.

The packages are hidden by a finder that stands in front of every other one and says "not
installed" for them (``find_spec`` returns None, ``import`` raises ModuleNotFoundError, as
in a venv without them), recording each time anything asks. .ci/run checks the same in a
real venv built with ``pip install .``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from realtime.core.errors import EXIT_OK, EXIT_USAGE

HIDDEN = ("torch", "torchvision", "onnxscript", "ray")
STYLE = "mosaic-lite"  # bundled; the small network keeps the runs quick on a CPU

# Runs ``realtime ARGS`` (the console script's own function) behind the finder, then writes
# what was asked for and what got imported to $LEAN_REPORT.
_BOOTSTRAP = f"""
import json, os, sys

HIDDEN = {HIDDEN!r}
asked = []


class NotInstalled:
    def __init__(self, finders):
        self.finders = finders

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            asked.append(name)
            return None
        for finder in self.finders:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                return spec
        return None

    def find_distributions(self, *args, **kwargs):  # importlib.metadata: not installed either
        for finder in self.finders:
            find = getattr(finder, "find_distributions", None)
            for dist in find(*args, **kwargs) if find else ():
                if (dist.metadata["Name"] or "").lower() not in HIDDEN:
                    yield dist

    def invalidate_caches(self):
        for finder in self.finders:
            getattr(finder, "invalidate_caches", lambda: None)()


sys.meta_path[:] = [NotInstalled(list(sys.meta_path))]
for name in list(sys.modules):  # nothing should be there yet; make sure
    if name.partition(".")[0] in HIDDEN:
        del sys.modules[name]

from realtime.cli import main

try:
    code = main(sys.argv[1:])
finally:
    imported = sorted(m for m in sys.modules if m.partition(".")[0] in HIDDEN)
    with open(os.environ["LEAN_REPORT"], "w") as report:
        json.dump({{"asked": asked, "imported": imported}}, report)
sys.exit(code)
"""


def _lean_realtime(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    """``realtime ARGS`` with torch, torchvision, onnxscript and ray uninstallable."""
    report = tmp_path / "lean-report.json"
    env = {**os.environ, "LEAN_REPORT": str(report)}
    result = subprocess.run(
        [sys.executable, "-c", _BOOTSTRAP, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert report.is_file(), result.stderr  # the bootstrap itself failed
    return result, json.loads(report.read_text())


def _one_line_hint(
    result: subprocess.CompletedProcess, module: str, extra: str, notes: int = 0
) -> None:
    """Exit 2 and one error line naming the extra: no traceback; before it, ``notes`` lines
    of the run's own notes."""
    assert result.returncode == EXIT_USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == notes + 1, result.stderr
    assert all(line.startswith("realtime: ") and "error" not in line for line in lines[:-1])
    error = lines[-1]
    assert error.startswith("realtime: error: "), error
    assert f"needs {module}, which is not installed" in error, error
    assert f'pip install "realtime-style-transfer[{extra}]"' in error, error


def test_image_without_torch(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(photo), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    out = tmp_path / "styled.png"
    result, report = _lean_realtime(
        tmp_path, "image", str(photo), str(out), "--style", STYLE, "--device", "cpu"
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert report == {"asked": [], "imported": []}
    styled = cv2.imread(str(out))
    assert styled is not None and styled.shape == (48, 64, 3)


def test_video_without_torch(tmp_path: Path) -> None:
    from fixtures_media import CLIP_FRAMES, make_clip

    clip = make_clip(tmp_path / "clip.mp4")
    out = tmp_path / "styled.mp4"
    result, report = _lean_realtime(
        tmp_path,
        *("video", str(clip), str(out), "--style", STYLE, "--device", "cpu", "--quiet"),
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert report == {"asked": [], "imported": []}
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == CLIP_FRAMES


@pytest.mark.parametrize(
    ("args", "notes"),
    [
        (("train", "--style-image", "painting.jpg", "--dataset", "photos", "--out", "x.pth"), 0),
        (("export", "x.pth", "y.onnx"), 0),
        # The style registry notes where it will cache the export before it asks for one.
        (("image", "photo.png", "out.png", "--style", "x.pth"), 1),
        (("image", "photo.png", "out.png", "--style-image", "painting.jpg"), 0),
        (("eval", "style", "out.png", "painting.jpg", "photo.png"), 0),
    ],
    ids=["train", "export", "pth-style", "gatys", "eval-style"],
)
def test_torch_commands_name_the_train_extra(
    tmp_path: Path, args: tuple[str, ...], notes: int
) -> None:
    # The files exist where a command checks them before torch: the answer must be torch.
    cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((48, 64, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "out.png"), np.zeros((48, 64, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "painting.jpg"), np.zeros((48, 64, 3), np.uint8))
    (tmp_path / "photos").mkdir()
    (tmp_path / "x.pth").write_bytes(b"not read: torch is asked for first")
    result, report = _lean_realtime(tmp_path, *args)
    _one_line_hint(result, "torch", "train", notes)
    assert report["imported"] == []


def test_batch_without_ray(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    result, report = _lean_realtime(tmp_path, "batch", "in", "--out-dir", "out", "--style", STYLE)
    assert result.returncode == EXIT_USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs ray" in lines[0], result.stderr
    assert report["imported"] == []


def test_bench_says_why_it_has_no_eager_column(monkeypatch: pytest.MonkeyPatch) -> None:
    from realtime.app.bench import eager_unavailable

    assert eager_unavailable() is None  # this venv has torch ([dev])
    # sys.modules[name] = None is how Python spells "this module cannot be imported".
    monkeypatch.setitem(sys.modules, "torch", None)
    why = eager_unavailable()
    assert why is not None and "needs torch" in why and "realtime-style-transfer[train]" in why


def test_an_unchecked_import_of_an_optional_part_is_still_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The net in main() under a command that forgot require_torch: one line, exit 2.
    import importlib

    from realtime.cli import main
    from realtime.cli.commands import styles

    monkeypatch.setitem(sys.modules, "torch", None)  # "cannot be imported"
    monkeypatch.setattr(styles, "run", lambda args: importlib.import_module("torch"))
    assert main(["styles"]) == EXIT_USAGE
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "needs torch" in lines[0], lines
    assert "realtime-style-transfer[train]" in lines[0]
    # Anything else missing is a bug, with its traceback.
    monkeypatch.setattr(styles, "run", lambda args: importlib.import_module("no_such_module"))
    with pytest.raises(ModuleNotFoundError):
        main(["styles"])
