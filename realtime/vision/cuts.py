"""Scene cuts: when two consecutive frames share too little to carry anything across."""

from __future__ import annotations

import cv2
import numpy as np

# A cut when the grey-level histograms differ this much (Bhattacharyya distance, 0..1).
CUT_HISTOGRAM_DISTANCE = 0.5
_HIST_BINS = 32


def gray_histogram(gray: np.ndarray) -> np.ndarray:
    """Normalised 32-bin grey-level histogram, for `histogram_cut`."""
    hist = cv2.calcHist([gray], [0], None, [_HIST_BINS], [0, 256])
    return cv2.normalize(hist, None, 1.0, 0.0, cv2.NORM_L1)


def histogram_cut(previous: np.ndarray, current: np.ndarray) -> bool:
    """A scene cut: the grey-level histograms of two frames differ too much."""
    distance = cv2.compareHist(previous, current, cv2.HISTCMP_BHATTACHARYYA)
    return distance > CUT_HISTOGRAM_DISTANCE
