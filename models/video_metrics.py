"""Style retention of a stylized video: the mean Gram style distance of its frames.

``mean_style_distance`` is ``models.metrics.style_distance`` (mean over relu1_2..relu4_3 of
``||G(frame) - G(style)||_F / ||G(style)||_F``) averaged over every ``every``-th frame, each
resized so its long side is ``long_side`` pixels; the style image is taken with its long
side at ``style_size`` (the training recipe's default, 256). A temporal blend that kept the
style has about the same figure as the unblended stylization; one that faded or smeared it
moves towards the content's figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import torch

from models.data import load_image_tensor
from models.metrics import style_distance
from models.vgg import STYLE_LAYERS, VGG16Features, load_vgg16


def mean_style_distance(
    frames: Iterable[np.ndarray],
    style_image: Path,
    vgg_weights: Path | None = None,
    every: int = 10,
    long_side: int = 512,
    style_size: int = 256,
    vgg: VGG16Features | None = None,
) -> tuple[float, int]:
    """(mean style distance, frames scored) over uint8 RGB ``frames``."""
    if vgg is None:
        vgg, _ = load_vgg16(vgg_weights)
    style = load_image_tensor(style_image, style_size, what="style image")
    # Warm the style features once; style_distance recomputes them per call, which is cheap
    # next to a frame, but the first call also checks the layers exist.
    vgg(style, STYLE_LAYERS)
    distances = []
    for index, frame in enumerate(frames):
        if index % every:
            continue
        height, width = frame.shape[:2]
        scale = long_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        tensor = torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1).float()
        distances.append(style_distance(vgg, tensor, style))
    return (float(np.mean(distances)) if distances else float("nan")), len(distances)
