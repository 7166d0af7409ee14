"""PyTorch eager inference, frame by frame, as the PyTorch examples stylize: the baseline
``realtime bench`` compares the ONNX Runtime stylizer against, model-only against model-only."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

from models.transformer_net import build_network, load_transformer_net


def eager_fps(
    frames: list[np.ndarray], checkpoint: Path | None, threads: int | None, arch: str = "full"
) -> float:
    """Frames per second of the checkpoint (else a fresh network of ``arch``: inference speed
    does not depend on the weights) in PyTorch eager on the CPU, the first frame a warm-up."""
    if threads:
        torch.set_num_threads(threads)
    model = load_transformer_net(checkpoint) if checkpoint else build_network(arch).eval()

    def stylize(frame: np.ndarray) -> np.ndarray:
        # As the PyTorch examples' stylize(): to a float tensor, forward, clamp, to bytes.
        with torch.inference_mode():
            x = torch.from_numpy(frame).permute(2, 0, 1).float().unsqueeze(0)
            return model(x).clamp(0, 255)[0].permute(1, 2, 0).to(torch.uint8).numpy()

    stylize(frames[0])  # the first call allocates and picks kernels
    times = []
    for frame in frames[1:]:
        start = time.perf_counter()
        stylize(frame)
        times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times)
