"""The three numbers a stylized image is judged by (``realtime eval style``, the docs, cards).

The definitions are those of the project's scorer (``shared/tools/score_style.py``), so the
numbers agree with it to the third decimal:

- images are read as RGB and scaled with INTER_AREA to a long side of ``SCORE_SIZE`` (512):
  the output, the painting, and the photo to exactly the output's scaled size;
- judge network: VGG-16 conv features at relu1_2, relu2_2, relu3_3 and relu4_3 (torchvision
  preprocessing, which ``VGG16Features`` applies itself);
- **style distance**: the mean over the layers of ``||G(out) - G(painting)||_F /
  ||G(painting)||_F`` with ``G`` the Gram matrix. Lower is closer to the painting's style.
  Both images at the same scale: a painting left at its own size (the earlier definition)
  favours networks whose strokes are too small;
- **content distance**: the mean over the layers of the mean over positions of
  ``|| f_out/|f_out| - f_photo/|f_photo| ||^2``, with ``f`` the channel vector at a position
  (LPIPS's normalisation, equal channel weights). 0 is the photo itself; higher means less
  of the photo's structure is left. (The earlier relu3_3 relative error was about 1.3 for
  every stylization and could not tell a recognisable door from a smear.)
- **edge correlation**: Pearson's correlation of the Sobel gradient magnitudes of the grey
  output and the grey photo, both at a long side of 256 after a Gaussian blur of sigma 1.
  1 is the photo's edges exactly where they were; near 0 is no structure of the photo left.

Inputs are uint8 RGB arrays (H, W, 3) at any size; ``score`` scales them as above.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

from models.losses import gram_matrix
from models.vgg import STYLE_LAYERS, VGG16Features

SCORE_SIZE = 512  # long side the three numbers are taken at
EDGE_SIZE = 256  # long side of the edge correlation
EDGE_BLUR_SIGMA = 1.0
_UNIT_EPS = 1e-10  # LPIPS's


@dataclass(frozen=True)
class StyleScores:
    style_distance: float
    content_distance: float
    edge_correlation: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def scaled(image: np.ndarray, long_side: int | None = SCORE_SIZE) -> np.ndarray:
    """``image`` with its long side at ``long_side`` (INTER_AREA), unchanged if None."""
    if long_side is None:
        return image
    factor = long_side / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    if size == (image.shape[1], image.shape[0]):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()


@torch.no_grad()
def features(vgg: VGG16Features, image: np.ndarray) -> dict[str, torch.Tensor]:
    return vgg(_tensor(image), STYLE_LAYERS)


@torch.no_grad()
def style_distance(vgg: VGG16Features, output: np.ndarray, painting: np.ndarray) -> float:
    """Mean relative Gram distance over relu1_2..relu4_3 of two images as given."""
    ref = features(vgg, painting)
    return gram_distance(features(vgg, output), {n: gram_matrix(ref[n]) for n in STYLE_LAYERS})


@torch.no_grad()
def gram_distance(output: dict[str, torch.Tensor], painting: dict[str, torch.Tensor]) -> float:
    """``style_distance`` from the output's features and the painting's Grams, one per
    layer of ``painting``: the mean of ``||G(out) - G(painting)||_F / ||G(painting)||_F``
    (the optimiser's steering measures with it)."""
    distances = []
    for name, g_ref in painting.items():
        g_out = gram_matrix(output[name])
        norm = torch.linalg.matrix_norm
        distances.append(float((norm(g_out - g_ref) / norm(g_ref)).mean()))
    return float(np.mean(distances))


@torch.no_grad()
def content_distance(vgg: VGG16Features, output: np.ndarray, photo: np.ndarray) -> float:
    """Mean over the layers of the unit-feature distance of two same-size images."""
    if output.shape != photo.shape:
        raise ValueError(f"output {output.shape} and photo {photo.shape} differ in shape")
    out, ref = features(vgg, output), features(vgg, photo)
    distances = []
    for name in STYLE_LAYERS:
        a = out[name] / (out[name].norm(dim=1, keepdim=True) + _UNIT_EPS)
        b = ref[name] / (ref[name].norm(dim=1, keepdim=True) + _UNIT_EPS)
        distances.append(float((a - b).pow(2).sum(dim=1).mean()))
    return float(np.mean(distances))


def _edges(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    grey = cv2.GaussianBlur(scaled(grey, EDGE_SIZE), (0, 0), EDGE_BLUR_SIGMA)
    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    return np.hypot(dx, dy).ravel()


def edge_correlation(output: np.ndarray, photo: np.ndarray) -> float:
    """Pearson correlation of the blurred Sobel magnitudes of two same-size images."""
    return float(np.corrcoef(_edges(output), _edges(photo))[0, 1])


def score(
    vgg: VGG16Features,
    output: np.ndarray,
    painting: np.ndarray,
    photo: np.ndarray,
    size: int | None = SCORE_SIZE,
) -> StyleScores:
    """The three numbers for a stylized ``output`` of ``photo`` in the style of ``painting``
    (uint8 RGB, any sizes; scaled to a long side of ``size`` as the scorer does)."""
    out = scaled(output, size)
    ref = photo
    if ref.shape[:2] != out.shape[:2]:
        ref = cv2.resize(photo, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
    return StyleScores(
        style_distance=style_distance(vgg, out, scaled(painting, size)),
        content_distance=content_distance(vgg, out, ref),
        edge_correlation=edge_correlation(out, ref),
    )
