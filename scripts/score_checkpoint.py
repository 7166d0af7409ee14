"""Score a training checkpoint the way docs/STYLES.md scores shipped styles, on amber.jpg and
on photos held out of training.

    python scripts/score_checkpoint.py runs/bundled/multi.checkpoints/step_002000.pt

Runs the checkpoint's float32 network in torch, for each of its styles, on
``samples/amber.jpg`` at full size and on the held-out photos (``HOLDOUT`` in
retrain_bundled_styles.py), and prints the three numbers of ``realtime eval style``
(models/metrics.py) for each, beside the PyTorch examples' reference on amber. The amber
outputs are written as PNG into ``--out`` with a side-by-side sheet (photo | reference |
ours) to look at. Used to pick where a run stops; a shipped style is scored by
``retrain_bundled_styles.py`` instead (fp16 ONNX through ``realtime image``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrain_bundled_styles import HOLDOUT  # noqa: E402  (this script's folder)

from models.metrics import score  # noqa: E402
from models.style_norm import num_styles_of_state  # noqa: E402
from models.transformer_net import arch_of_state, build_network, clean_state_dict  # noqa: E402
from models.vgg import load_vgg16  # noqa: E402
from realtime.media.images import read_image, write_image  # noqa: E402


def load(path: Path) -> tuple[torch.nn.Module, list[str] | None]:
    """The network and, for a training checkpoint, its styles' names in input order."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    names = None
    if isinstance(obj, dict) and "model" in obj:
        names = [Path(p).stem for p in obj.get("config", {}).get("style_images", [])] or None
        obj = obj["model"]
    state = clean_state_dict(obj)
    arch = arch_of_state(state)
    if arch is None:
        raise SystemExit(f"{path} holds no TransformerNet")
    net = build_network(arch, num_styles_of_state(state)).eval()
    net.load_state_dict(state)
    return net, names


@torch.no_grad()
def stylize(net: torch.nn.Module, photo: np.ndarray, style: int | None) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(photo)).permute(2, 0, 1)[None].float()
    if style is None:
        y = net(x)
    else:
        y = net(x, F.one_hot(torch.tensor([style]), net.num_styles).float())
    return y[0].clamp(0, 255).round().byte().permute(1, 2, 0).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a step_NNNNNN.pt or a .pth")
    parser.add_argument("--styles", help="names of the styles, in order (default: from it)")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=Path("/tmp/score"), help="PNG folder")
    parser.add_argument("--no-holdout", action="store_true", help="amber only (faster)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    net, names = load(args.checkpoint)
    names = args.styles.split(",") if args.styles else names
    multi = getattr(net, "num_styles", None)
    if names is None or len(names) != (multi or 1):
        parser.error("give --styles NAME[,NAME...] in the network's style order")
    args.out.mkdir(parents=True, exist_ok=True)
    samples = args.shared / "data/samples"
    vgg, _ = load_vgg16(args.shared / "weights/vgg16-imagenet-features.pth")
    amber = read_image(samples / "amber.jpg")
    photos = (
        []
        if args.no_holdout
        else [read_image(args.shared / "data/content/train" / name) for name in HOLDOUT]
    )
    results = {}
    for index, name in enumerate(names):
        painting = read_image(args.shared / "data/styles" / f"{name}.jpg")
        ours = stylize(net, amber, index if multi else None)
        tag = f"{name}-{args.checkpoint.parent.name}-{args.checkpoint.stem}"
        write_image(args.out / f"{tag}.png", ours)
        entry = {"amber": score(vgg, ours, painting, amber).as_dict()}
        reference = samples / f"amber-{name}.reference.jpg"
        if reference.is_file():
            ref = read_image(reference)
            entry["reference"] = score(vgg, ref, painting, amber).as_dict()
            write_image(args.out / f"{tag}-sheet.jpg", np.hstack([amber, ref, ours]))
        held = [score(vgg, stylize(net, p, index if multi else None), painting, p) for p in photos]
        if held:
            entry["holdout"] = {
                k: float(np.mean([getattr(h, k) for h in held]))
                for k in ("style_distance", "content_distance", "edge_correlation")
            }
        results[name] = entry
    if args.json:
        print(json.dumps(results))
        return
    print(f"{args.checkpoint}  (style / content / edges)")
    for name, entry in results.items():
        line = f"  {name:14s} amber " + " / ".join(f"{v:.3f}" for v in entry["amber"].values())
        if "reference" in entry:
            line += "  ref " + " / ".join(f"{v:.3f}" for v in entry["reference"].values())
        if "holdout" in entry:
            line += "  held-out " + " / ".join(f"{v:.3f}" for v in entry["holdout"].values())
        print(line)


if __name__ == "__main__":
    main()
