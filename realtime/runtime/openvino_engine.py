"""The second engine: OpenVINO's native runtime, for CPUs (and Intel GPUs where one is faster).

On a CPU it runs the same ONNX files faster than ONNX Runtime's CPU provider: 1.3x in
float32, 2.5x in bfloat16 where the CPU computes bf16 natively (AVX512-BF16 or AMX;
docs/BENCHMARKS.md, "OpenVINO"). ONNX Runtime's own OpenVINO provider ships as
``onnxruntime-openvino``, which cannot share an environment with ``onnxruntime-gpu``, so
the native API it is.

``OpenVinoSession`` answers the three calls ``OnnxStylizer`` makes of an ONNX Runtime session
(``run``, ``get_inputs``, ``get_providers``), so one stylizer serves both engines. Inside:

- one compiled model per input shape, made at the first frame of that shape (0.1 s): OpenVINO
  runs a static shape a third faster than the dynamic graph on the lite network (8.5 against
  13.6 ms at 640x360, bf16), and a run keeps to one size;
- one infer request per thread per compiled model, since a request is not thread-safe and the
  stylizer is called from several threads at once;
- the precision is always set explicitly: OpenVINO's own default on a CPU with bf16 is bf16.

``openvino`` is imported only here, and only when asked for: where it is missing, a run that
needs it says so in one line with the install hint.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from realtime.core.config import EngineConfig
from realtime.core.errors import UserError, first_line
from realtime.core.extras import missing_message, missing_module
from realtime.core.model_io import STYLE_INPUT_NAME, ModelInfo

log = logging.getLogger(__name__)

OPENVINO = "OpenVINO"
# What OpenVINO's CPU plugin lists in OPTIMIZATION_CAPABILITIES when the CPU computes bf16
# natively (AVX512-BF16 or AMX). Without it a bf16 hint is emulated or ignored: never faster.
BF16_CAPABILITY = "BF16"
# OpenVINO's INFERENCE_PRECISION_HINT values for ours.
_OV_PRECISION = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
# Compiled shapes kept per session: a run stylizes at one size; the bench at three.
_SHAPES_KEPT = 4
# An Intel GPU is taken only where it beats the CPU by this much in the probe: below it, the
# copies and the driver's jitter make the CPU the safer choice.
_GPU_MARGIN = 1.2
_PROBE_SIZE = (640, 360)


class OpenVinoUnavailable(Exception):
    """Why OpenVINO cannot run here: one clause, worded by the caller as an error (``--device
    openvino``) or a notice (``auto``)."""


def import_openvino() -> Any:
    """The ``openvino`` module, or UserError with the one-line install hint.

    Its telemetry is kept out: reading an ONNX model loads ``openvino_telemetry``, whose
    worker thread forks a process to send usage data to Google Analytics. Nothing here may
    phone home, and a fork from a thread can deadlock on a lock another thread held (a
    ``realtime demo`` hung at exit, waiting on that child stuck in FFmpeg's scaler).
    ``None`` in ``sys.modules`` makes its import fail; OpenVINO runs without it.
    """
    sys.modules.setdefault("openvino_telemetry", None)
    try:
        import openvino
    except ImportError as exc:
        raise UserError(missing_message("the OpenVINO engine", "openvino")) from exc
    return openvino


def installed() -> bool:
    """Whether the openvino package is installed, without importing it."""
    return missing_module("openvino") is None


@functools.cache
def _core() -> Any:
    """One OpenVINO Core per process: it holds the plugins, loaded once."""
    return import_openvino().Core()


def version() -> str:
    return str(import_openvino().__version__).split("-")[0]


def has_native_bf16(device: str = "CPU") -> bool:
    """Whether ``device`` computes bf16 natively: OpenVINO's own answer, not a guess from
    /proc/cpuinfo (a CPU flag the kernel shows may still be masked for the plugin)."""
    try:
        caps = _core().get_property(device, "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - a device that cannot answer has no bf16 to offer
        return False
    return BF16_CAPABILITY in caps


def card_allows_bf16(card: dict[str, Any] | None) -> bool | None:
    """What the style's card records of its bf16 check (``scripts/check_bf16.py``): True when
    bf16 moved none of its scores by more than the bound, False when it did, None when the
    style was never checked."""
    record = (card or {}).get("bf16")
    if not isinstance(record, dict) or not isinstance(record.get("ok"), bool):
        return None
    return record["ok"]


def choose_precision(asked: str, bf16_here: bool, card_ok: bool | None) -> tuple[str, str]:
    """(precision, why) for ``--precision asked``: bf16 where the CPU has it and the style's
    card says bf16 keeps its scores, fp32 otherwise. A style never checked runs in fp32: its
    bf16 output may differ from what was trained, and nobody measured by how much."""
    if asked == "fp32":
        return "fp32", "--precision fp32"
    if asked == "bf16":
        if not bf16_here:
            raise UserError(
                "--precision bf16: this CPU has no native bf16 (OpenVINO does not list BF16 "
                "in its optimisation capabilities); use --precision fp32 or auto"
            )
        return "bf16", "--precision bf16"
    if asked != "auto":
        raise UserError(f"unknown precision {asked!r}; use auto, fp32 or bf16")
    if not bf16_here:
        return "fp32", "no native bf16 on this CPU"
    if card_ok is None:
        return "fp32", "this style's card has no bf16 check (scripts/check_bf16.py)"
    if not card_ok:
        return "fp32", "bf16 moves this style's scores by more than 1% (its card)"
    return "bf16", "native bf16, checked for this style"


def _threads(config: EngineConfig) -> tuple[int, int]:
    """(streams, threads in all). ``--threads`` is per frame, as for ONNX Runtime: one per
    core runs one frame on every core; one runs a frame per core at once (the video plan),
    which OpenVINO does as that many streams of one thread each."""
    cores = os.cpu_count() or 1
    per_frame = cores if config.threads is None else config.threads
    if per_frame < 1:
        raise UserError(f"--threads must be at least 1, got {per_frame}")
    streams = max(1, cores // per_frame)
    return streams, streams * per_frame


class OpenVinoSession:
    """A style network compiled by OpenVINO, with the calls of an ONNX Runtime session."""

    def __init__(
        self, model: bytes, info: ModelInfo, device: str, precision: str, config: EngineConfig
    ) -> None:
        self._core = _core()
        self._info = info
        self.device, self.precision = device, precision
        self.streams, self.threads = _threads(config) if device == "CPU" else (1, 0)
        self._compiled: dict[tuple[int, ...], tuple[Any, threading.local]] = {}
        self._lock = threading.Lock()
        self.provider = f"{OPENVINO} {device} ({precision})"
        try:
            # Read once, to fail here on a graph OpenVINO cannot take, not at the first frame.
            self._model = self._core.read_model(model)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own RuntimeError kinds
            what = f"OpenVINO cannot read the model ({first_line(exc)})"
            raise OpenVinoUnavailable(what) from exc

    def _properties(self) -> dict[str, Any]:
        properties: dict[str, Any] = {"INFERENCE_PRECISION_HINT": _OV_PRECISION[self.precision]}
        if self.device == "CPU":
            properties |= {"NUM_STREAMS": self.streams, "INFERENCE_NUM_THREADS": self.threads}
        return properties

    def _compile(self, shapes: dict[str, tuple[int, ...]]) -> Any:
        model = self._model.clone()
        model.reshape({name: list(shape) for name, shape in shapes.items()})
        try:
            return self._core.compile_model(model, self.device, self._properties())
        except Exception as exc:  # noqa: BLE001
            raise UserError(
                f"OpenVINO failed to compile the network for {self.device} at "
                f"{shapes[self._info.inputs[0].name]} ({first_line(exc)}); "
                "use --device cpu (ONNX Runtime)"
            ) from exc

    def _request(self, shapes: dict[str, tuple[int, ...]]) -> Any:
        """This thread's infer request for the model compiled at ``shapes``."""
        key = tuple(d for shape in shapes.values() for d in shape)
        with self._lock:
            entry = self._compiled.pop(key, None)
            if entry is None:
                # Each compiled shape has its own per-thread requests, dropped with it.
                entry = (self._compile(shapes), threading.local())
            self._compiled[key] = entry  # most recently used last
            while len(self._compiled) > _SHAPES_KEPT:
                self._compiled.pop(next(iter(self._compiled)))
        compiled, local = entry
        request = getattr(local, "request", None)
        if request is None:
            request = local.request = compiled.create_infer_request()
        return request

    def prepare(self, feed: dict[str, np.ndarray]) -> None:
        """Compile for ``feed``'s shapes now (the warm-up), not at the first frame."""
        self._request({name: value.shape for name, value in feed.items()})

    def run(self, outputs: list[str] | None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """ONNX Runtime's ``session.run``: the network's output for ``feed``."""
        request = self._request({name: value.shape for name, value in feed.items()})
        # share_outputs=False: the result is ours to keep, the request is reused next frame.
        result = request.infer(feed, share_inputs=True, share_outputs=False)
        return [result[0]]

    def get_inputs(self) -> list[SimpleNamespace]:
        kinds = {1: "tensor(float)", 2: "tensor(uint8)"}
        return [
            SimpleNamespace(name=s.name, type=kinds.get(s.elem_type, "tensor(float)"))
            for s in self._info.inputs
        ]

    def get_providers(self) -> list[str]:
        return [self.provider]


def _probe_feed(info: ModelInfo, size: tuple[int, int]) -> dict[str, np.ndarray]:
    width, height = size
    feed = {info.inputs[0].name: np.zeros((1, 3, height, width), np.float32)}
    if info.styles:
        feed[STYLE_INPUT_NAME] = np.eye(len(info.styles), dtype=np.float32)[:1]
    return feed


def _seconds_per_frame(session: OpenVinoSession, feed: dict[str, np.ndarray]) -> float:
    session.run(None, feed)  # compiles and warms up
    start = time.perf_counter()
    for _ in range(3):
        session.run(None, feed)
    return (time.perf_counter() - start) / 3


def pick_device(
    model: bytes, info: ModelInfo, config: EngineConfig, cpu_precision: str
) -> OpenVinoSession:
    """The CPU session, or an Intel GPU's where OpenVINO has one and it runs this network
    faster (a real probe: three frames of 640x360 on each, about a second)."""
    cpu = OpenVinoSession(model, info, "CPU", cpu_precision, config)
    if "GPU" not in _core().available_devices:
        return cpu
    try:
        # An Intel GPU computes in fp16 natively; the style networks keep their scores in it
        # on CUDA (docs/STYLES.md), and an iGPU shares the CPU's memory, so no copy to pay.
        gpu = OpenVinoSession(model, info, "GPU", "fp16", config)
        feed = _probe_feed(info, _PROBE_SIZE)
        on_gpu, on_cpu = _seconds_per_frame(gpu, feed), _seconds_per_frame(cpu, feed)
    except Exception as exc:  # noqa: BLE001 - a GPU that fails the probe is not used
        log.info("note: the Intel GPU was not used: %s", first_line(exc))
        return cpu
    log.debug("OpenVINO probe: GPU %.1f ms, CPU %.1f ms", 1e3 * on_gpu, 1e3 * on_cpu)
    return gpu if on_gpu * _GPU_MARGIN < on_cpu else cpu


def openvino_session(
    model_path: Path, config: EngineConfig, info: ModelInfo, card: dict[str, Any] | None
) -> tuple[OpenVinoSession, str]:
    """A session on OpenVINO for ``model_path`` (fp16 weights upcast to fp32 first, as for
    ONNX Runtime's CPU provider: the precision is then OpenVINO's to choose, as asked), and
    why its precision is what it is. Raises OpenVinoUnavailable or UserError."""
    from realtime.runtime.precision import upcast_to_fp32

    core = _core()  # UserError with the install hint where openvino is missing
    if "CPU" not in core.available_devices:
        raise OpenVinoUnavailable("OpenVINO finds no CPU device here")
    precision, why = choose_precision(
        config.precision, has_native_bf16("CPU"), card_allows_bf16(card)
    )
    session = pick_device(upcast_to_fp32(model_path), info, config, precision)
    return session, why
