"""Training images: folder discovery and a seeded, augmented stream of square crops.

Sample ``k`` of the stream is a pure function of ``(seed, k)``: which image (a fresh
permutation of the folder every epoch) and its augmentation (scale jitter, crop, flip).
That makes a run reproducible regardless of DataLoader workers, and lets ``--resume``
continue the exact stream a straight run would have seen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from realtime.core.errors import UserError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass(frozen=True)
class ImageFolder:
    """The readable images under ``root`` (sorted, recursive) and how many were skipped."""

    root: Path
    files: tuple[Path, ...]
    skipped: tuple[Path, ...]


def find_images(root: Path | str) -> ImageFolder:
    """List the images under ``root``, skipping unreadable ones with a warning.

    Raises UserError for a missing folder, an empty one, or one without readable images.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"dataset folder not found: {root} (give a folder of training images)")
    candidates = sorted(
        p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )
    if not candidates:
        raise UserError(
            f"no images in dataset folder {root}; put .jpg/.jpeg/.png/.webp/.bmp files in it"
        )
    files, skipped = [], []
    for path in candidates:
        try:
            # verify() parses the file structure without decoding the pixels: fast enough
            # for thousands of files, and it catches empty, truncated-header or non-image files.
            with Image.open(path) as img:
                img.verify()
            files.append(path)
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
            skipped.append(path)
    if skipped:
        log.warning(
            f"skipped {len(skipped)} unreadable image file(s) in {root} (e.g. {skipped[0]})"
        )
    if not files:
        raise UserError(
            f"none of the {len(candidates)} image files in {root} can be read; "
            "give a folder of valid .jpg/.png images"
        )
    return ImageFolder(root=root, files=tuple(files), skipped=tuple(skipped))


def open_rgb(path: Path | str, what: str = "image") -> Image.Image:
    """Open an image as RGB (fully decoded), or raise UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path} (give the path of an image file)")
    try:
        with Image.open(path) as img:
            # Phone photos store rotation in EXIF: show the picture upright, as viewers do.
            return ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise UserError(
            f"cannot read {what} {path} ({type(exc).__name__}); give a valid .jpg/.png image"
        ) from exc


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB image -> float32 (3, H, W) tensor in [0, 255]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def resize_long_side(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    scale = size / max(w, h)
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)


def load_image_tensor(
    path: Path | str, long_side: int | None = None, what: str = "image"
) -> torch.Tensor:
    """An image file as a (1, 3, H, W) float tensor in [0, 255], optionally resized."""
    image = open_rgb(path, what)
    if long_side is not None:
        image = resize_long_side(image, long_side)
    return to_tensor(image).unsqueeze(0)


class AugmentedImageStream(Dataset):
    """Samples ``start .. start + length - 1`` of the seeded crop stream over ``files``.

    Each sample: resize so the short side is ``image_size * U(1, jitter_max)``, take a random
    ``image_size`` square crop, flip horizontally with probability 0.5 (if ``flip``).
    Returns float32 (3, image_size, image_size) tensors in [0, 255].
    """

    def __init__(
        self,
        files: tuple[Path, ...] | list[Path],
        image_size: int,
        length: int,
        seed: int = 0,
        start: int = 0,
        jitter_max: float = 1.5,
        flip: bool = True,
    ) -> None:
        if not files:
            raise UserError("no training images given; give a folder with .jpg/.png images")
        if jitter_max < 1.0:
            raise UserError(f"scale jitter must be >= 1, got {jitter_max}; use e.g. 1.5")
        self.files = tuple(files)
        self.image_size = image_size
        self.length = length
        self.seed = seed
        self.start = start
        self.jitter_max = jitter_max
        self.flip = flip
        self._perm_epoch = -1
        self._perm = np.arange(0)

    def __len__(self) -> int:
        return self.length

    def _file_for(self, k: int) -> Path:
        n = len(self.files)
        epoch, offset = divmod(k, n)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, 0, epoch]).permutation(n)
            self._perm_epoch = epoch
        return self.files[int(self._perm[offset])]

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.length:
            raise IndexError(index)
        k = self.start + index
        path = self._file_for(k)
        rng = np.random.default_rng([self.seed, 1, k])
        size = self.image_size
        short = size * rng.uniform(1.0, self.jitter_max)
        with Image.open(path) as img:
            w, h = img.size
            scale = short / min(w, h)
            new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
            # JPEG draft decoding at a reduced DCT scale: big photos load several times faster.
            img.draft("RGB", (new_w, new_h))
            try:
                image = img.convert("RGB").resize((new_w, new_h), Image.BICUBIC)
            except OSError as exc:
                raise UserError(
                    f"cannot decode training image {path} ({exc}); remove it from the dataset"
                ) from exc
        left = int(rng.integers(0, new_w - size + 1))
        top = int(rng.integers(0, new_h - size + 1))
        image = image.crop((left, top, left + size, top + size))
        if self.flip and rng.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        return to_tensor(image)
