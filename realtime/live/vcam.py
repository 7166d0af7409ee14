"""The virtual camera output (OBS Virtual Camera, v4l2loopback, Unity Capture) through
pyvirtualcam, the library's own backend seam (the tests replace the backend there)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from realtime.core.errors import UserError, first_line
from realtime.core.extras import missing_message


def import_pyvirtualcam() -> Any:
    try:
        import pyvirtualcam
    except ImportError as exc:
        raise UserError(missing_message("--vcam", "pyvirtualcam")) from exc
    return pyvirtualcam


def _vcam_install_hint(backend: str | None) -> str:
    if sys.platform.startswith("linux") or backend == "v4l2loopback":
        return (
            "install v4l2loopback (e.g. apt install v4l2loopback-dkms) and load it: sudo "
            "modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=realtime "
            "(see docs/OBS.md)"
        )
    return (
        "install OBS Studio 30 or newer and start its virtual camera once (Start Virtual "
        "Camera, then Stop), and make sure no other program is sending to it (see docs/OBS.md)"
    )


class VirtualCameraOutput:
    """Frames to a virtual camera through pyvirtualcam (OBS Virtual Camera, v4l2loopback)."""

    name = "virtual camera"
    holds_while_paused = True

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        backend: str | None = None,
        device: str | None = None,
    ) -> None:
        pyvirtualcam = import_pyvirtualcam()
        registered = sorted(pyvirtualcam.camera.BACKENDS)
        if backend is not None and backend not in registered:
            raise UserError(
                f"unknown --vcam-backend {backend!r}; this system has: "
                f"{', '.join(registered) or 'none'}"
            )
        if not registered:
            raise UserError(f"pyvirtualcam has no backend on {sys.platform}")
        try:
            self._camera = pyvirtualcam.Camera(
                width=width,
                height=height,
                fps=fps,
                fmt=pyvirtualcam.PixelFormat.RGB,
                device=device,
                backend=backend,
            )
        except RuntimeError as exc:
            raise UserError(
                f"no virtual camera available ({first_line(exc)}); {_vcam_install_hint(backend)}"
            ) from exc
        self.device = self._camera.device
        self.backend = self._camera.backend
        self.frames_sent = 0

    def write(self, frame: np.ndarray, timestamp: float) -> None:
        self._camera.send(frame)
        self.frames_sent += 1

    def close(self, complete: bool = True) -> str:
        self._camera.close()
        return f"virtual camera: {self.frames_sent} frames to {self.device} ({self.backend})"


# -- MPEG-TS stream ---------------------------------------------------------------------------
