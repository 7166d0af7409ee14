"""A third clip for docs/TEMPORAL.md's table, from another scene than the shared clips: a
camera that pans and zooms over one photo while a subject cut from another photo crosses
it, turning, with a camera's noise on every frame.

The shared clips are a close-up (cockatoo.mp4) and a small handheld shot (realshort.mp4).
This one has the two motions a temporal stage must tell apart: the whole frame moving
(camera) and one object moving against it (the subject leaves disocclusions behind it).

    python benchmarks/make_scene_clip.py --shared ../shared --out scene.mp4

Defaults: Urban100's ``curban100-img_004`` as the scene and BSDS's ``bsds-train-2092`` as
the subject, 640x360, 30 fps, 90 frames, sensor noise sigma 2 grey levels, H.264 at CRF 16.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 640, 360, 30


def camera(scene: np.ndarray, index: int, frames: int) -> np.ndarray:
    """The scene seen by a camera that pans right and down while it zooms in by 15%."""
    t = index / max(frames - 1, 1)
    zoom = 1.0 + 0.15 * t
    height, width = scene.shape[:2]
    view_w, view_h = width / 1.35 / zoom, height / 1.35 / zoom
    x = (width - view_w) * (0.15 + 0.6 * t)
    y = (height - view_h) * (0.3 + 0.3 * np.sin(np.pi * t))
    matrix = np.array([[WIDTH / view_w, 0, -x * WIDTH / view_w],
                       [0, HEIGHT / view_h, -y * HEIGHT / view_h]], np.float32)  # fmt: skip
    return cv2.warpAffine(scene, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_AREA)


def subject_patch(photo: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A disc from the middle of ``photo`` and its soft-edged mask, ``size`` px across."""
    height, width = photo.shape[:2]
    side = min(height, width) * 2 // 3
    top, left = (height - side) // 2, (width - side) // 2
    patch = cv2.resize(photo[top : top + side, left : left + side], (size, size), cv2.INTER_AREA)
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (size // 2, size // 2), (size // 2 - 3, size // 3), 0, 0, 360, 1.0, -1)
    return patch, cv2.GaussianBlur(mask, (0, 0), 1.5)


def place(frame: np.ndarray, patch: np.ndarray, mask: np.ndarray, index: int, frames: int):
    """The subject crossing the frame from left to right along an arc, turning as it goes."""
    t = index / max(frames - 1, 1)
    size = patch.shape[0]
    centre = (size / 2, size / 2)
    rotation = cv2.getRotationMatrix2D(centre, 40 * t, 1.0)
    cx = -0.1 * WIDTH + 1.2 * WIDTH * t
    cy = HEIGHT * (0.65 - 0.25 * np.sin(np.pi * t))
    rotation[:, 2] += (cx - centre[0], cy - centre[1])
    moved = cv2.warpAffine(patch, rotation, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(mask, rotation, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)[..., None]
    return (alpha * moved + (1 - alpha) * frame).astype(np.float32)


def frames(scene: np.ndarray, subject: np.ndarray, count: int, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    patch, mask = subject_patch(subject, HEIGHT // 2)
    for index in range(count):
        frame = place(camera(scene, index, count).astype(np.float32), patch, mask, index, count)
        frame += rng.normal(0.0, noise, frame.shape).astype(np.float32)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--out", type=Path, default=Path("scene.mp4"))
    parser.add_argument("--scene", default="curban100-img_004.jpg")
    parser.add_argument("--subject", default="bsds-train-2092.jpg")
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--noise", type=float, default=2.0, help="sensor noise, grey levels")
    args = parser.parse_args()
    photos = args.shared / "data" / "content" / "train"
    scene, subject = read_rgb(photos / args.scene), read_rgb(photos / args.subject)
    with av.open(str(args.out), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "16"}
        for frame in frames(scene, subject, args.frames, args.noise):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    print(f"wrote {args.out}: {args.frames} frames, {WIDTH}x{HEIGHT} at {FPS} fps")


if __name__ == "__main__":
    main()
