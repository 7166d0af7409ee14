"""Where the torch side (models/, export/) is wired into the runtime: only here, in the
command line's layer. The runtime takes these as plain callables and never imports torch
code itself (the import-linter contracts in pyproject.toml hold that)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from realtime.core.config import EngineConfig
from realtime.core.errors import UserError
from realtime.runtime.engine import create_session
from realtime.runtime.styles import Exporter


def require_torch(what: str) -> None:
    """One line, not a traceback, where torch is missing."""
    try:
        missing = importlib.util.find_spec("torch") is None
    except ValueError:  # sys.modules["torch"] is None: Python's "cannot be imported"
        missing = True
    if missing:
        raise UserError(f"{what} needs torch, which is not installed; install it with "
                        "'pip install torch torchvision'")  # fmt: skip


def parity_session(onnx_path: Path) -> Any:
    """The exporter's parity check runs the model through the runtime's own session factory,
    on the CPU: what the exported file will really meet."""
    session, _ = create_session(onnx_path, EngineConfig(device="cpu"), announce=False)
    return session


def export_pth(pth_path: Path, onnx_path: Path, **options: Any) -> Any:
    """``export.export_checkpoint`` with the runtime's session factory for its parity check."""
    require_torch(f"exporting {pth_path} to ONNX")
    from export.onnx_export import export_checkpoint

    return export_checkpoint(pth_path, onnx_path, session_factory=parity_session, **options)


def pth_exporter() -> Exporter:
    """What the style registry calls for ``--style FILE.pth``: export once, report one line."""

    def export(pth_path: Path, onnx_path: Path) -> str:
        return str(export_pth(pth_path, onnx_path).summary())

    return export
