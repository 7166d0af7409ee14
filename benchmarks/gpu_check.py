"""The GPU check: one command on a machine with an NVIDIA GPU, at most 8 minutes, one JSON and
one markdown table of everything measured.

    python benchmarks/gpu_check.py --out gpu-check.json      # also writes gpu-check.md

Without a usable GPU it says why in one line and exits 1 before measuring anything (the
CUDA provider's own checks: the build, the driver and its CUDA version, the libraries; no
CPU number is ever taken for a GPU one). Otherwise, for the CUDA and the TensorRT provider,
the shipped networks (``mosaic``, ``mosaic-lite``, and the multi-style ``paintings`` and
``paintings-lite``), each as shipped (fp16 weights) and as fp32 (the same weights upcast):

- session creation, cold (TensorRT: its engine built into an empty temporary cache) and
  warm (the same again, the engine loaded from that cache);
- at 360p, 720p and 1080p: the first frame at that size (cuDNN's algorithm search), the
  model alone on buffers that stay on the GPU (no host copies), and the stylizer frame in,
  frame out (copies, conversions);
- parity at 360p against the CPU provider's output of the same file (its weights in fp32);
- GPU memory in use (NVML, the whole device, less what was in use before the first session);
- end to end: ``realtime video`` on a synthetic clip and ``realtime webcam`` on a file
  played as a camera (no window, every stage on, as a user runs them);
- the graph and option variants of ``GpuTuning`` (float32 NCHW I/O, fp16 InstanceNorm,
  CUDA's NHWC convolutions) on the full network at 1080p.

The work is ordered by importance and every step checks the deadline: what did not fit is
listed in the JSON as not run, never silently missing.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEADLINE_SECONDS = 7.5 * 60  # 8 minutes with room for writing the results
SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
NETWORKS = ("mosaic", "mosaic-lite", "paintings", "paintings-lite")
PROVIDERS = ("cuda", "tensorrt")
# A TensorRT engine for the full network over the whole profile can take minutes to build;
# a cold build is not started with less than this left.
TENSORRT_BUILD_RESERVE = 90.0
MODEL_FRAMES = 30  # timed runs per size
VIDEO_FRAMES = 90  # the clip ``realtime video`` stylizes end to end
CAMERA_FRAMES = 360  # the file played as a 120 fps camera: 3 seconds
# Parity with the CPU provider, in 8-bit levels: fp16 on a GPU against fp32 on the CPU.
PARITY_MEAN_MAX = 2.0
PARITY_P99_MAX = 16.0


@dataclass
class Clock:
    """Seconds left before the deadline; ``now`` is replaceable for tests."""

    seconds: float = DEADLINE_SECONDS
    now: Callable[[], float] = time.perf_counter
    start: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.start = self.now()

    def left(self) -> float:
        return self.seconds - (self.now() - self.start)


@dataclass
class Report:
    """Everything measured, in the order it was measured, plus what was not run and why."""

    machine: dict[str, Any] = field(default_factory=dict)
    configs: list[dict[str, Any]] = field(default_factory=list)
    end_to_end: list[dict[str, Any]] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "configs": self.configs,
            "end_to_end": self.end_to_end,
            "variants": self.variants,
            "not_run": self.not_run,
            "parity_limits": {"mean_abs": PARITY_MEAN_MAX, "p99_abs": PARITY_P99_MAX},
        }


# -- the probe ---------------------------------------------------------------------------------


def probe() -> dict[str, Any]:
    """The machine, and for each provider why it cannot run here (None: it may)."""
    import onnxruntime as ort

    from realtime.runtime import gpu
    from realtime.runtime.engine import CUDA, TENSORRT, gpu_unavailable_reason

    memory = gpu.device_memory()
    version = gpu.driver_cuda_version()
    return {
        "platform": platform.platform(),
        "onnxruntime": ort.__version__,
        "onnxruntime_cuda": gpu.build_cuda_version(),
        "available_providers": ort.get_available_providers(),
        "driver_cuda": f"{version // 1000}.{version % 1000 // 10}" if version else None,
        "gpu_memory_total": memory[1] if memory else None,
        "gpu_name": gpu_name(),
        "cuda_problem": gpu_unavailable_reason(CUDA),
        "tensorrt_problem": gpu_unavailable_reason(TENSORRT),
    }


def gpu_name() -> str | None:
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return None
    done = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout else None


def used_memory() -> int | None:
    from realtime.runtime import gpu

    memory = gpu.device_memory()
    return None if memory is None else memory[1] - memory[0]


# -- the models --------------------------------------------------------------------------------


def model_files(folder: Path) -> dict[tuple[str, str], Path]:
    """(network, precision) -> an ONNX file: the shipped fp16 one, and an fp32 copy made by
    upcasting its weights (realtime.runtime.precision) with its metadata saying fp32."""
    import onnx

    from realtime.core.config import EngineConfig
    from realtime.runtime.precision import upcast_to_fp32
    from realtime.runtime.styles import resolve_style

    files = {}
    for name in NETWORKS:
        shipped = resolve_style(name, EngineConfig()).path
        files[(name, "fp16")] = shipped
        model = onnx.load_from_string(upcast_to_fp32(shipped))
        for prop in model.metadata_props:
            if prop.key == "realtime.precision":
                prop.value = "fp32"
        path = folder / f"{name}-fp32.onnx"
        path.write_bytes(model.SerializeToString())
        files[(name, "fp32")] = path
    return files


# -- measurements ------------------------------------------------------------------------------


def resident_fps(session: Any, feed: dict[str, np.ndarray], device: str, runs: int) -> float:
    """The model alone: its image input and output on ``device`` ("cuda"; "cpu" in tests),
    bound once, no copy between runs; the style input (tiny) from the host."""
    import onnxruntime as ort

    binding = session.io_binding()
    image = session.get_inputs()[0].name
    value = ort.OrtValue.ortvalue_from_numpy(feed[image], device, 0)
    binding.bind_ortvalue_input(image, value)
    for name, array in feed.items():
        if name != image:
            binding.bind_cpu_input(name, array)
    binding.bind_output(session.get_outputs()[0].name, device, 0)
    session.run_with_iobinding(binding)
    start = time.perf_counter()
    for _ in range(runs):
        session.run_with_iobinding(binding)
    return runs / (time.perf_counter() - start)


def parity(got: np.ndarray, expected: np.ndarray) -> dict[str, Any]:
    diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    mean, p99 = float(diff.mean()), float(np.percentile(diff, 99))
    return {
        "max_abs": int(diff.max()),
        "mean_abs": round(mean, 3),
        "p99_abs": round(p99, 1),
        "ok": mean <= PARITY_MEAN_MAX and p99 <= PARITY_P99_MAX,
    }


def frames_for(width: int, height: int, count: int = 4) -> list[np.ndarray]:
    """``count`` frames of a textured pan; the pan goes back and forth, since the texture it
    crosses is only twice the frame's size."""
    from realtime.app.bench import synthetic_frames

    unique = synthetic_frames(width, height, max(1, min(count, height // 3, width // 4)))
    swing = unique + unique[-2:0:-1] if len(unique) > 2 else unique
    return [swing[i % len(swing)] for i in range(count)]


def cpu_reference(path: Path, frame: np.ndarray) -> np.ndarray:
    from realtime.core.config import EngineConfig
    from realtime.runtime.engine import OnnxStylizer

    return OnnxStylizer(path, EngineConfig(device="cpu"), announce=False)(frame)


def measure_sizes(stylizer: Any, device: str, sizes: tuple[str, ...] | None = None) -> dict:
    """Per size (all of ``SIZES`` by default): the first frame (warm-up), the model alone on
    device buffers, frame in and frame out through the stylizer."""
    rows = {}
    for size in sizes or tuple(SIZES):
        width, height = SIZES[size]
        frames = frames_for(width, height)
        warm = stylizer.warm_up(width, height)
        tensor = stylizer.preprocess(frames[0])
        feed = {stylizer.session.get_inputs()[0].name: tensor}
        if stylizer.styles:
            feed["style"] = np.eye(len(stylizer.styles), dtype=np.float32)[:1]
        model_fps = resident_fps(stylizer.session, feed, device, MODEL_FRAMES)
        start = time.perf_counter()
        for index in range(MODEL_FRAMES):
            stylizer(frames[index % len(frames)])
        frame_fps = MODEL_FRAMES / (time.perf_counter() - start)
        rows[size] = {
            "first_frame_s": round(warm, 3),
            "model_only_fps": round(model_fps, 1),
            "frame_in_out_fps": round(frame_fps, 1),
        }
    return rows


def measure_config(
    provider: str, network: str, precision: str, path: Path, cache: Path, device: str = "cuda"
) -> dict[str, Any]:
    """One provider, network and precision: cold and warm creation, sizes, parity, memory."""
    from realtime.core.config import EngineConfig
    from realtime.runtime.engine import OnnxStylizer

    engine = EngineConfig(device=provider, cache_dir=cache)
    baseline = used_memory()
    start = time.perf_counter()
    stylizer = OnnxStylizer(path, engine, announce=False)
    cold = time.perf_counter() - start
    row: dict[str, Any] = {
        "provider": provider, "network": network, "precision": precision,
        "session_cold_s": round(cold, 2), "session_provider": stylizer.provider,
    }  # fmt: skip
    row["sizes"] = measure_sizes(stylizer, device)
    frame = frames_for(*SIZES["360p"], count=1)[0]
    row["parity_360p"] = parity(stylizer(frame), cpu_reference(path, frame))
    used = used_memory()
    row["gpu_memory_mb"] = None if used is None or baseline is None else (used - baseline) >> 20
    del stylizer
    gc.collect()
    start = time.perf_counter()
    OnnxStylizer(path, engine, announce=False)
    row["session_warm_s"] = round(time.perf_counter() - start, 2)
    return row


def measure_video(provider: str, style: Path, size: str, cache: Path, folder: Path) -> dict:
    """``realtime video`` as a user runs it (default settings) on a synthetic clip."""
    from realtime.app.bench import make_clip
    from realtime.app.video import prepare_video, run_video
    from realtime.cli.wiring import TorchWiring
    from realtime.core.config import EngineConfig, RunConfig

    clip = folder / f"clip-{size}.mp4"
    if not clip.exists():
        make_clip(clip, frames_for(*SIZES[size], count=VIDEO_FRAMES))
    engine = EngineConfig(device=provider, cache_dir=cache)
    config = RunConfig(style=str(style), engine=engine, progress=False)
    job = prepare_video(config, clip, folder / f"out-{provider}-{size}.mp4", TorchWiring())
    outcome = run_video(job)
    return {
        "kind": "video", "provider": provider, "network": style.stem, "size": size,
        "fps": round(outcome.result.fps, 1), "workers": job.workers,
        "decode_threads": job.plan.decode_threads, "encoder": job.config.encode.encoder,
    }  # fmt: skip


def measure_webcam(provider: str, style: Path, size: str, cache: Path, folder: Path) -> dict:
    """``realtime webcam`` on a 120 fps file played as the camera (faster than any result,
    so the loop, not the camera, sets the rate), no window, every stage on."""
    from realtime.app.bench import make_clip
    from realtime.app.live import LiveSpec, open_live_session
    from realtime.cli.wiring import TorchWiring
    from realtime.core.config import (
        CameraConfig,
        EngineConfig,
        LiveConfig,
        LiveOutputsConfig,
        RunConfig,
    )

    clip = folder / f"camera-{size}.mp4"
    if not clip.exists():
        make_clip(clip, frames_for(*SIZES[size], count=CAMERA_FRAMES), rate=120)
    spec = LiveSpec(
        run=RunConfig(
            style=str(style), arch="full", engine=EngineConfig(device=provider, cache_dir=cache)
        ),
        camera=CameraConfig(camera=str(clip)),
        outputs=LiveOutputsConfig(window=False),
        live=LiveConfig(log_stats=False),
    )
    session = open_live_session(spec, TorchWiring())
    result = session.run()
    return {
        "kind": "webcam", "provider": provider, "network": style.stem, "size": size,
        "fps": round(result.fps, 1), "latency_p50_ms": round(result.latency_p50_ms, 1),
        "latency_p95_ms": round(result.latency_p95_ms, 1), "dropped": result.dropped,
    }  # fmt: skip


def measure_variant(provider: str, path: Path, tuning: Any, cache: Path, device: str = "cuda"):
    """The full network at 1080p with one ``GpuTuning``: model alone and frame in, out."""
    from realtime.core.config import EngineConfig
    from realtime.runtime.engine import OnnxStylizer

    start = time.perf_counter()
    stylizer = OnnxStylizer(
        path, EngineConfig(device=provider, cache_dir=cache), announce=False, tuning=tuning
    )
    created = time.perf_counter() - start
    sizes = measure_sizes(stylizer, device, ("1080p",))
    return {"provider": provider, "tuning": tuning.__dict__, "session_s": round(created, 2),
            "sizes": sizes}  # fmt: skip


# -- the plan ----------------------------------------------------------------------------------


def plan(problems: dict[str, str | None]) -> Iterator[tuple[str, str, tuple]]:
    """(kind, label, arguments) in order of importance: the shipped default on both providers
    first, the end-to-end runs as soon as that works, fp32 and the rest after."""
    providers = [p for p in PROVIDERS if problems.get(p) is None]
    order = [("mosaic", "fp16"), ("mosaic-lite", "fp16"), ("paintings", "fp16"),
             ("mosaic", "fp32"), ("mosaic-lite", "fp32"), ("paintings", "fp32"),
             ("paintings-lite", "fp16"), ("paintings-lite", "fp32")]  # fmt: skip
    for network, precision in order[:2]:
        for provider in providers:
            yield "config", f"{provider} {network} {precision}", (provider, network, precision)
    for provider in providers:
        yield "video", f"video {provider} mosaic 720p", (provider, "mosaic", "720p")
        yield "webcam", f"webcam {provider} mosaic 720p", (provider, "mosaic", "720p")
    for network, precision in order[2:]:
        for provider in providers:
            yield "config", f"{provider} {network} {precision}", (provider, network, precision)
    later = [
        ("video", "mosaic", "1080p"),
        ("webcam", "mosaic-lite", "720p"),
        ("video", "mosaic-lite", "1080p"),
        ("webcam", "mosaic", "1080p"),
    ]
    for provider in providers:
        for kind, network, size in later:
            yield kind, f"{kind} {provider} {network} {size}", (provider, network, size)
    if "cuda" in providers:
        for tuning in ({"frames_io": False}, {"half_norms": True}, {"prefer_nhwc": True}):
            yield "variant", f"variant cuda mosaic fp16 {tuning}", ("cuda", tuning)
    if "tensorrt" in providers:
        yield "variant", "variant tensorrt mosaic fp16 {'half_norms': True}", (
            "tensorrt", {"half_norms": True})  # fmt: skip


def run_plan(report: Report, clock: Clock, files: dict, folder: Path, steps: Any) -> None:
    """Each step of ``plan`` that fits before the deadline; a failure is a result."""
    from realtime.runtime.providers import GpuTuning

    for kind, label, args in plan(report.machine["problems"]):
        reserve = TENSORRT_BUILD_RESERVE if args[0] == "tensorrt" else 20.0
        if clock.left() < reserve:
            report.not_run.append(f"{label}: deadline")
            continue
        # End-to-end runs load the engines their network's fp16 step built (same content,
        # same prefix); variants build their own.
        cache = folder / f"cold-{args[0]}-{args[1]}-fp16"
        try:
            if kind == "config":
                provider, network, precision = args
                row = steps.config(provider, network, precision, files[(network, precision)],
                                   folder / f"cold-{provider}-{network}-{precision}")  # fmt: skip
                report.configs.append(row)
            elif kind in ("video", "webcam"):
                provider, network, size = args
                measure = steps.video if kind == "video" else steps.webcam
                report.end_to_end.append(
                    measure(provider, files[(network, "fp16")], size, cache, folder)
                )
            else:
                provider, tuning = args
                variant = GpuTuning(**tuning)
                cache = folder / f"variant-{provider}-{variant.tag}"
                report.variants.append(
                    steps.variant(provider, files[("mosaic", "fp16")], variant, cache)
                )
        except Exception as exc:  # noqa: BLE001 - a failure here is a result, not a crash
            failed = {"step": label, "error": " ".join(str(exc).split())[:300]}
            if kind == "config":
                report.configs.append(failed)
            elif kind == "variant":
                report.variants.append(failed)
            else:
                report.end_to_end.append(failed)


@dataclass
class Steps:
    """The measurements, replaceable as one (the tests run the plan with fakes)."""

    config: Callable[..., dict] = measure_config
    video: Callable[..., dict] = measure_video
    webcam: Callable[..., dict] = measure_webcam
    variant: Callable[..., dict] = measure_variant


# -- the outputs -------------------------------------------------------------------------------


def markdown(report: Report) -> str:
    """The table for docs/BENCHMARKS.md: one row per provider, network, precision and size."""
    machine = report.machine
    lines = [
        f"GPU: {machine.get('gpu_name')}; ONNX Runtime {machine.get('onnxruntime')} "
        f"(CUDA {machine.get('onnxruntime_cuda')}); driver runs CUDA {machine.get('driver_cuda')}",
        "",
        "| provider | network | precision | size | session cold s | warm s | first frame s "
        "| model-only fps | frame in/out fps | parity mean / p99 | GPU MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report.configs:
        if "error" in row:
            lines.append(f"| {row['step']} | failed: {row['error']} |||||||||||")
            continue
        check = row["parity_360p"]
        agree = f"{check['mean_abs']} / {check['p99_abs']}" + ("" if check["ok"] else " (off)")
        for size, cell in row["sizes"].items():
            lines.append(
                f"| {row['provider']} | {row['network']} | {row['precision']} | {size} "
                f"| {row['session_cold_s']} | {row['session_warm_s']} | {cell['first_frame_s']} "
                f"| {cell['model_only_fps']} | {cell['frame_in_out_fps']} | {agree} "
                f"| {row['gpu_memory_mb']} |"
            )
    lines += ["", "| run | provider | network | size | fps |", "|---|---|---|---|---|"]
    for row in report.end_to_end:
        if "error" in row:
            lines.append(f"| {row['step']} | failed: {row['error']} ||||")
        else:
            lines.append(f"| {row['kind']} | {row['provider']} | {row['network']} "
                         f"| {row['size']} | {row['fps']} |")  # fmt: skip
    if report.not_run:
        lines += ["", "Not run (deadline): " + "; ".join(report.not_run)]
    return "\n".join(lines) + "\n"


def write(report: Report, out: Path) -> None:
    out.write_text(json.dumps(report.as_json(), indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(report))


def main(argv: list[str] | None = None, steps: Steps | None = None, clock: Clock | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check.json"))
    args = parser.parse_args(argv)
    clock = clock or Clock()
    machine = probe()
    machine["problems"] = {"cuda": machine["cuda_problem"], "tensorrt": machine["tensorrt_problem"]}
    report = Report(machine=machine)
    if machine["cuda_problem"] is not None:
        write(report, args.out)
        print(f"gpu_check: no usable GPU: {machine['cuda_problem']}; nothing measured "
              f"(wrote {args.out})", file=sys.stderr)  # fmt: skip
        return 1
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        folder = Path(tmp)
        run_plan(report, clock, model_files(folder), folder, steps or Steps())
    report.machine["seconds"] = round(clock.seconds - clock.left(), 1)
    write(report, args.out)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
