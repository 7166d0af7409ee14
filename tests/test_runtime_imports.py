"""The runtime must work without torch: no realtime module may import it at module level."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import realtime


def test_no_realtime_module_imports_torch() -> None:
    names = sorted(
        info.name
        for info in pkgutil.walk_packages(realtime.__path__, prefix="realtime.")
        if info.name != "realtime.__main__"  # it runs the CLI
    )
    assert "realtime.runtime.engine" in names and "realtime.cli.commands.video" in names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "from realtime.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
