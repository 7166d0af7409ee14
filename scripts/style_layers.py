"""Where a stylized image's style distance comes from, layer by layer.

    python scripts/style_layers.py ../shared/data/styles/candy.jpg OUT.jpg [OUT2.jpg ...]

For each output, in the scorer's view (both images at a long side of 512, as
``realtime eval style``), per layer relu1_2 / relu2_2 / relu3_3 / relu4_3:

- ``distance``: the style distance's term, ``||G(out) - G(painting)|| / ||G(painting)||``
  (the style distance is their mean);
- ``energy``: ``trace G(out) / trace G(painting)``, how much feature activity the output
  has against the painting (below 1: too little texture and contrast at that scale);
- ``at best scale``: the distance after the one factor on G(out) that fits it best, what is
  left once the energy is put right (the shape of the Gram matrix).

docs/STYLES.md quotes these for candy's and rain-princess's networks beside the references.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.losses import gram_matrix  # noqa: E402
from models.metrics import features, scaled  # noqa: E402
from models.vgg import STYLE_LAYERS, load_vgg16  # noqa: E402
from realtime.media.images import read_image  # noqa: E402


def layer_numbers(g_out: torch.Tensor, g_ref: torch.Tensor) -> tuple[float, float, float]:
    """(distance, energy, distance at the best scale) of one layer's Gram matrices."""
    norm = torch.linalg.matrix_norm
    distance = float(norm(g_out - g_ref) / norm(g_ref))
    energy = float(torch.diagonal(g_out, dim1=-2, dim2=-1).sum() / torch.diagonal(
        g_ref, dim1=-2, dim2=-1).sum())  # fmt: skip
    best = float((g_out * g_ref).sum() / (g_out * g_out).sum())
    return distance, energy, float(norm(best * g_out - g_ref) / norm(g_ref))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("painting", type=Path)
    parser.add_argument("outputs", type=Path, nargs="+")
    parser.add_argument("--vgg-weights", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    vgg, _ = load_vgg16(args.vgg_weights)
    reference = features(vgg, scaled(read_image(args.painting)))
    ref_grams = {name: gram_matrix(reference[name]) for name in STYLE_LAYERS}
    print("layers: " + " / ".join(STYLE_LAYERS))
    for path in args.outputs:
        feats = features(vgg, scaled(read_image(path)))
        rows = [layer_numbers(gram_matrix(feats[n]), ref_grams[n]) for n in STYLE_LAYERS]
        mean = sum(r[0] for r in rows) / len(rows)
        print(f"{path.name}: style distance {mean:.3f}")
        for label, column in (("distance", 0), ("energy", 1), ("at best scale", 2)):
            print(f"  {label:14s}" + " / ".join(f"{r[column]:.3f}" for r in rows))


if __name__ == "__main__":
    main()
