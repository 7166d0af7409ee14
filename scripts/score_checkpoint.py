"""Score a training checkpoint on amber.jpg the way docs/STYLES.md scores shipped styles.

    python scripts/score_checkpoint.py runs/bundled/candy.checkpoints/step_000500.pt candy

Runs the checkpoint's float32 network in torch on ``samples/amber.jpg`` at full size, writes
the output as PNG next to ``--out`` and prints ``realtime eval style --size 512`` of it
against the painting. Used to pick where a CPU-recipe run stops (a shipped style is scored
by ``retrain_bundled_styles.py`` instead: fp16 ONNX, ``realtime image``, JPEG; the two agree
within about 0.01).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrain_bundled_styles import evaluate  # noqa: E402  (this script's folder is on sys.path)

from models.transformer_net import arch_of_state, build_network, clean_state_dict  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a step_NNNNNN.pt from 'realtime train'")
    parser.add_argument("painting", help="mosaic, candy, udnie or rain-princess")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=Path("/tmp"), help="folder for the PNG")
    args = parser.parse_args()
    state = clean_state_dict(
        torch.load(args.checkpoint, map_location="cpu", weights_only=True)["model"]
    )
    arch = arch_of_state(state)
    if arch is None:
        parser.error(f"{args.checkpoint} holds no TransformerNet")
    net = build_network(arch).eval()
    net.load_state_dict(state)
    amber = args.shared / "data/samples/amber.jpg"
    photo = np.array(Image.open(amber).convert("RGB"))  # writable, for torch.from_numpy
    with torch.no_grad():
        out = net(torch.from_numpy(photo).permute(2, 0, 1)[None].float())[0]
    image = out.clamp(0, 255).round().byte().permute(1, 2, 0).numpy()
    png = args.out / f"{args.painting}-{args.checkpoint.parent.name}-{args.checkpoint.stem}.png"
    Image.fromarray(image).save(png)
    scores = evaluate(png, args.painting, args.shared)
    print(
        f"{args.checkpoint}: style {scores['style_distance']:.3f} "
        f"content {scores['content_distance']:.3f} ({png})"
    )


if __name__ == "__main__":
    main()
