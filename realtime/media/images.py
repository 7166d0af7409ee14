"""Still images in and out: upright uint8 RGB, transparency kept, written atomically."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from realtime.core.errors import UserError
from realtime.core.files import check_output_folder, check_output_place, write_bytes_atomic

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# Formats whose files can hold an alpha channel (OpenCV writes 4-channel images to them).
ALPHA_SUFFIXES = (".png", ".webp", ".tif", ".tiff")

# The eight ways a picture can be stored relative to how it is shown (EXIF orientations).
_ORIENTATIONS = (
    lambda a: a,
    lambda a: a[:, ::-1],
    lambda a: a[::-1, ::-1],
    lambda a: a[::-1],
    lambda a: a.transpose(1, 0, *range(2, a.ndim)),
    lambda a: np.rot90(a, -1),
    lambda a: a.transpose(1, 0, *range(2, a.ndim))[::-1, ::-1],
    lambda a: np.rot90(a, 1),
)


def _decode(path: Path, flags: int) -> np.ndarray | None:
    data = np.fromfile(path, dtype=np.uint8)  # imdecode: works with any path encoding
    return cv2.imdecode(data, flags) if data.size else None


def read_image(path: Path) -> np.ndarray:
    """Read an image as uint8 RGB, upright (OpenCV applies the EXIF orientation)."""
    return read_image_with_alpha(path)[0]


def read_image_with_alpha(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 RGB (H, W, 3), upright, and the image's alpha (H, W) if it has one."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"input image not found: {path}")
    bgr = _decode(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"cannot read {path} as an image; give a JPEG, PNG, BMP, WebP or TIFF file")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return rgb, _alpha_of(path, bgr)


def _alpha_of(path: Path, upright_bgr: np.ndarray) -> np.ndarray | None:
    """The alpha channel, turned upright the way OpenCV turned the colour image.

    IMREAD_UNCHANGED (the only way to get alpha) ignores the EXIF orientation that
    IMREAD_COLOR applies, so the orientation is recovered by matching the two.
    """
    raw = _decode(path, cv2.IMREAD_UNCHANGED)
    if raw is None or raw.ndim != 3 or raw.shape[2] != 4:
        return None
    alpha = raw[:, :, 3]
    if alpha.dtype != np.uint8:  # 16-bit PNG/TIFF: the colour image is already 8-bit
        alpha = (alpha >> 8).astype(np.uint8)
    colour = cv2.cvtColor(raw, cv2.COLOR_BGRA2BGR)
    if colour.dtype != np.uint8:
        colour = (colour >> 8).astype(np.uint8)
    for turn in _ORIENTATIONS:
        turned = turn(colour)
        if turned.shape == upright_bgr.shape and np.array_equal(turned, upright_bgr):
            return np.ascontiguousarray(turn(alpha))
    # Not matched exactly (a colour conversion differed): take it as stored if it fits.
    return alpha if alpha.shape == upright_bgr.shape[:2] else None


def check_output_image(path: Path) -> None:
    """Fail before any work on an output that cannot be written."""
    path = Path(path)
    check_output_place(path)  # first: a folder is said as such, not as a missing suffix
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(
            f"cannot write an image as {path.suffix or 'a file without a suffix'} ({path.name}); "
            f"use one of {', '.join(IMAGE_SUFFIXES)}"
        )
    check_output_folder(path)


def write_image(path: Path, image: np.ndarray, alpha: np.ndarray | None = None) -> None:
    """Write uint8 RGB (and ``alpha``, where the format holds it) atomically: the final name
    appears only once the file is complete; a full disk leaves nothing behind."""
    path = Path(path)
    check_output_image(path)
    suffix = path.suffix.lower()
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if alpha is not None:
        if suffix in ALPHA_SUFFIXES:
            bgr = np.dstack([bgr, cv2.resize(alpha, (bgr.shape[1], bgr.shape[0]))])
        else:
            log.warning(
                "%s cannot hold transparency: the input's alpha channel is dropped; "
                "write .png, .webp or .tiff to keep it",
                path.name,
            )
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, bgr, params)
    if not ok:
        raise UserError(f"could not encode {path.name}; try .png or .jpg")
    write_bytes_atomic(path, encoded.tobytes())
