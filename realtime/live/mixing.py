"""Mixing styles live with one multi-style network: no reload, ever.

A multi-style network paints any mix of its styles from one session (its ``style`` input):
the mixer only changes the weights it is given, frame by frame. A morph moves the mix from
where it is to another style over ``morph_seconds`` along a smoothstep (no jump at either end);
the ``[``/``]`` keys shift it by a tenth between two styles; ``n``/``p`` switch at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from realtime.core.config import DEFAULT_MORPH_SECONDS
from realtime.core.errors import UserError

SHIFT_STEP = 0.1


@dataclass
class _Morph:
    start: np.ndarray
    target: np.ndarray
    started: float
    seconds: float


@dataclass
class Mixer:
    """The mix a multi-style stylizer paints, and how it moves. ``stylizer`` has ``styles``
    and ``set_mix`` (realtime.runtime.engine.OnnxStylizer for a multi-style network)."""

    stylizer: object
    morph_seconds: float = DEFAULT_MORPH_SECONDS
    weights: np.ndarray = field(init=False)
    _morph: _Morph | None = field(default=None, init=False)
    # The two styles [ and ] shift between: the one the mix started from and the next.
    pair: tuple[int, int] = field(init=False)

    def __post_init__(self) -> None:
        if self.morph_seconds <= 0:
            raise UserError(f"--morph-seconds must be positive, got {self.morph_seconds}")
        mix = self.stylizer.mix
        self.weights = np.array([mix.get(s, 0.0) for s in self.styles], np.float64)
        self.pair = (self.dominant, (self.dominant + 1) % len(self.styles))

    @property
    def styles(self) -> list[str]:
        return list(self.stylizer.styles)

    @property
    def dominant(self) -> int:
        return int(np.argmax(self.weights))

    @property
    def morphing(self) -> bool:
        return self._morph is not None

    def index(self, style: str) -> int:
        if style not in self.styles:
            mixes = ", ".join(self.styles)
            raise UserError(f"no style {style!r} to mix; this network mixes {mixes}")
        return self.styles.index(style)

    def _apply(self, weights: np.ndarray) -> None:
        weights = np.clip(weights, 0.0, None)
        self.weights = weights / weights.sum()
        self.stylizer.set_mix({s: float(w) for s, w in zip(self.styles, self.weights, strict=True)})

    def switch(self, style: int) -> None:
        """That style alone, at once (stops a morph)."""
        self._morph = None
        target = np.zeros(len(self.styles))
        target[style] = 1.0
        self._apply(target)
        self.pair = (style, (style + 1) % len(self.styles))

    def set_weights(self, weights: dict[str, float]) -> None:
        """This mix at once (stops a morph); styles not named get 0. Checked by the caller."""
        self._morph = None
        self._apply(np.array([float(weights.get(s, 0.0)) for s in self.styles]))

    def morph_to(self, style: int, now: float) -> None:
        """Move from the current mix to ``style`` alone over ``morph_seconds``."""
        target = np.zeros(len(self.styles))
        target[style] = 1.0
        self._morph = _Morph(self.weights.copy(), target, now, self.morph_seconds)
        self.pair = (self.dominant, style)

    def shift(self, step: float) -> None:
        """Move a ``step`` of weight from the pair's first style to its second (negative:
        back), keeping the rest of the mix."""
        self._morph = None
        first, second = self.pair
        moved = float(np.clip(step, -self.weights[second], self.weights[first]))
        weights = self.weights.copy()
        weights[first] -= moved
        weights[second] += moved
        self._apply(weights)

    def tick(self, now: float) -> None:
        """Advance a morph to ``now`` (called once per frame, before the frame is stylized)."""
        morph = self._morph
        if morph is None:
            return
        t = min(1.0, max(0.0, (now - morph.started) / morph.seconds))
        eased = t * t * (3.0 - 2.0 * t)  # smoothstep: starts and ends without a jolt
        self._apply((1.0 - eased) * morph.start + eased * morph.target)
        if t >= 1.0:
            self._morph = None

    def describe(self) -> str:
        parts = [
            f"{style} {round(100 * w)}%"
            for style, w in zip(self.styles, self.weights, strict=True)
            if w >= 0.005
        ]
        return "mix " + " + ".join(parts) + (" (morphing)" if self.morphing else "")
