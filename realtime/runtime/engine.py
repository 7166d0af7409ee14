"""The stylizer: a style network on ONNX Runtime or OpenVINO, frames in and frames out.

Its session comes from the one session factory, ``realtime.runtime.session`` (engine and
provider policy, GPU checks and messages), re-exported here for the callers that make
sessions themselves. An OpenVINO session answers the calls an ONNX Runtime session does
(``realtime.runtime.openvino_engine``), so this one class runs both engines.

On a GPU, each thread runs frames through device-resident buffers of its own
(``realtime.runtime.binding``), so two frames can be in flight while the host resizes,
warps and encodes others; on the CPU several single-threaded runs share the cores. Either
way the stylizer may be called from several threads at once (``stateless``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.core.cards import read_card
from realtime.core.config import EngineConfig
from realtime.core.errors import UserError
from realtime.core.memory import check_fits, network_bytes
from realtime.core.model_io import (
    ARCH,
    STYLE_INPUT_NAME,
    ModelInfo,
    check_style_network,
    read_model_info,
)
from realtime.runtime import gpu
from realtime.runtime.binding import DeviceFrames
from realtime.runtime.openvino_engine import OpenVinoSession
from realtime.runtime.providers import CPU, CUDA, TENSORRT, TRT_MAX_SIDE, GpuTuning
from realtime.runtime.providers import tensorrt_cache_dir as tensorrt_cache_dir
from realtime.runtime.session import create_session
from realtime.runtime.session import gpu_unavailable_reason as gpu_unavailable_reason

__all__ = [
    "CPU", "CUDA", "TENSORRT", "GpuTuning", "OnnxStylizer", "create_session",
    "gpu_unavailable_reason", "tensorrt_cache_dir",
]  # fmt: skip

log = logging.getLogger(__name__)


def _notice(message: str) -> None:
    log.info("%s", message)


class OnnxStylizer:
    """A style network on ONNX Runtime or OpenVINO: uint8 RGB frame (H, W, 3) in, same-size
    frame out.

    The stages are separate so a benchmark can time them: ``preprocess`` (frame -> the
    session's input), ``infer`` (the session run), ``postprocess`` (its output -> frame);
    calling the stylizer does all three.

    Threads: it may be called from several threads at once on every provider (``stateless``):
    ONNX Runtime sessions run concurrently, on a GPU each thread has its own binding, and
    OpenVINO gives each thread its own infer request.
    """

    def __init__(
        self,
        model_path: Path,
        config: EngineConfig,
        style_name: str | None = None,
        *,
        trt_fp16: bool = False,
        announce: bool = True,
        tuning: GpuTuning | None = None,
    ) -> None:
        """Load and check ``model_path``, then create its session as ``config`` asks.

        ``trt_fp16`` enables TensorRT's fp16 mode for an fp32 model (fp16 models always get
        it); ``announce`` prints the provider and notices on stderr; ``tuning``: the GPU
        choices (``GpuTuning``; its defaults when None).
        """
        self.model_path = Path(model_path)
        self.info: ModelInfo = read_model_info(self.model_path)
        for notice in check_style_network(self.info, str(self.model_path)):
            _notice(notice)
        # The card beside the file (a bundled or user style), else the one in its metadata:
        # OpenVINO's --precision auto reads its bf16 record.
        card = read_card(self.model_path) or self.info.card
        self.session, self.provider = create_session(
            self.model_path,
            config,
            fp16=trt_fp16 or self.info.precision == "fp16",
            cpu_upcast=self.info.precision == "fp16",
            announce=announce,
            tuning=tuning,
            info=self.info,
            card=card,
        )
        # Which engine runs it, and in which precision: the startup note's words, for the
        # summaries, the panel's state and bench's table.
        on_openvino = isinstance(self.session, OpenVinoSession)
        self.engine = "openvino" if on_openvino else "onnxruntime"
        # ONNX Runtime's CPU provider runs fp16 files upcast; its GPU providers as stored.
        self.precision = (
            self.session.precision
            if on_openvino
            else "fp32"
            if self.provider == CPU
            else (self.info.precision or "fp32")
        )
        self.style_name = style_name or self.info.style or self.model_path.stem
        self.min_side = self.info.min_side
        # An NVIDIA GPU through ONNX Runtime: device buffers, the GPU thread plan. OpenVINO,
        # even on an Intel GPU (which shares the host's memory), keeps the CPU's plan.
        self.on_gpu = self.provider in (CUDA, TENSORRT)
        # The largest long side a frame may have: a TensorRT engine is built for a range of
        # sizes (realtime.runtime.providers); frames beyond it are stylized smaller
        # (realtime.runtime.frames.clamp_size).
        self.max_side = TRT_MAX_SIDE if self.provider == TENSORRT else None
        self._input_name = self.info.inputs[0].name
        self._output_name = self.info.outputs[0].name
        # What the session takes, which on a GPU may differ from the file: uint8 NHWC frames
        # (the conversion in the graph) or float32 NCHW tensors.
        self.frames_io = self.session.get_inputs()[0].type == "tensor(uint8)"
        # A multi-style network: the mix it paints, (styles,) weights; its first style alone
        # until set_mix says otherwise. Read at each call, so a mix can move frame by frame.
        self.styles = self.info.styles
        self._mix = np.eye(len(self.styles), dtype=np.float32)[0] if self.styles else None
        self._device = (
            DeviceFrames(self.session, self._input_name, self._output_name) if self.on_gpu else None
        )
        self.stateless = True

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
        (``frames`` at once): the host's on the CPU, the GPU's free memory on a GPU (where
        the host holds only frames). The per-pixel figure is the CPU provider's measured
        peak (realtime.core.memory), unmeasured on a GPU."""
        arch = self.info.arch or ARCH
        needed = network_bytes(arch, width, height, frames)
        fix = "stylize smaller with --size"
        if not self.on_gpu:
            check_fits(needed, width, height, f"the style network ({arch})", fix)
            return
        memory = gpu.device_memory()
        if memory is not None:
            what = f"the style network ({arch}) on the GPU"
            check_fits(needed, width, height, what, fix, available=memory[0])

    def warm_up(self, width: int, height: int) -> float:
        """Get this frame size ready now, where the session is made, so the first real frame
        does not pay for it; returns the seconds it took. On a GPU one frame runs (cuDNN's
        algorithm search is done per input size, TensorRT's first execution); on OpenVINO the
        network is compiled for the size (a tenth of a second), not run. On ONNX Runtime's
        CPU provider a first frame costs what any frame does: nothing is done (0.0)."""
        start = time.perf_counter()
        tensor = np.zeros((height, width, 3), np.uint8)
        if isinstance(self.session, OpenVinoSession):
            self.session.prepare(self._feed(self.preprocess(tensor)))
        elif self.on_gpu:
            self.infer(self.preprocess(tensor))
        else:
            return 0.0
        seconds = time.perf_counter() - start
        log.debug("warmed up %s at %dx%d in %.2f s", self.style_name, width, height, seconds)
        return seconds

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
        if self.max_side is not None and max(height, width) > self.max_side:
            raise UserError(
                f"frame {width}x{height} is larger than the TensorRT engine's {self.max_side} "
                f"px long side; use --size {self.max_side} or less, or --device cuda"
            )

    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) RGB -> the session's input: float32 (1, 3, H, W) in [0, 255], or
        the frame itself as (1, H, W, 3) for a graph that converts frames itself."""
        self.check_frame(frame)
        if self.frames_io:
            return np.ascontiguousarray(frame)[np.newaxis]
        return np.ascontiguousarray(frame.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)

    def _feed(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        """The session's inputs for ``tensor``: the image, and a multi-style network's mix."""
        feed = {self._input_name: tensor}
        if self._mix is not None:
            feed[STYLE_INPUT_NAME] = np.repeat(self._mix[None], tensor.shape[0], axis=0)
        return feed

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """The session's input -> its output (a batch: float32 NCHW or uint8 NHWC)."""
        feed = self._feed(tensor)
        if self._device is not None:
            del feed[self._input_name]
            return self._device.run(tensor, feed)
        return self.session.run([self._output_name], feed)[0]

    def postprocess(self, tensor: np.ndarray) -> np.ndarray:
        """The session's output -> uint8 (H, W, 3) RGB: float32 (1, 3, H, W) rounded to
        nearest, or a graph's own uint8 (1, H, W, 3) frame as it is."""
        if self.frames_io:
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
