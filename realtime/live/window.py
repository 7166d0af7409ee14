"""The preview window: an OpenCV highgui window with a text overlay, and the source of the
live keys. It must be driven from the main thread (macOS)."""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from realtime.core.errors import UserError, first_line


def check_window_support() -> None:
    """Fail with a clear message before any work when no window can be shown."""
    info = cv2.getBuildInformation()
    gui = next((line for line in info.splitlines() if line.strip().startswith("GUI:")), "")
    if "NONE" in gui.upper():
        raise UserError(
            "this OpenCV has no window support (opencv-python-headless?); install "
            "opencv-python, or use --no-window with --vcam, --stream or --record"
        )
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        # Checked here because OpenCV's Qt backend aborts the whole process without a display.
        raise UserError(
            "no display to open a window on (DISPLAY is not set); use --no-window with "
            "--vcam, --stream or --record, or run inside a desktop session"
        )


class WindowOutput:
    """An OpenCV highgui window with a text overlay; also the source of hotkeys."""

    name = "window"
    holds_while_paused = True

    def __init__(self, title: str, width: int, height: int) -> None:
        check_window_support()
        self.title = title
        self.width, self.height = width, height
        self.overlay: list[str] = []
        self.frames_shown = 0
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
            cv2.resizeWindow(title, width, height)
        except cv2.error as exc:
            raise UserError(
                f"cannot open a window ({first_line(exc)}); use --no-window with --vcam, "
                "--stream or --record"
            ) from exc
        self._opened = True

    def write(self, frame: np.ndarray, timestamp: float) -> None:
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        draw_overlay(bgr, self.overlay)
        cv2.imshow(self.title, bgr)
        self.frames_shown += 1

    def poll_key(self, wait_ms: int = 1) -> int | None:
        """Pump window events for ``wait_ms`` and return the key pressed, if any."""
        key = cv2.waitKey(max(1, wait_ms))
        return None if key == -1 else key & 0xFF

    @property
    def closed(self) -> bool:
        """True once the user closed the window with its close button."""
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self, complete: bool = True) -> str:
        if self._opened:
            self._opened = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # let the GUI process the destruction
            except cv2.error:
                pass  # already closed by the user
        return f"window: {self.frames_shown} frames shown"


# The overlay's box keeps this share of the picture's brightness: dark enough for white text
# on a white frame, light enough to still see what is behind it.
OVERLAY_BOX_KEEP = 0.3
_OVERLAY_FONT = cv2.FONT_HERSHEY_SIMPLEX


def overlay_layout(width: int, lines: list[str]) -> tuple[float, int, int, int, int]:
    """(font scale, thickness, line height, box width, box height) for ``lines``."""
    scale = max(0.4, min(width, 1280) / 1600)
    thickness = 1 if scale < 0.7 else 2
    sizes = [cv2.getTextSize(text, _OVERLAY_FONT, scale, thickness) for text in lines]
    line_height = max((h + base for (_, h), base in sizes), default=0) + 6
    box_width = max((w for (w, _), _ in sizes), default=0) + 12
    return scale, thickness, line_height, box_width, line_height * len(lines) + 6


def draw_overlay(bgr: np.ndarray, lines: list[str]) -> None:
    """Text lines in the top-left corner: one white pass over a darkened box.

    One text rendering only: a dark outline drawn as a second, thicker pass does not line up
    with the thin text on top (OpenCV 5 advances thick and thin glyphs differently), which
    made the lines unreadable. The box makes white text legible on any background.
    """
    if not lines:
        return
    scale, thickness, line_height, box_w, box_h = overlay_layout(bgr.shape[1], lines)
    x0, y0 = 4, 4
    box = bgr[y0 : y0 + box_h, x0 : x0 + box_w]
    cv2.convertScaleAbs(box, dst=box, alpha=OVERLAY_BOX_KEEP)
    for i, text in enumerate(lines):
        baseline_y = y0 + 3 + line_height * (i + 1) - 6
        cv2.putText(
            bgr,
            text,
            (x0 + 6, baseline_y),
            _OVERLAY_FONT,
            scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )


# -- virtual camera ---------------------------------------------------------------------------
