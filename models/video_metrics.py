"""Style retention of a stylized video: the mean Gram style distance of its frames.

``mean_style_distance`` is ``models.metrics.style_distance`` (mean over relu1_2..relu4_3 of
``||G(frame) - G(style)||_F / ||G(style)||_F``) averaged over every ``every``-th frame, each
resized so its long side is ``long_side`` pixels, the painting at the same long side (as
``realtime eval style`` scores images). A temporal blend that kept the style has about the
same figure as the unblended stylization; one that faded or smeared it moves towards the
content's figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from models.metrics import scaled, style_distance
from models.vgg import VGG16Features, load_vgg16


def mean_style_distance(
    frames: Iterable[np.ndarray],
    painting: np.ndarray,
    vgg_weights: Path | None = None,
    every: int = 10,
    long_side: int = 512,
    vgg: VGG16Features | None = None,
) -> tuple[float, int]:
    """(mean style distance, frames scored) over uint8 RGB ``frames``, against the uint8 RGB
    ``painting``."""
    if vgg is None:
        vgg, _ = load_vgg16(vgg_weights)
    painting = scaled(painting, long_side)
    distances = [
        style_distance(vgg, scaled(frame, long_side), painting)
        for index, frame in enumerate(frames)
        if index % every == 0
    ]
    return (float(np.mean(distances)) if distances else float("nan")), len(distances)
