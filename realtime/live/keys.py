"""The live window's keys: each one a control of ``LiveControls`` (the panel drives the same
methods), its error said in the overlay instead of stopping the run."""

from __future__ import annotations

from collections.abc import Callable

from realtime.core.errors import UserError
from realtime.live.controls import LiveControls
from realtime.live.mixing import SHIFT_STEP

STRENGTH_STEP = 0.1

KEYS_HELP = (
    "n/p next/previous style, m morph to the next style, [/] shift the mix, t temporal on/off, "
    "+/- strength, space pause, s snapshot, q/Esc quit"
)
_ESC = 27


def _actions(controls: LiveControls) -> dict[str, Callable[[], object]]:
    return {
        "q": controls.request_quit,
        "Q": controls.request_quit,
        " ": lambda: controls.set_paused(not controls.paused),
        "n": lambda: controls.step_style(1),
        "p": lambda: controls.step_style(-1),
        "t": controls.toggle_temporal,
        "+": lambda: controls.change_strength(STRENGTH_STEP),
        "=": lambda: controls.change_strength(STRENGTH_STEP),
        "-": lambda: controls.change_strength(-STRENGTH_STEP),
        "_": lambda: controls.change_strength(-STRENGTH_STEP),
        "s": controls.snapshot,
        "m": controls.morph_next,
        "[": lambda: controls.shift_mix(-SHIFT_STEP),
        "]": lambda: controls.shift_mix(SHIFT_STEP),
    }


def handle_key(controls: LiveControls, key: int) -> None:
    """Carry out what ``key`` (an OpenCV key code) does; unknown keys do nothing."""
    char = "q" if key == _ESC else (chr(key) if 0 <= key < 256 else "")
    action = _actions(controls).get(char)
    if action is None:
        return
    try:
        action()
    except UserError as exc:
        controls.say(str(exc))
