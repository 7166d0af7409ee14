"""A temporal-consistency term for training: the network's output follows its input's motion.

A feed-forward style network flickers on video because nothing in its training ties the
texture it draws to the content under it: move the photo by two pixels and the strokes are
drawn somewhere new. Following Huang et al. 2017 ("Real-time neural style transfer for
videos") and ReCoNet (Gao et al. 2018), training shows the network a crop and the same crop
moved by a known motion, and asks that the output of the moved crop be the first output
moved the same way:

    temporal = mean over valid pixels of ((net(move(x) + noise) - move(net(x))) / 255)^2

Those papers take the motion from optical flow between real video frames; a photo dataset
has no video, so the motion here is synthetic and exactly known: a small random affine per
crop (shift, rotation, zoom), smooth like a camera's between two frames, so the warp needs
no flow estimate and has no flow errors. Valid pixels are those whose source lay inside the
crop, eroded a little: bilinear sampling at the edge mixes in the zero padding.

Normalisation: the squared difference is taken on the [0, 1] scale (output / 255), averaged
over the valid pixels and the channels, as ``models.losses.pixel_loss`` and the Gatys
temporal term (``models.gatys``) are: an RMS drift of 5 grey levels reads (5/255)^2 = 4e-4.
It is therefore a small number beside the content and style terms (about 1 each); the
weight that balances it has not been measured yet (docs/TRAINING.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.losses import masked_pixel_loss

# The motion between two consecutive video frames the term asks the network to follow:
# each bound is the largest value drawn (uniformly in [-bound, bound]) per crop. Small, as
# between frames of a hand-held camera or a slow pan (chosen, not measured on video): the
# term is about texture that jumps between near-identical frames, not about large motion.
MAX_SHIFT_PX = 4.0
MAX_ROTATION_DEG = 2.0
MAX_ZOOM = 0.04  # relative: 1 +- 4 %
# Pixels dropped from the valid region along its edge: there bilinear sampling reads the
# zero padding, and the moved frame's black band is not content the output should follow.
ERODE_PX = 2
# A pixel is valid when all of its bilinear weight fell inside the source (up to rounding).
_INSIDE = 1.0 - 1e-4


@dataclass(frozen=True)
class Motion:
    """A batch moved by known affines: ``moved`` (N, C, H, W), ``mask`` (N, 1, H, W) of 1
    where the moved pixel's source lay inside its image (eroded by ``ERODE_PX``) and 0 else,
    and ``theta`` (N, 2, 3), the ``affine_grid`` matrices that ``move`` applies."""

    moved: torch.Tensor
    mask: torch.Tensor
    theta: torch.Tensor


def motion_theta(
    shift_px: torch.Tensor, rotation_deg: torch.Tensor, zoom: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """``affine_grid`` matrices (N, 2, 3) for per-image motions given in pixels and degrees.

    Each output pixel p (pixel units, origin at the image centre) is read from the source at
    ``zoom * R(rotation) p + shift``, so the content moves by ``-shift``. The matrices work in
    ``affine_grid``'s normalised coordinates, which stretch x and y differently on a
    non-square image: the rotation is conjugated by that stretch so that it stays a rotation
    in pixels."""
    angle = torch.deg2rad(rotation_deg)
    cos, sin = angle.cos() * zoom, angle.sin() * zoom
    aspect = height / width
    row_x = torch.stack([cos, -sin * aspect, 2.0 * shift_px[:, 0] / width], dim=-1)
    row_y = torch.stack([sin / aspect, cos, 2.0 * shift_px[:, 1] / height], dim=-1)
    return torch.stack([row_x, row_y], dim=1)


def random_theta(
    n: int,
    height: int,
    width: int,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """``n`` random motions within the module's bounds (``motion_theta``), drawn on
    ``device`` (from ``generator``, which must live there, or torch's global generator)."""

    def uniform(bound: float, *shape: int) -> torch.Tensor:
        return (torch.rand(n, *shape, generator=generator, device=device) * 2 - 1) * bound

    zoom = 1.0 + uniform(MAX_ZOOM)
    return motion_theta(uniform(MAX_SHIFT_PX, 2), uniform(MAX_ROTATION_DEG), zoom, height, width)


def move(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``images`` (N, C, H, W) moved by ``theta``: bilinear, zeros outside, in float32
    (the sampling grid of a float16 image would round pixel positions)."""
    images = images.float()
    grid = F.affine_grid(theta.float(), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.no_grad()
def valid_mask(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, 1, H, W): 1 where the moved pixel's source lay wholly inside the image, eroded by
    ``ERODE_PX`` (a min-pool, which treats the image's own border as valid: only the motion
    invalidates pixels, so no motion leaves every pixel valid)."""
    ones = torch.ones(theta.shape[0], 1, height, width, device=theta.device)
    inside = (move(ones, theta) >= _INSIDE).float()
    if ERODE_PX == 0:
        return inside
    size = 2 * ERODE_PX + 1
    return -F.max_pool2d(-inside, size, stride=1, padding=ERODE_PX)


def random_motion(
    crops: torch.Tensor, noise_std: float, generator: torch.Generator | None = None
) -> Motion:
    """``crops`` (N, 3, H, W, 0..255) each moved by its own random small affine, plus
    Gaussian noise of ``noise_std`` grey levels (a camera's sensor noise differs between two
    frames of a still scene too), clipped to 0..255. ``generator`` must be on the crops'
    device; None draws from torch's global one (seeded and checkpointed by the trainer)."""
    n, _, height, width = crops.shape
    theta = random_theta(n, height, width, generator, crops.device)
    moved = move(crops, theta)
    if noise_std > 0:
        noise = torch.randn(moved.shape, generator=generator, device=crops.device)
        moved = (moved + noise_std * noise).clamp(0.0, 255.0)
    return Motion(moved=moved, mask=valid_mask(theta, height, width), theta=theta)


def temporal_loss(
    net: Callable[[torch.Tensor], torch.Tensor],
    crops: torch.Tensor,
    output: torch.Tensor,
    noise_std: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The temporal term (module docstring) of ``net`` on ``crops``, whose output ``output``
    the training step has computed already: one more forward pass, on the moved crops.

    ``net`` maps a batch to its stylized batch; a multi-style network is passed with its
    style input bound, so that both passes paint the same style. Gradients flow through
    both outputs: either may move towards the other."""
    motion = random_motion(crops, noise_std, generator)
    return masked_pixel_loss(net(motion.moved), move(output, motion.theta), motion.mask)
