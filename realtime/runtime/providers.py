"""The execution providers' options, one function per path, as plain data: what each GPU
session is asked for can be read and tested on any machine.

- CUDA: the memory arena grows by what is asked (not to the next power of two: a style
  network asks for a few large blocks, and doubling would reserve up to twice the need);
  cuDNN's exhaustive algorithm search is kept, and done by the warm-up
  (``OnnxStylizer.warm_up``) where the session is created rather than at the first live
  frame; NHWC convolutions are a measured choice (``GpuTuning``).
- TensorRT: engines are cached under a prefix made of the model's content hash, its
  precision and the graph variant, because ONNX Runtime keys its cache by file and node
  names, which every export shares; an explicit shape profile covering every size the run
  may stylize (up to ``TRT_MAX_SIDE`` on the long side, either way up) makes ONNX Runtime
  build the engine when the session is created instead of at the first frame, and again
  whenever a frame is larger than any before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realtime.core.config import EngineConfig
from realtime.core.errors import UserError
from realtime.core.model_io import STYLE_INPUT_NAME, ModelInfo

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
DEVICE_PROVIDER = {"cuda": CUDA, "tensorrt": TENSORRT}

# The largest long side a TensorRT engine takes (1080p either way up): frames beyond it are
# stylized at this size (realtime.runtime.frames.clamp_size). The profile's memory is
# reserved for its largest shape, so a larger bound costs every run.
TRT_MAX_SIDE = 1920
# The size TensorRT tunes its kernels for, (width, height): a 720p webcam or video.
TRT_OPT_SIZE = (1280, 720)


@dataclass(frozen=True)
class GpuTuning:
    """GPU choices that only a measurement can settle (benchmarks/gpu_check.py measures each).
    The defaults are what reading ONNX Runtime's documentation supports; none is measured."""

    # uint8 NHWC frames in and out, the conversion inside the graph: a quarter of float32
    # NCHW's bytes over PCIe (6 MB instead of 25 MB each way at 1080p).
    frames_io: bool = True
    # fp16 models only: InstanceNorm in float16 without the casts around it (ONNX Runtime's
    # CUDA kernel accumulates in float either way).
    half_norms: bool = False
    # CUDA only: NHWC convolutions (tensor cores), with transposes around the rest.
    prefer_nhwc: bool = False

    @property
    def tag(self) -> str:
        """The graph variant, for the engine cache's name."""
        return ("u8" if self.frames_io else "f32") + ("-hn" if self.half_norms else "")


def tensorrt_cache_dir(config: EngineConfig) -> Path:
    from realtime.core.paths import user_cache_dir

    return (config.cache_dir or user_cache_dir()) / "tensorrt"


def engine_cache_prefix(content_sha256: str, precision: str, tuning: GpuTuning) -> str:
    """The TensorRT engine cache's file prefix: the model's bytes, not its name, decide which
    engine is loaded (a re-export to the same path, or a user style shadowing a bundled one,
    gets its own). ``precision``: the engine's, fp16 or fp32."""
    return f"realtime_{content_sha256[:20]}_{precision}_{tuning.tag}"


def tensorrt_profile(
    info: ModelInfo, frames_io: bool, max_side: int = TRT_MAX_SIDE
) -> dict[str, str]:
    """Explicit min/opt/max shapes for every dynamic input: one frame (batch 1) from the
    network's smallest side up to ``max_side`` square, so any orientation fits."""
    min_side = info.min_side
    if min_side > max_side:
        raise ValueError(f"the network's minimum side {min_side} exceeds {max_side}")
    opt_w, opt_h = (min(max(side, min_side), max_side) for side in TRT_OPT_SIZE)

    def image(height: int, width: int) -> str:
        dims = (1, height, width, 3) if frames_io else (1, 3, height, width)
        return "x".join(str(d) for d in dims)

    styles = f",{STYLE_INPUT_NAME}:1x{len(info.styles)}" if info.styles else ""
    name = info.inputs[0].name
    return {
        "trt_profile_min_shapes": f"{name}:{image(min_side, min_side)}{styles}",
        "trt_profile_opt_shapes": f"{name}:{image(opt_h, opt_w)}{styles}",
        "trt_profile_max_shapes": f"{name}:{image(max_side, max_side)}{styles}",
    }


def cuda_options(tuning: GpuTuning) -> dict[str, Any]:
    return {
        "device_id": 0,
        "arena_extend_strategy": "kSameAsRequested",
        "cudnn_conv_algo_search": "EXHAUSTIVE",
        "do_copy_in_default_stream": True,
        "prefer_nhwc": tuning.prefer_nhwc,
    }


def tensorrt_options(
    cache: Path, prefix: str, fp16: bool, profile: dict[str, str]
) -> dict[str, Any]:
    return {
        "device_id": 0,
        "trt_fp16_enable": fp16,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_engine_cache_prefix": prefix,
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache),
        **profile,
    }


def gpu_provider_list(
    device: str,
    config: EngineConfig,
    info: ModelInfo,
    content_sha256: str,
    *,
    fp16: bool,
    tuning: GpuTuning,
    frames_io: bool,
) -> list[Any]:
    """The providers for ``device`` (cuda or tensorrt), most preferred first. TensorRT keeps
    CUDA after it for the nodes it cannot take (per node, inside one session); the CPU comes
    last for the small shape computations ONNX Runtime keeps on the host."""
    cuda = (CUDA, cuda_options(tuning))
    if device == "cuda":
        return [cuda, CPU]
    cache = tensorrt_cache_dir(config)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the TensorRT engine cache {cache} ({exc.strerror}); "
            "give a writable --cache-dir"
        ) from exc
    precision = "fp16" if fp16 else "fp32"
    prefix = engine_cache_prefix(content_sha256, precision, tuning)
    tensorrt = (TENSORRT, tensorrt_options(cache, prefix, fp16, tensorrt_profile(info, frames_io)))
    return [tensorrt, cuda, CPU]
