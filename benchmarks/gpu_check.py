"""The GPU check: one command, at most about 8 minutes, one JSON with everything measured.

    python benchmarks/gpu_check.py --out gpu-check.json [--shared ../shared]

On a machine with an NVIDIA GPU it

1. verifies the CUDA and TensorRT execution providers: a session really created on each
   (``realtime.runtime.engine.create_session`` refuses a silent CPU fallback) and a frame
   stylized, compared with the CPU provider's output;
2. measures model-only fps (the stylizer, one frame at a time) and end-to-end fps (the real
   ``realtime video`` pipeline on a synthetic clip, hardware encoder when one works) at 720p
   and 1080p, for fp32 and fp16 models of the full and the lite network;
3. runs a 1000-step training probe (``realtime train`` at 256 px, batch 4, the four paintings
   as one multi-style network when ``--shared`` has them, else random pictures) and reports
   seconds per step.

Where ONNX Runtime's CUDA provider is not installed but PyTorch sees a GPU, step 2 measures
the same networks in PyTorch CUDA fp16 instead, and the JSON says so. On a machine without a
GPU it writes ``{"gpu": null, ...}`` with the reason and exits 0. Needs this project installed
with onnxruntime-gpu (CUDA 13, cuDNN 9; TensorRT 10 for the TensorRT provider) and torch.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from realtime.app.bench import RESOLUTIONS, make_clip, synthetic_frames

DEADLINE_SECONDS = 8 * 60
SIZES = ("720p", "1080p")


def gpu_found() -> tuple[str | None, str]:
    """(the GPU's name, how it was found) or (None, why not)."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0), "torch.cuda"
    except ImportError:
        pass
    if shutil.which("nvidia-smi"):
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[0], "nvidia-smi"
    from realtime.runtime.engine import gpu_unavailable_reason

    return None, gpu_unavailable_reason() or "torch sees no CUDA device and nvidia-smi is missing"


def export_networks(tmp: Path) -> dict[str, Path]:
    """fp32 and fp16 ONNX files of the full and the lite network (random weights: speed does
    not depend on them)."""
    import torch

    from export.onnx_export import export_model
    from models.transformer_net import build_network
    from realtime.cli.wiring import parity_session

    files = {}
    for arch in ("full", "lite"):
        torch.manual_seed(0)
        model = build_network(arch).eval()
        for precision in ("fp32", "fp16"):
            path = tmp / f"{arch}-{precision}.onnx"
            export_model(
                model, path, style_name=arch, fp16=precision == "fp16",
                session_factory=parity_session,
            )  # fmt: skip
            files[f"{arch}-{precision}"] = path
    return files


def verify_providers(files: dict[str, Path]) -> dict[str, Any]:
    from realtime.core.config import EngineConfig
    from realtime.runtime.engine import OnnxStylizer

    frame = synthetic_frames(640, 360, 1)[0]
    reference = OnnxStylizer(files["full-fp32"], EngineConfig(device="cpu"), announce=False)
    expected = reference(frame).astype(int)
    report = {}
    for device in ("cuda", "tensorrt"):
        try:
            start = time.perf_counter()
            stylizer = OnnxStylizer(files["full-fp32"], EngineConfig(device=device), announce=False)
            got = stylizer(frame).astype(int)
            report[device] = {
                "ok": True,
                "provider": stylizer.provider,
                "first_frame_seconds": round(time.perf_counter() - start, 2),
                "max_abs_diff_vs_cpu": int(np.abs(got - expected).max()),
            }
        except Exception as exc:  # noqa: BLE001 - a failure here is a result, not a crash
            report[device] = {"ok": False, "error": " ".join(str(exc).split())[:300]}
    return report


def onnx_speed(files: dict[str, Path], device: str, deadline: float) -> list[dict[str, Any]]:
    from realtime.app.build import build_processor, encode_for
    from realtime.core.config import EncodeConfig, EngineConfig, ProcessConfig
    from realtime.media.video_file import stylize_video
    from realtime.runtime.engine import OnnxStylizer

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            width, height = RESOLUTIONS[size]
            frames = synthetic_frames(width, height, 40)
            clip = Path(tmp) / f"{size}.mp4"
            make_clip(clip, frames)
            for name, path in files.items():
                if time.perf_counter() > deadline:
                    return rows
                stylizer = OnnxStylizer(path, EngineConfig(device=device), announce=False)
                for frame in frames[:3]:
                    stylizer(frame)
                start = time.perf_counter()
                for frame in frames:
                    stylizer(frame)
                model_fps = len(frames) / (time.perf_counter() - start)
                result = stylize_video(
                    clip, Path(tmp) / "out.mp4",
                    build_processor(stylizer, ProcessConfig(temporal="off")),
                    lambda w, h: (w, h), encode_for(EncodeConfig(), stylizer), show_progress=False,
                )  # fmt: skip
                rows.append({
                    "network": name, "size": size, "provider": stylizer.provider,
                    "model_only_fps": round(model_fps, 1), "end_to_end_fps": round(result.fps, 1),
                })  # fmt: skip
    return rows


def torch_speed(deadline: float) -> list[dict[str, Any]]:
    """The same networks in PyTorch CUDA fp16, model-only (no ONNX Runtime CUDA here)."""
    import torch

    from models.transformer_net import build_network

    rows = []
    for arch in ("full", "lite"):
        model = build_network(arch).eval().cuda().half()
        for size in SIZES:
            if time.perf_counter() > deadline:
                return rows
            width, height = RESOLUTIONS[size]
            x = torch.rand(1, 3, height, width, device="cuda", dtype=torch.half) * 255
            with torch.inference_mode():
                for _ in range(3):
                    model(x)
                torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(30):
                    model(x)
                torch.cuda.synchronize()
            rows.append({
                "network": f"{arch}-fp16", "size": size, "provider": "torch cuda fp16",
                "model_only_fps": round(30 / (time.perf_counter() - start), 1),
            })  # fmt: skip
    return rows


def training_probe(shared: Path | None, steps: int, deadline: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if shared is not None and (shared / "data/styles").is_dir():
            styles = [shared / "data/styles" / f"{s}.jpg" for s in
                      ("mosaic", "candy", "udnie", "rain-princess")]  # fmt: skip
            dataset = shared / "data/content/train"
            vgg = ["--vgg-weights", str(shared / "weights/vgg16-imagenet-features.pth")]
        else:
            from PIL import Image

            dataset = tmp_path / "photos"
            dataset.mkdir()
            for i, frame in enumerate(synthetic_frames(512, 384, 8, seed=3)):
                Image.fromarray(frame).save(dataset / f"{i}.jpg")
            styles = [dataset / "0.jpg", dataset / "1.jpg"]
            vgg = []  # torchvision's download
        paintings = [a for s in styles for a in ("--style-image", str(s))]
        command = [
            sys.executable, "-m", "realtime", "train", *paintings,
            "--dataset", str(dataset), "--out", str(tmp_path / "probe.pth"), "--steps", str(steps),
            "--image-size", "256", "--batch-size", "4", "--checkpoint-every", "0",
            "--preview-every", "0", "--device", "cuda", "--no-progress", *vgg,
        ]  # fmt: skip
        start = time.perf_counter()
        timeout = max(30.0, deadline - time.perf_counter())
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"did not finish {steps} steps in {timeout:.0f} s"}
        if done.returncode != 0:
            return {"ok": False, "error": done.stderr.strip().splitlines()[-1][:300]}
        card = json.loads((tmp_path / "probe.json").read_text())
        return {
            "ok": True, "steps": steps, "seconds_per_step": card.get("seconds_per_step"),
            "wall_seconds": round(time.perf_counter() - start, 1), "styles": len(styles),
        }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check.json"))
    parser.add_argument("--shared", type=Path, default=None)
    parser.add_argument("--train-steps", type=int, default=1000)
    args = parser.parse_args()
    started = time.perf_counter()
    deadline = started + DEADLINE_SECONDS
    name, how = gpu_found()
    report: dict[str, Any] = {"machine": platform.platform(), "gpu": name}
    if name is None:
        report["reason"] = how
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"gpu_check: no GPU found ({how}); wrote {args.out}")
        return
    report["found_by"] = how
    import onnxruntime as ort

    report["onnxruntime"] = {"version": ort.__version__, "providers": ort.get_available_providers()}
    with tempfile.TemporaryDirectory() as tmp:
        files = export_networks(Path(tmp))
        if "CUDAExecutionProvider" in ort.get_available_providers():
            report["providers"] = verify_providers(files)
            cuda_ok = report["providers"]["cuda"]["ok"]
            # Speed gets half of what is left; the training probe the rest.
            speed_deadline = time.perf_counter() + (deadline - time.perf_counter()) / 2
            report["speed"] = onnx_speed(files, "cuda" if cuda_ok else "cpu", speed_deadline)
        else:
            report["providers"] = {"note": "onnxruntime has no CUDAExecutionProvider here"}
            report["speed_note"] = "measured in PyTorch CUDA fp16: ONNX Runtime's CUDA is missing"
            report["speed"] = torch_speed(time.perf_counter() + 60)
    report["training"] = training_probe(args.shared, args.train_steps, deadline)
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
