"""The style weight for one painting and photo, steered during the optimisation itself.

One fixed style weight does not carry across paintings: their Gram energies and texture
scales differ, so the same weight leaves one painting under-matched and wipes the photo out
under another (docs/GATYS.md, "Any painting"). The style term is already divided by the
painting's own Gram energy (``models.losses.style_layer_loss``); what still differs is how
far the optimiser can move a photo's Grams towards a painting for a given loss of content,
which only running it measures.

What does carry is the result's balance: how close its Grams come to the painting's,
measured as the scorer measures it (``models.metrics.gram_distance``: relu1_2..relu4_3, relative
Frobenius distance, the painting at the output's size). So each level's evaluations run in
segments; after each segment the distance of the best point so far is measured and the
weight moved towards ``target`` (``next_weight``), with a fresh L-BFGS memory for the new
objective. One distance does not carry across photos, though: on a street of facades the
trained networks themselves stop further from the painting than on amber, and aiming there
at amber's distance swamped the photo. So the weight also gives way whenever the output's
edges correlate with the photo's less than a floor (the scorer's edge correlation), whatever
the distance asks. A short search at a small size was tried first and does not predict the full
size: at 128 and 256 px udnie and rain-princess lie on one curve, at 512 px 0.1 apart (fine
strokes only count at the size the picture is seen at).

Also here: whether a device computes bfloat16 natively, which decides the optimiser's
``precision = "auto"``.
"""

from __future__ import annotations

import math

import torch

# Weights the steering keeps to: below, the photo is barely tinted; above, its structure
# is gone whatever the painting.
WEIGHT_RANGE = (0.25, 64.0)
# Near the target the distance falls about 0.04 per unit of log weight (amber, the four
# bundled paintings at 512 px), so a full correction is a gain of ~10 on log(d / target);
# under a third of it, because a segment's result has not settled at its weight yet: at
# 5 and steps of 4x the weight overshot to 12 and back to its floor within one level, and
# the texture laid down at 12 wiped out structure the rest of the run never gave back.
GAIN = 3.0
# One segment changes the weight by at most this factor either way.
MAX_STEP = 2.0
# Below its edge floor the weight falls this fast with log(edges / floor).
EDGE_GAIN = 5.0
# Segments at the start of each level that are not measured: 25 evaluations into a level
# the distance still falls fast whatever the weight, and reading it then raised the weight
# 4x for nothing (docs/GATYS.md, "Any painting").
SETTLE_SEGMENTS = 1


def bf16_native(device: torch.device) -> bool:
    """True where ``device`` computes bfloat16 in hardware: a CPU with AVX512-BF16 or AMX.

    CUDA is left out on purpose: bfloat16 there is not measured for this optimiser yet, so
    ``auto`` keeps float32 on a GPU (``precision = "bf16"`` asks for it).
    """
    if device.type != "cpu":
        return False
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def next_weight(
    weight: float, distance: float, target: float, edges: float = 1.0, edge_floor: float = 0.0
) -> float:
    """The style weight for the next segment: raised while the output is further from the
    painting than ``target``, lowered while closer, and lowered while its edges correlate
    with the photo's less than ``edge_floor``, whatever the distance; at most ``MAX_STEP``
    times either way, within ``WEIGHT_RANGE``."""
    change = math.exp(GAIN * math.log(max(distance, 1e-6) / target))
    if edges < edge_floor:
        change = min(change, math.exp(EDGE_GAIN * math.log(max(edges, 1e-3) / edge_floor)))
    change = min(MAX_STEP, max(1.0 / MAX_STEP, change))
    low, high = WEIGHT_RANGE
    return float(min(high, max(low, weight * change)))
