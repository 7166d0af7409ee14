"""The one session factory (``OnnxStylizer`` in ``realtime.runtime.engine`` runs frames through
what it makes): ONNX Runtime's providers, and OpenVINO beside them.

Engine and provider policy (``EngineConfig.device``):

- ``cpu``: ONNX Runtime's CPUExecutionProvider with ``threads`` intra-op threads (default: one
  per core), one inter-op thread, sequential execution, all graph optimisations; float32.
- ``openvino``: OpenVINO's own runtime on the CPU (or an Intel GPU where a probe finds it
  faster), in bf16 where the CPU has it natively and the style's card allows it, float32
  otherwise (``realtime.runtime.openvino_engine``; ``EngineConfig.precision`` overrides).
- ``cuda``: CUDAExecutionProvider. ``tensorrt``: TensorrtExecutionProvider, with CUDA after it
  for the nodes TensorRT cannot take (that fallback is per node, inside one session; the
  session must still list TensorRT first). fp16 mode is on for fp16 models or when asked.
  Each path's options, the TensorRT engine cache (keyed by the model's content) and its
  shape profile (built when the session is created) are in ``realtime.runtime.providers``.
- ``auto``: CUDA when it really works here; else OpenVINO when it is installed and runs a
  frame; else ONNX Runtime on the CPU. Each step not taken is a notice saying why.

A GPU session is made in three checked steps; each failure is one line naming the problem and
its fix (ProviderError for ``cuda``/``tensorrt``; for ``auto``, the reason CUDA was not used):

1. before ONNX Runtime is asked (``realtime.runtime.gpu``): the provider is in this build,
   the driver loads and runs the build's CUDA version, and the CUDA, cuDNN (and TensorRT)
   libraries load once preloaded from their pip packages;
2. the session, with ONNX Runtime's own CPU fallback off (``enable_fallback=0``), and its
   provider list checked: a provider that fails to initialise is skipped with a log line, not
   an error, and the session would run on the CPU;
3. one run on a tiny frame: cuDNN is loaded only at the first convolution, so a missing or
   broken cuDNN shows here, not at the first live frame.

An OpenVINO session also runs one tiny frame where it is made, so ``auto`` moves on at once
from an OpenVINO that cannot run this network, and ``--device openvino`` fails in one line.

On a GPU the graph takes uint8 NHWC frames (``realtime.runtime.gpu_graph``, ``GpuTuning``).

``create_session`` dispatches on the device to one maker per path (``_cpu_session``,
``_openvino``, ``_gpu_session``, ``_auto_session``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from realtime.core.config import DEVICES, ENGINE_PRECISIONS, EngineConfig
from realtime.core.errors import ProviderError, UserError, first_line
from realtime.core.files import sha256_file
from realtime.core.model_io import STYLE_INPUT_NAME, ModelInfo, read_model_info
from realtime.runtime import gpu
from realtime.runtime.providers import (
    CPU,
    CUDA,
    DEVICE_PROVIDER,
    TENSORRT,
    GpuTuning,
    gpu_provider_list,
)

log = logging.getLogger(__name__)


class _NoGpu(Exception):
    """Why a GPU session cannot be had here: one clause, worded by the caller as an error
    (explicit device) or a notice (``auto``)."""


def _notice(message: str) -> None:
    log.info("%s", message)


def _preflight(ort: Any, provider: str) -> str | None:
    """Why ``provider`` certainly cannot work here, checked before asking ONNX Runtime (whose
    own failure is a page of log lines and a silent CPU session), or None."""
    if provider not in ort.get_available_providers():
        return f"this onnxruntime build has no {provider} (install onnxruntime-gpu)"
    problem = gpu.driver_problem()
    if problem is not None:
        return problem
    gpu.preload(ort, provider == TENSORRT)
    return gpu.libraries_problem(gpu.missing_libraries(provider == TENSORRT))


def gpu_unavailable_reason(provider: str = CUDA) -> str | None:
    """Why ``--device auto`` will certainly run on the CPU here (or why ``provider`` cannot
    work), or None if it may work."""
    import onnxruntime as ort

    return _preflight(ort, provider)


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


def _new_session(
    ort: Any, source: str | bytes, providers: list[Any], config: EngineConfig, device: str,
    model_path: Path,
) -> Any:  # fmt: skip
    try:
        return ort.InferenceSession(
            source,
            sess_options=_session_options(ort, _threads(config)),
            providers=providers,
            # ONNX Runtime's own fallback re-creates a failing session on the CPU, and moves a
            # session whose run fails there for good, saying so on stdout only: the providers
            # are checked here instead, and a failure is one line.
            enable_fallback=0,
        )
    except UserError:
        raise
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        summary = first_line(exc)
        if device != "cpu":
            raise _NoGpu(f"ONNX Runtime failed to create the session ({summary})") from exc
        raise UserError(
            f"ONNX Runtime cannot load {model_path}: {summary}; re-export it with 'realtime export'"
        ) from exc


def _cpu_session(ort: Any, model_path: Path, config: EngineConfig, cpu_upcast: bool) -> Any:
    source: str | bytes = str(model_path)
    if cpu_upcast:
        from realtime.runtime.precision import upcast_to_fp32

        source = upcast_to_fp32(model_path)
    return _new_session(ort, source, [CPU], config, "cpu", model_path)


def _gpu_source(model_path: Path, info: ModelInfo, tuning: GpuTuning) -> tuple[str | bytes, bool]:
    """(what ONNX Runtime loads on a GPU, whether it takes uint8 NHWC frames): the file, or a
    variant of it made in memory (``realtime.runtime.gpu_graph``)."""
    wrap = tuning.frames_io and not info.frames_in_graph
    halve = tuning.half_norms and info.precision == "fp16"
    if not (wrap or halve):
        return str(model_path), info.frames_in_graph
    import onnx

    from realtime.runtime.gpu_graph import frames_in_graph, half_instance_norm

    model = onnx.load(str(model_path))
    if halve:
        model = half_instance_norm(model)
    if wrap:
        model = frames_in_graph(model)
    return model.SerializeToString(), True


def _smoke_feed(session: Any, info: ModelInfo) -> dict[str, np.ndarray]:
    """One frame of the network's smallest size (the bottom of a TensorRT profile)."""
    side, feed = info.min_side, {}
    for spec in session.get_inputs():
        if spec.name == STYLE_INPUT_NAME:
            feed[spec.name] = np.eye(max(1, len(info.styles)), dtype=np.float32)[:1]
        elif spec.type == "tensor(uint8)":
            feed[spec.name] = np.zeros((1, side, side, 3), np.uint8)
        else:
            feed[spec.name] = np.zeros((1, 3, side, side), np.float32)
    return feed


def _first_run_problem(provider: str, summary: str) -> str:
    if "cudnn" in summary.lower():
        cuda = gpu.build_cuda_version() or "13"
        return (
            f"cuDNN failed at the first run on {provider} ({summary}); install cuDNN 9 with "
            f"pip install 'nvidia-cudnn-cu{cuda.split('.')[0]}~=9.0'"
        )
    return f"the first run on {provider} failed ({summary})"


def _gpu_session(
    ort: Any, model_path: Path, device: str, config: EngineConfig, info: ModelInfo, fp16: bool,
    tuning: GpuTuning,
) -> Any:  # fmt: skip
    """A session for ``cuda``/``tensorrt`` that has really run a frame there, or _NoGpu."""
    provider = DEVICE_PROVIDER[device]
    reason = _preflight(ort, provider)
    if reason is not None:
        raise _NoGpu(reason)
    source, frames_io = _gpu_source(model_path, info, tuning)
    providers = gpu_provider_list(
        device, config, info, sha256_file(model_path), fp16=fp16, tuning=tuning,
        frames_io=frames_io,
    )  # fmt: skip
    session = _new_session(ort, source, providers, config, device, model_path)
    if session.get_providers()[0] != provider:
        raise _NoGpu(
            f"ONNX Runtime could not initialise {provider} (its log above says why; this build "
            f"needs CUDA {gpu.build_cuda_version() or '12 or 13'} and cuDNN 9"
            + (f" and TensorRT {gpu.TENSORRT_MAJOR}" if provider == TENSORRT else "")
            + ")"
        )
    try:
        session.run(None, _smoke_feed(session, info))
    except Exception as exc:  # noqa: BLE001 - any failure of the first run is the answer
        raise _NoGpu(_first_run_problem(provider, first_line(exc))) from exc
    return session


def _openvino(
    model_path: Path, config: EngineConfig, info: ModelInfo, card: dict[str, Any] | None
) -> tuple[Any, str]:
    """(an OpenVINO session that has run a tiny frame, why its precision), or
    OpenVinoUnavailable; UserError where openvino is not installed."""
    from realtime.runtime.openvino_engine import OpenVinoUnavailable, openvino_session

    session, why = openvino_session(model_path, config, info, card)
    try:
        session.run(None, _smoke_feed(session, info))
    except Exception as exc:  # noqa: BLE001 - any failure of the first run is the answer
        raise OpenVinoUnavailable(f"the first run failed ({first_line(exc)})") from exc
    return session, why


def _auto_session(
    ort: Any, model_path: Path, config: EngineConfig, info: ModelInfo, fp16: bool,
    cpu_upcast: bool, tuning: GpuTuning, announce: bool, card: dict[str, Any] | None,
) -> tuple[Any, str | None]:  # fmt: skip
    """CUDA, else OpenVINO, else ONNX Runtime's CPU provider: (session, OpenVINO's why)."""
    from realtime.runtime.openvino_engine import OpenVinoUnavailable

    try:
        return _gpu_session(ort, model_path, "cuda", config, info, fp16, tuning), None
    except _NoGpu as exc:
        if announce:
            _notice(f"CUDA not used: {exc}; running on CPU")
    try:
        return _openvino(model_path, config, info, card)
    except OpenVinoUnavailable as exc:
        why = str(exc)
    except UserError as exc:
        if config.precision != "auto":  # asked for explicitly: an error, not a detour
            raise
        why = str(exc)
    if announce:
        _notice(f"OpenVINO not used: {why}; running on ONNX Runtime's CPU provider")
    return _cpu_session(ort, model_path, config, cpu_upcast), None


def _check_precision(config: EngineConfig) -> None:
    """``--precision`` is OpenVINO's: refused in one line with an engine that cannot honour it."""
    if config.precision not in ENGINE_PRECISIONS:
        raise UserError(
            f"unknown precision {config.precision!r}; use one of {', '.join(ENGINE_PRECISIONS)}"
        )
    if config.precision == "auto" or config.device in ("auto", "openvino"):
        return
    if config.device == "cpu" and config.precision == "fp32":
        return  # ONNX Runtime's CPU provider computes in float32 anyway
    raise UserError(
        f"--precision {config.precision} chooses OpenVINO's precision, and --device "
        f"{config.device} runs the model's own; use --device openvino (or auto)"
    )


def create_session(
    model_path: Path,
    config: EngineConfig,
    *,
    fp16: bool = False,
    cpu_upcast: bool = False,
    announce: bool = True,
    tuning: GpuTuning | None = None,
    info: ModelInfo | None = None,
    card: dict[str, Any] | None = None,
) -> tuple[Any, str]:
    """Create a session for ``model_path`` as ``config`` asks: ONNX Runtime's, or OpenVINO's
    (``OpenVinoSession``, which answers the same calls).

    Returns ``(session, provider)`` where ``provider`` is the execution provider the session
    really got (its first one; for OpenVINO "OpenVINO CPU (bf16)" and the like). ``fp16``
    enables TensorRT's fp16 mode (set it for fp16 models or to trade precision for speed).
    ``cpu_upcast`` runs a model stored with float16 weights as float32 when the session is on
    ONNX Runtime's CPU provider (``realtime.runtime.precision`` says why).
    ``tuning``: the GPU graph and options (``GpuTuning``); ``info``: the model's, if read;
    ``card``: the style's card, whose bf16 record OpenVINO's ``--precision auto`` reads.
    ``announce`` logs the engine the session got, and for ``auto`` why the engines before it
    were not used, as notices (the CLI shows them on stderr).
    Raises ProviderError when an explicitly requested engine cannot be used, and UserError
    for an unknown device or a model the engine cannot load.
    """
    import onnxruntime as ort

    if config.device not in DEVICES:
        raise UserError(f"unknown device {config.device!r}; use one of {', '.join(DEVICES)}")
    _check_precision(config)
    model_path = Path(model_path)
    tuning = tuning or GpuTuning()
    why: str | None = None
    if config.device == "cpu":
        session = _cpu_session(ort, model_path, config, cpu_upcast)
    else:
        info = info or read_model_info(model_path)
        if config.device == "auto":
            session, why = _auto_session(
                ort, model_path, config, info, fp16, cpu_upcast, tuning, announce, card
            )
        elif config.device == "openvino":
            session, why = _forced_openvino(model_path, config, info, card)
        else:
            try:
                session = _gpu_session(ort, model_path, config.device, config, info, fp16, tuning)
            except _NoGpu as exc:
                raise ProviderError(
                    f"--device {config.device}: {exc}; fix that or use --device cpu"
                ) from exc
    provider = session.get_providers()[0]
    if announce:
        _notice(_engine_note(ort, session, provider, config, why))
    return session, provider


def _forced_openvino(
    model_path: Path, config: EngineConfig, info: ModelInfo, card: dict[str, Any] | None
) -> tuple[Any, str]:
    from realtime.runtime.openvino_engine import OpenVinoUnavailable

    try:
        return _openvino(model_path, config, info, card)
    except OpenVinoUnavailable as exc:
        raise ProviderError(
            f"--device openvino: {exc}; fix that or use --device cpu (ONNX Runtime)"
        ) from exc


def _engine_note(
    ort: Any, session: Any, provider: str, config: EngineConfig, why: str | None
) -> str:
    """The one startup line: the engine, its device, precision and threads."""
    if provider == CPU:
        return f"ONNX Runtime {ort.__version__} on {provider}, {_threads(config)} threads"
    if why is not None:  # OpenVINO
        from realtime.runtime.openvino_engine import version

        threads = ""
        if session.device == "CPU":
            per_frame = session.threads // session.streams
            threads = f", {per_frame} thread{'s' if per_frame > 1 else ''}" + (
                f" per frame, {session.streams} frames at once" if session.streams > 1 else ""
            )
        return f"OpenVINO {version()} on {session.device}, {session.precision} ({why}){threads}"
    return f"ONNX Runtime {ort.__version__} on {provider}"
