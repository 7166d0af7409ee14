"""Rebuild a network's PyTorch weights from its exported ONNX file, to train it on.

    python scripts/rebuild_from_onnx.py realtime/bundled_styles/candy.onnx runs/recovered/candy.pth

Training checkpoints live under ``runs/``, which a fresh clone does not have; the bundled
styles' ONNX files hold every weight (float16 convolutions in an ``--fp16`` export, float32
norms). This writes them back as the ``state_dict`` of the network they came from (full or
lite, one style or several) with the ONNX file's card beside it, so ``realtime train --init``,
``--init-style`` and ``--teacher`` take it. It checks the rebuilt network against the ONNX
file in ONNX Runtime on a test frame and refuses to write one that paints differently.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.onnx_weights import onnx_state  # noqa: E402
from models.style_norm import num_styles_of_state  # noqa: E402
from models.transformer_net import ARCHS, build_network  # noqa: E402
from realtime.core.config import EngineConfig  # noqa: E402
from realtime.runtime.engine import OnnxStylizer  # noqa: E402

# 8-bit levels a rebuilt network may differ by from its float16 ONNX file on a test frame.
TOLERANCE = 3


def rebuild(path: Path) -> torch.nn.Module:
    """The network (of whichever architecture fits) holding the ONNX file's weights."""
    state = onnx_state(path)
    styles = num_styles_of_state(state)
    for arch in ARCHS:
        net = build_network(arch, styles)
        wanted = net.state_dict()
        if all(k in state and state[k].shape == v.shape for k, v in wanted.items()):
            net.load_state_dict({k: state[k] for k in wanted})
            return net.eval()
    raise SystemExit(f"rebuild: {path} holds no TransformerNet weights this project exports")


def largest_difference(net: torch.nn.Module, path: Path) -> int:
    """The largest 8-bit difference between ``net`` and the ONNX file on a test frame (a
    multi-style network painting its first style, as ONNX Runtime's stylizer does)."""
    frame = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    expected = OnnxStylizer(path, EngineConfig(device="cpu"), announce=False)(frame)
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
    styles = getattr(net, "num_styles", None)
    with torch.no_grad():
        y = net(x) if not styles else net(x, torch.eye(styles)[:1])
    ours = y.clamp(0, 255).round()[0].permute(1, 2, 0).numpy().astype(np.int16)
    return int(np.abs(ours - expected.astype(np.int16)).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx", type=Path, help="an exported NAME.onnx (its card NAME.json beside)")
    parser.add_argument("out", type=Path, help="the .pth to write (its card is copied beside)")
    args = parser.parse_args()
    if not args.onnx.is_file():
        raise SystemExit(f"rebuild: {args.onnx} not found; give an exported .onnx file")
    net = rebuild(args.onnx)
    difference = largest_difference(net, args.onnx)
    if difference > TOLERANCE:
        raise SystemExit(
            f"rebuild: the rebuilt network differs from {args.onnx.name} by {difference} levels "
            f"(at most {TOLERANCE} expected); not written"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), args.out)
    card = args.onnx.with_suffix(".json")
    if card.is_file():
        shutil.copyfile(card, args.out.with_suffix(".json"))
    print(f"wrote {args.out} (within {difference} levels of {args.onnx.name} on a test frame)")


if __name__ == "__main__":
    main()
