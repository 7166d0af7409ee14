"""``realtime bench``: where the time goes, per stage and end to end, against a baseline.

For each engine (``engine_variants``: with ``--device auto``, every engine and precision this
machine has, side by side; otherwise the one asked for) and each resolution it makes a
synthetic H.264 clip (textured, moving: encoders and decoders do real work on it), then
measures

- decode, preprocess, inference, postprocess and encode, each alone, in ms per frame;
- the stylizer alone (preprocess + inference + postprocess) in fps;
- the real ``realtime video`` pipeline end to end on that clip, in fps;
- a PyTorch eager TransformerNet stylizing frame by frame as the PyTorch examples do
  (tensor conversion, forward pass, clamp, back to uint8), in fps.

The baseline is torch-side code (``models.eager``); the command line passes it in as a
callable, frames in, fps out, so this module never imports torch.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import importlib.metadata
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from realtime.app.build import (
    apply_plan,
    build_processor,
    encode_for,
    open_stylizer,
    settle_plan,
    throughput_plan,
)
from realtime.core.config import EncodeConfig, EngineConfig, RunConfig
from realtime.core.errors import UserError
from realtime.core.extras import missing_message, missing_module
from realtime.media.video_file import stylize_video
from realtime.media.video_sink import VideoFileSink
from realtime.media.video_source import VideoFileSource

if TYPE_CHECKING:
    from realtime.runtime.engine import OnnxStylizer

# Frames in, frames per second of the same network in PyTorch eager out (None: unavailable).
Baseline = Callable[[list[np.ndarray]], float | None]

RESOLUTIONS = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}


@dataclass
class BenchRow:
    engine: str  # the provider the session got: "CPUExecutionProvider", "OpenVINO CPU (bf16)"
    resolution: str
    frames: int
    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    encode_ms: float
    stylizer_fps: float
    parallel_fps: float  # the network on several frames at once (the video pipeline's plan)
    end_to_end_fps: float
    baseline_fps: float | None

    @property
    def end_to_end_ratio(self) -> float:
        return self.end_to_end_fps / self.stylizer_fps if self.stylizer_fps else 0.0

    @property
    def speedup(self) -> float | None:
        """The stylizer against PyTorch eager, model-only against model-only."""
        return self.stylizer_fps / self.baseline_fps if self.baseline_fps else None


def synthetic_frames(width: int, height: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """Textured frames panning diagonally: structure at many scales, like real footage."""
    import cv2

    rng = np.random.default_rng(seed)
    base = np.zeros((height * 2, width * 2, 3), np.float32)
    for sigma in (1, 4, 16, 64):
        noise = rng.standard_normal(base.shape).astype(np.float32)
        base += cv2.GaussianBlur(noise, (0, 0), sigma) * sigma**0.5
    base = cv2.normalize(base, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return [
        np.ascontiguousarray(base[i * 3 : i * 3 + height, i * 4 : i * 4 + width])
        for i in range(count)
    ]


def _median_ms(samples: list[float]) -> float:
    return 1000.0 * statistics.median(samples) if samples else float("nan")


def make_clip(path: Path, frames: list[np.ndarray], rate: int = 30) -> None:
    height, width = frames[0].shape[:2]
    sink = VideoFileSink(
        path, width, height, Fraction(rate), Fraction(1, rate), EncodeConfig(), None
    )
    for index, frame in enumerate(frames):
        sink.write(frame, index)
    sink.close()


def _parallel_fps(stylizer: OnnxStylizer, frames: list[np.ndarray], workers: int) -> float:
    """Frames per second of the network alone on ``workers`` frames at once."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(stylizer, frames[:workers]))  # warm-up, one per thread
        start = time.perf_counter()
        list(pool.map(stylizer, frames))
    return len(frames) / (time.perf_counter() - start)


def bench_resolution(
    name: str,
    frame_count: int,
    config: RunConfig,
    stylizer: OnnxStylizer,
    baseline: Baseline | None,
    workdir: Path,
) -> BenchRow:
    """One resolution: the stages alone with ``stylizer`` (the command's engine settings),
    then the network and the whole pipeline as ``realtime video`` runs them (its thread plan,
    temporal stage off: its cost is in docs/TEMPORAL.md)."""
    width, height = RESOLUTIONS[name]
    clip = workdir / f"bench-{name}.mp4"
    make_clip(clip, synthetic_frames(width, height, frame_count))
    decoded, decode_s = _decode(clip)
    images, pre, infer, post = _stages(stylizer, decoded)
    per_frame = statistics.median(pre) + statistics.median(infer) + statistics.median(post)
    encode_s = _encode(workdir / f"encode-{name}.mp4", images, encode_for(config.encode, stylizer))
    parallel_fps, end_to_end_fps = _as_video_runs(
        clip, workdir / f"e2e-{name}.mp4", decoded, config, stylizer
    )
    baseline_fps = baseline(decoded[: max(3, frame_count // 2)]) if baseline else None
    return BenchRow(
        engine=stylizer.provider,
        resolution=name,
        frames=frame_count,
        decode_ms=1000 * decode_s,
        preprocess_ms=_median_ms(pre),
        inference_ms=_median_ms(infer),
        postprocess_ms=_median_ms(post),
        encode_ms=1000 * encode_s,
        stylizer_fps=1.0 / per_frame,
        parallel_fps=parallel_fps,
        end_to_end_fps=end_to_end_fps,
        baseline_fps=baseline_fps,
    )


def _decode(clip: Path) -> tuple[list[np.ndarray], float]:
    """Every frame of ``clip``, and the seconds per frame it took to decode."""
    with VideoFileSource(clip) as source:
        start = time.perf_counter()
        decoded = [frame.image for frame in source.frames()]
        return decoded, (time.perf_counter() - start) / max(1, len(decoded))


def _stages(
    stylizer: OnnxStylizer, decoded: list[np.ndarray]
) -> tuple[list[np.ndarray], list[float], list[float], list[float]]:
    """The stylized frames and each frame's pre-, inference and post-processing seconds."""
    stylizer(decoded[0])  # warm-up: the first run at a new size allocates and plans
    # Frame by frame, each stage timed, as the engine runs them: holding every frame's tensor
    # first would measure memory traffic (0.7 GB of float32 tensors at 720p), not the stages.
    images, pre, infer, post = [], [], [], []
    for frame in decoded:
        start = time.perf_counter()
        tensor = stylizer.preprocess(frame)
        inferred = time.perf_counter()
        output = stylizer.infer(tensor)
        done = time.perf_counter()
        images.append(stylizer.postprocess(output))
        pre.append(inferred - start)
        infer.append(done - inferred)
        post.append(time.perf_counter() - done)
    return images, pre, infer, post


def _encode(path: Path, images: list[np.ndarray], encode: EncodeConfig) -> float:
    """Seconds per frame to encode ``images`` as ``realtime video`` would."""
    height, width = images[0].shape[:2]
    sink = VideoFileSink(path, width, height, Fraction(30), Fraction(1, 30), encode, None)
    start = time.perf_counter()
    for index, image in enumerate(images):
        sink.write(image, index)
    sink.close()
    return (time.perf_counter() - start) / len(images)


def _as_video_runs(
    clip: Path,
    output: Path,
    decoded: list[np.ndarray],
    config: RunConfig,
    stylizer: OnnxStylizer,
) -> tuple[float, float]:
    """(the network's fps on frames at once, the end-to-end fps) with ``video``'s plan."""
    plan = throughput_plan(config)
    pipeline, _ = open_stylizer(
        str(stylizer.model_path), apply_plan(config, plan).engine, announce=False
    )
    plan = settle_plan(plan, config, pipeline)
    planned = apply_plan(config, plan)
    planned = dataclasses.replace(planned, encode=encode_for(planned.encode, pipeline))
    workers = plan.inference_workers
    parallel_fps = _parallel_fps(pipeline, decoded, workers)
    process = dataclasses.replace(config.process, temporal="off")
    result = stylize_video(
        clip,
        output,
        build_processor(pipeline, process, workers=workers),
        lambda w, h: (w, h),
        planned.encode,
        queue_size=config.queue_size,
        show_progress=False,
        decode_threads=plan.decode_threads,
        workers=workers,
    )
    return parallel_fps, result.fps


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}"


def versions() -> str:
    import av
    import onnxruntime

    parts = [f"onnxruntime {onnxruntime.__version__}", f"PyAV {av.__version__}"]
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        parts.insert(1, f"openvino {importlib.metadata.version('openvino')}")
    # From the installed metadata, not an import: torch takes seconds to import, and the
    # runtime install has none.
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        parts.append(f"torch {importlib.metadata.version('torch')}")
    return ", ".join(parts)


def eager_unavailable() -> str | None:
    """Why the PyTorch eager column cannot be measured in this install (one line), or None
    when it can: it runs the network in torch, which the runtime install leaves out."""
    missing = missing_module("torch")
    return None if missing is None else missing_message("the PyTorch eager column", missing)


def format_table(rows: list[BenchRow]) -> str:
    header = (
        "| engine | resolution | frames | decode ms | pre ms | inference ms | post ms "
        "| encode ms | model-only fps | PyTorch eager fps | model-only / eager "
        "| frames at once fps | end-to-end fps | e2e / model-only |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        eager = f"{r.baseline_fps:.2f}" if r.baseline_fps else "n/a"
        speedup = f"{r.speedup:.2f}x" if r.speedup else "n/a"
        lines.append(
            f"| {r.engine} | {r.resolution} | {r.frames} | {r.decode_ms:.1f} "
            f"| {r.preprocess_ms:.1f} | {r.inference_ms:.1f} | {r.postprocess_ms:.1f} "
            f"| {r.encode_ms:.1f} | {r.stylizer_fps:.2f} | {eager} | {speedup} "
            f"| {r.parallel_fps:.2f} | {r.end_to_end_fps:.2f} "
            f"| {100 * r.end_to_end_ratio:.0f}% |"
        )
    return header + "\n".join(lines) + "\n"


def rows_as_dicts(rows: list[BenchRow]) -> list[dict[str, object]]:
    """The rows for ``bench --json``: every field, and the two ratios."""
    return [
        {**dataclasses.asdict(r), "end_to_end_ratio": r.end_to_end_ratio, "speedup": r.speedup}
        for r in rows
    ]


def engine_variants(engine: EngineConfig) -> list[EngineConfig]:
    """The engines ``bench`` compares: with ``--device auto``, each one this machine can run
    (CUDA where an NVIDIA GPU works, OpenVINO in fp32 and, where the CPU has it, bf16, and
    ONNX Runtime's CPU provider), so one run shows them side by side; otherwise the one
    asked for."""
    from realtime.runtime import openvino_engine
    from realtime.runtime.engine import gpu_unavailable_reason

    if engine.device != "auto":
        return [engine]
    variants = []
    if gpu_unavailable_reason() is None:
        variants.append(dataclasses.replace(engine, device="cuda"))
    if openvino_engine.installed():
        precisions = ["fp32", "bf16"] if openvino_engine.has_native_bf16() else ["fp32"]
        if engine.precision != "auto":
            precisions = [engine.precision]
        for precision in precisions:
            variants.append(dataclasses.replace(engine, device="openvino", precision=precision))
    variants.append(dataclasses.replace(engine, device="cpu", precision="auto"))
    return variants


def run_bench(
    config: RunConfig,
    stylizers: list[OnnxStylizer],
    resolutions: list[str],
    frames: int,
    baseline: Baseline | None,
    log: Callable[[str], None],
) -> list[BenchRow]:
    """Rows for each of ``stylizers`` (one per engine, ``engine_variants``) at each of
    ``resolutions``; the PyTorch eager baseline is measured once per resolution."""
    unknown = [r for r in resolutions if r not in RESOLUTIONS]
    if unknown:
        raise UserError(
            f"unknown resolution {', '.join(unknown)}; choose from {', '.join(RESOLUTIONS)}"
        )
    if frames < 3:
        raise UserError("--frames must be at least 3")
    why = eager_unavailable() if baseline is None else None
    if why:
        log(f"bench: {why}")
    rows: list[BenchRow] = []
    eager: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="realtime-bench-") as tmp:
        for stylizer in stylizers:
            # Each engine's own video pipeline: the plan follows its session (settle_plan).
            engine = _engine_config(config.engine, stylizer)
            run = dataclasses.replace(config, engine=engine)
            for name in resolutions:
                log(f"bench: {stylizer.provider}, {name} ({frames} frames) ...")
                once = _once(eager, name, baseline)
                row = bench_resolution(name, frames, run, stylizer, once, Path(tmp))
                log(
                    f"bench: {stylizer.provider}, {name}: stylizer {row.stylizer_fps:.2f} fps, "
                    f"end-to-end {row.end_to_end_fps:.2f} fps"
                    + (f", PyTorch eager {row.baseline_fps:.2f} fps" if row.baseline_fps else "")
                )
                rows.append(row)
    return rows


def _engine_config(asked: EngineConfig, stylizer: OnnxStylizer) -> EngineConfig:
    """The engine settings that open ``stylizer``'s engine again, for the video pipeline."""
    from realtime.runtime.engine import CUDA, TENSORRT

    if stylizer.engine == "openvino":
        return dataclasses.replace(asked, device="openvino", precision=stylizer.precision)
    device = {CUDA: "cuda", TENSORRT: "tensorrt"}.get(stylizer.provider, "cpu")
    return dataclasses.replace(asked, device=device, precision="auto")


def _once(cache: dict[str, float | None], name: str, baseline: Baseline | None) -> Baseline | None:
    """``baseline`` measured at the first engine of a resolution, reused for the others."""
    if baseline is None:
        return None

    def measured(frames: list[np.ndarray]) -> float | None:
        if name not in cache:
            cache[name] = baseline(frames)
        return cache[name]

    return measured
