"""ONNX Runtime: the one session factory, and the stylizer that runs a style network on frames.

Provider policy (``EngineConfig.device``):

- ``cpu``: CPUExecutionProvider with ``threads`` intra-op threads (default: one per core),
  one inter-op thread, sequential execution, all graph optimisations.
- ``cuda``: CUDAExecutionProvider. ``tensorrt``: TensorrtExecutionProvider, with CUDA after it
  for the nodes TensorRT cannot take (that fallback is per node, inside one session; the
  session must still list TensorRT first). fp16 mode is on for fp16 models or when asked.
  TensorRT builds an engine for the first input size it sees and another for each new size;
  engines and timing caches live in ``<cache_dir>/tensorrt`` (default: the user cache
  directory), so only the first run for a given model and frame size pays for the build.
- GPU sessions run through an IO binding with the output bound to host memory: postprocessing
  is numpy, so nothing needs to stay on the device.
- ``auto``: CUDA when this onnxruntime build has it, an NVIDIA driver is present and the session
  really gets it; otherwise CPU, with a line on stderr saying why CUDA was not used.

ONNX Runtime falls back to CPU silently when a GPU provider fails to initialise, so after every
session is created its provider list is checked: an explicit ``cuda``/``tensorrt`` request that
did not get its provider raises ProviderError instead of running slowly on CPU.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from realtime.core.config import DEVICES, EngineConfig
from realtime.core.errors import ProviderError, UserError, first_line
from realtime.core.memory import check_fits, network_bytes
from realtime.core.model_io import (
    ARCH,
    STYLE_INPUT_NAME,
    ModelInfo,
    check_style_network,
    read_model_info,
)

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

_DEVICE_PROVIDER = {"cuda": CUDA, "tensorrt": TENSORRT}


def _notice(message: str) -> None:
    log.info("%s", message)


def _driver_problem() -> str | None:
    """Why the NVIDIA driver cannot be used here, or None if its library loads."""
    if sys.platform == "darwin":
        return "CUDA does not exist on macOS"
    library = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(library)
    except OSError:
        return f"no NVIDIA driver found ({library} cannot be loaded)"
    return None


def _gpu_unavailable_reason(ort: Any, provider: str) -> str | None:
    """Why ``provider`` certainly cannot work, checked before asking ONNX Runtime (whose own
    failure is a page of log lines and a silent CPU fallback)."""
    if provider not in ort.get_available_providers():
        return f"this onnxruntime build has no {provider} (install onnxruntime-gpu)"
    return _driver_problem()


def gpu_unavailable_reason() -> str | None:
    """Why ``--device auto`` will certainly run on the CPU here, or None if CUDA may work."""
    import onnxruntime as ort

    return _gpu_unavailable_reason(ort, CUDA)


@functools.cache
def _preload_cuda_libraries() -> None:
    """Let ONNX Runtime find CUDA/cuDNN from the nvidia-* pip wheels (or torch's copies).

    Only called on the GPU paths. A failure is reported, not fatal: the libraries may still be
    found on the system library path, and the provider check after session creation decides.
    """
    import onnxruntime as ort

    if not hasattr(ort, "preload_dlls"):  # older onnxruntime: libraries must be on the path
        return
    try:
        ort.preload_dlls()
    except Exception as exc:  # noqa: BLE001 - any failure here just means "not preloaded"
        _notice(f"could not preload CUDA libraries from Python packages ({exc})")


def _threads(config: EngineConfig) -> int:
    if config.threads is None:
        return os.cpu_count() or 1
    if config.threads < 1:
        raise UserError(f"--threads must be at least 1, got {config.threads}")
    return config.threads


def _session_options(ort: Any, threads: int) -> Any:
    options = ort.SessionOptions()
    # One frame at a time through a chain of convolutions: parallelism is inside each operator
    # (intra-op), there is nothing to run side by side (inter-op), so sequential mode.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def tensorrt_cache_dir(config: EngineConfig) -> Path:
    from realtime.core.paths import user_cache_dir

    return (config.cache_dir or user_cache_dir()) / "tensorrt"


def _provider_list(device: str, config: EngineConfig, fp16: bool) -> list[Any]:
    if device == "cpu":
        return [CPU]
    cuda = (CUDA, {"device_id": 0})
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
    tensorrt = (
        TENSORRT,
        {
            "device_id": 0,
            "trt_fp16_enable": fp16,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(cache),
        },
    )
    return [tensorrt, cuda, CPU]


def _new_session(
    ort: Any, model_path: Path, device: str, config: EngineConfig, fp16: bool, cpu_upcast: bool
) -> Any:
    source: str | bytes = str(model_path)
    if device == "cpu" and cpu_upcast:
        from realtime.runtime.precision import upcast_to_fp32

        source = upcast_to_fp32(model_path)
    try:
        return ort.InferenceSession(
            source,
            sess_options=_session_options(ort, _threads(config)),
            providers=_provider_list(device, config, fp16),
        )
    except UserError:
        raise
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        summary = first_line(exc)
        if device != "cpu":
            raise ProviderError(
                f"--device {device}: ONNX Runtime failed to create the session ({summary}); "
                "fix that or use --device cpu"
            ) from exc
        raise UserError(
            f"ONNX Runtime cannot load {model_path}: {summary}; re-export it with 'realtime export'"
        ) from exc


def _gpu_session(
    ort: Any, model_path: Path, device: str, config: EngineConfig, fp16: bool, cpu_upcast: bool
) -> Any:
    """A session for ``cuda``/``tensorrt`` that really runs there, or ProviderError."""
    provider = _DEVICE_PROVIDER[device]
    reason = _gpu_unavailable_reason(ort, provider)
    if reason is None:
        _preload_cuda_libraries()
        session = _new_session(ort, model_path, device, config, fp16, cpu_upcast)
        if session.get_providers()[0] == provider:
            return session
        cuda_version = _built_cuda_version(ort)
        reason = (
            f"ONNX Runtime could not initialise {provider} (its log above says why; this build "
            f"needs CUDA {cuda_version} and cuDNN 9"
            + (" and TensorRT 10" if provider == TENSORRT else "")
            + ")"
        )
    raise ProviderError(f"--device {device}: {reason}; fix that or use --device cpu")


def _built_cuda_version(ort: Any) -> str:
    try:
        from onnxruntime.capi import build_and_package_info

        return str(build_and_package_info.cuda_version)
    except (ImportError, AttributeError):
        return "12 or 13"


def create_session(
    model_path: Path,
    config: EngineConfig,
    *,
    fp16: bool = False,
    cpu_upcast: bool = False,
    announce: bool = True,
) -> tuple[Any, str]:
    """Create an ONNX Runtime session for ``model_path`` as ``config`` asks.

    Returns ``(session, provider)`` where ``provider`` is the execution provider the session
    really got (its first one). ``fp16`` enables TensorRT's fp16 mode (set it for fp16 models
    or to trade precision for speed). ``cpu_upcast`` runs a model stored with float16 weights
    as float32 when the session is on the CPU (``realtime.runtime.precision`` says why).
    ``announce`` logs the provider the session got, and for ``auto`` why CUDA was not used, as
    notices (the CLI shows them on stderr).
    Raises ProviderError when an explicitly requested GPU provider is not available, and
    UserError for an unknown device or a model ONNX Runtime cannot load.
    """
    import onnxruntime as ort

    if config.device not in DEVICES:
        raise UserError(f"unknown device {config.device!r}; use one of {', '.join(DEVICES)}")
    model_path = Path(model_path)
    if config.device in _DEVICE_PROVIDER:
        session = _gpu_session(ort, model_path, config.device, config, fp16, cpu_upcast)
    elif config.device == "auto":
        session = None
        reason = _gpu_unavailable_reason(ort, CUDA)
        if reason is None:
            _preload_cuda_libraries()
            try:
                session = _new_session(ort, model_path, "cuda", config, fp16, cpu_upcast)
            except ProviderError as exc:
                reason = (
                    f"ONNX Runtime failed to create a CUDA session ({first_line(exc.__cause__)})"
                )
            if session is not None and session.get_providers()[0] != CUDA:
                session = None
                reason = "ONNX Runtime could not initialise it (see its log above)"
        if session is None:
            if announce:
                _notice(f"CUDA not used: {reason}; running on CPU")
            session = _new_session(ort, model_path, "cpu", config, fp16, cpu_upcast)
    else:
        session = _new_session(ort, model_path, "cpu", config, fp16, cpu_upcast)
    provider = session.get_providers()[0]
    if announce:
        detail = f", {_threads(config)} threads" if provider == CPU else ""
        _notice(f"ONNX Runtime {ort.__version__} on {provider}{detail}")
    return session, provider


class OnnxStylizer:
    """A style network on ONNX Runtime: uint8 RGB frame (H, W, 3) in, same-size frame out.

    The stages are separate so a benchmark can time them: ``preprocess`` (frame -> NCHW
    float32), ``infer`` (the session run), ``postprocess`` (NCHW float32 -> frame); calling the
    stylizer does all three.

    Threads: on the CPU provider it may be called from several threads at once (ONNX Runtime
    sessions run concurrently; ``stateless``): small networks use a CPU's cores better as
    several single-threaded runs on different frames than as one run on several threads
    (docs/BENCHMARKS.md). The GPU paths reuse one IO binding: one thread at a time there.
    """

    def __init__(
        self,
        model_path: Path,
        config: EngineConfig,
        style_name: str | None = None,
        *,
        trt_fp16: bool = False,
        announce: bool = True,
    ) -> None:
        """Load and check ``model_path``, then create its session as ``config`` asks.

        ``trt_fp16`` enables TensorRT's fp16 mode for an fp32 model (fp16 models always get
        it); ``announce`` prints the provider and notices on stderr.
        """
        self.model_path = Path(model_path)
        self.info: ModelInfo = read_model_info(self.model_path)
        for notice in check_style_network(self.info, str(self.model_path)):
            _notice(notice)
        self.session, self.provider = create_session(
            self.model_path,
            config,
            fp16=trt_fp16 or self.info.precision == "fp16",
            cpu_upcast=self.info.precision == "fp16",
            announce=announce,
        )
        self.style_name = style_name or self.info.style or self.model_path.stem
        self.min_side = self.info.min_side
        self._input_name = self.info.inputs[0].name
        self._output_name = self.info.outputs[0].name
        # A multi-style network: the mix it paints, (styles,) weights; its first style alone
        # until set_mix says otherwise. Read at each call, so a mix can move frame by frame.
        self.styles = self.info.styles
        self._mix = np.eye(len(self.styles), dtype=np.float32)[0] if self.styles else None
        # GPU providers: bind the host input and a host output explicitly, so ONNX Runtime copies
        # each way once and no output is left on the device (postprocess runs in numpy).
        self._binding = self.session.io_binding() if self.provider != CPU else None
        # Several frames may be in flight at once (one per thread) on the CPU provider only.
        self.stateless = self._binding is None

    @property
    def mix(self) -> dict[str, float]:
        """The styles a multi-style network paints now, with their weights ({} if single)."""
        if self._mix is None:
            return {}
        return {n: float(w) for n, w in zip(self.styles, self._mix, strict=True) if w > 0}

    def set_mix(self, weights: dict[str, float]) -> None:
        """Paint this mix of the network's styles (weights of 0 or more, summing to 1)."""
        if self._mix is None:
            raise UserError(f"{self.style_name} paints one style; it cannot mix styles")
        unknown = sorted(set(weights) - set(self.styles))
        if unknown:
            raise UserError(
                f"{self.style_name} has no style {', '.join(unknown)}; it mixes "
                f"{', '.join(self.styles)}"
            )
        mix = np.array([weights.get(name, 0.0) for name in self.styles], np.float32)
        if (mix < 0).any() or not 0.999 <= float(mix.sum()) <= 1.001:
            raise UserError(f"style weights must be 0 or more and sum to 1, got {weights}")
        self._mix = mix

    def check_memory(self, width: int, height: int, frames: int = 1) -> None:
        """Refuse, before any work, a frame size whose activations would not fit in memory
        (``frames`` at once)."""
        arch = self.info.arch or ARCH
        check_fits(
            network_bytes(arch, width, height, frames),
            width,
            height,
            f"the style network ({arch})",
            "stylize smaller with --size",
        )

    def check_frame(self, frame: np.ndarray) -> None:
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3:
            got = (
                f"{frame.dtype} array of shape {frame.shape}"
                if isinstance(frame, np.ndarray)
                else type(frame).__name__
            )
            raise UserError(f"a frame must be a uint8 (H, W, 3) RGB array, got a {got}")
        height, width, channels = frame.shape
        if channels != 3:
            raise UserError(f"a frame must have 3 channels (RGB), got {channels}")
        if min(height, width) < self.min_side:
            raise UserError(
                f"frame {width}x{height} is smaller than the style network's minimum side "
                f"{self.min_side}; use a larger input or --size"
            )

    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) RGB -> the model's input: float32 (1, 3, H, W) in [0, 255], or the
        frame itself as (1, H, W, 3) for a model that converts frames in its graph."""
        self.check_frame(frame)
        if self.info.frames_in_graph:
            return np.ascontiguousarray(frame)[np.newaxis]
        return np.ascontiguousarray(frame.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """The model's input -> its output (a batch: float32 NCHW or uint8 NHWC)."""
        feed = {self._input_name: tensor}
        if self._mix is not None:
            feed[STYLE_INPUT_NAME] = np.repeat(self._mix[None], tensor.shape[0], axis=0)
        if self._binding is None:
            return self.session.run([self._output_name], feed)[0]
        for name, value in feed.items():
            self._binding.bind_cpu_input(name, value)
        self._binding.bind_output(self._output_name, "cpu")
        self.session.run_with_iobinding(self._binding)
        return self._binding.copy_outputs_to_cpu()[0]

    def postprocess(self, tensor: np.ndarray) -> np.ndarray:
        """The model's output -> uint8 (H, W, 3) RGB: float32 (1, 3, H, W) rounded to
        nearest, or a model's own uint8 (1, H, W, 3) frame as it is."""
        if self.info.frames_in_graph:
            return tensor[0]
        if tensor.ndim != 4 or tensor.shape[0] != 1 or tensor.shape[1] != 3:
            raise ValueError(f"expected a (1, 3, H, W) tensor, got shape {tensor.shape}")
        # Two OpenCV passes instead of numpy's three (transpose-clip, +0.5, cast): about a
        # third of the time (docs/BENCHMARKS.md, "CPU engine work"). The graph clips already;
        # clipping negatives again keeps models exported by other tools (without the in-graph
        # clip) from being mirrored by convertScaleAbs's absolute value, which then rounds to
        # nearest (ties to even) and saturates at 255.
        merged = cv2.merge([tensor[0, 0], tensor[0, 1], tensor[0, 2]])
        return cv2.convertScaleAbs(cv2.max(merged, 0.0, dst=merged))

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.postprocess(self.infer(self.preprocess(frame)))
