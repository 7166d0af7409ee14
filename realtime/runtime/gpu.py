"""The NVIDIA side of a machine, probed before a GPU session is made: the driver, the CUDA,
cuDNN and TensorRT libraries ONNX Runtime's GPU providers load, and free device memory.

ONNX Runtime's own answers come late and loose: a provider whose libraries are missing is
skipped with a log line (the session runs on the CPU), ``preload_dlls`` prints its failures
on stdout and raises nothing, and cuDNN is loaded only at the first convolution. So each
requirement is checked here first and named in one line with the package that provides it.

Every probe goes through one small function over one library call (``load_library``,
``driver_cuda_version``, ``device_memory``), the seams the tests replace on machines without
a GPU.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import io
import logging
import sys
from pathlib import Path
from typing import Any

from realtime.core.errors import first_line

log = logging.getLogger(__name__)

# The oldest Linux driver of each CUDA major version. With NVIDIA's minor version
# compatibility any driver of that branch runs every minor release of the toolkit.
DRIVER_FOR_CUDA = {12: "525.60.13", 13: "580.65.06"}
# The TensorRT provider of onnxruntime-gpu links libnvinfer.so.10: TensorRT 10 exactly.
# 10.13 is the first TensorRT 10 built for CUDA 13 (its release notes); TensorRT 11, what a
# plain `pip install tensorrt` now brings, has libnvinfer.so.11 and cannot be loaded.
TENSORRT_MAJOR = 10
TENSORRT_RANGE = {12: ">=10.0,<11", 13: ">=10.13,<11"}


def load_library(name: str) -> str | None:
    """None when the shared library ``name`` (a soname or a path) loads, else why not."""
    try:
        ctypes.CDLL(name)
    except OSError as exc:
        return first_line(exc)
    return None


def build_cuda_version() -> str | None:
    """The CUDA version this onnxruntime-gpu wheel was built for ("13.0"), or None."""
    try:
        from onnxruntime.capi import build_and_package_info
    except ImportError:
        return None
    version = getattr(build_and_package_info, "cuda_version", None)
    return str(version) if version else None


def _major(version: str | None) -> int | None:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return None


def driver_library() -> str:
    return "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"


def driver_cuda_version() -> int | None:
    """The newest CUDA the installed driver runs (cuDriverGetVersion: 12040 is 12.4), or None
    when it cannot be read. cuDriverGetVersion needs no cuInit and no device."""
    try:
        driver = ctypes.CDLL(driver_library())
        version = ctypes.c_int(0)
        if driver.cuDriverGetVersion(ctypes.byref(version)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return int(version.value)


def driver_problem(needed: str | None = None) -> str | None:
    """Why the NVIDIA driver cannot run this onnxruntime-gpu build (``needed``: its CUDA
    version, read from the wheel when None), or None when it can."""
    if sys.platform == "darwin":
        return "CUDA does not exist on macOS"
    library = driver_library()
    if load_library(library) is not None:
        return f"no NVIDIA driver found ({library} cannot be loaded)"
    needed = needed or build_cuda_version()
    major, supported = _major(needed), driver_cuda_version()
    if major is None or supported is None or supported >= major * 1000:
        return None
    driver = DRIVER_FOR_CUDA.get(major)
    return (
        f"the NVIDIA driver runs CUDA up to {supported // 1000}.{supported % 1000 // 10}, and "
        f"this onnxruntime-gpu build needs CUDA {needed}: update the NVIDIA driver"
        + (f" to {driver} or newer" if driver else "")
    )


def cuda_libraries(major: int) -> dict[str, str]:
    """soname -> the pip requirement that provides it, for the CUDA provider on Linux: what
    libonnxruntime_providers_cuda.so links (cuBLAS, cuRAND, the runtime) and the cuDNN it
    loads at the first convolution."""
    # CUDA 13 merged the toolkit's wheels and dropped their -cu13 suffix; cuDNN kept it.
    tag = "" if major >= 13 else f"-cu{major}"
    cublas = f"nvidia-cublas{tag}~={major}.0"
    return {
        f"libcudart.so.{major}": f"nvidia-cuda-runtime{tag}~={major}.0",
        f"libcublasLt.so.{major}": cublas,
        f"libcublas.so.{major}": cublas,
        "libcurand.so.10": f"nvidia-curand{tag}~=10.0",
        "libcudnn.so.9": f"nvidia-cudnn-cu{major}~=9.0",
    }


def tensorrt_libraries(major: int) -> dict[str, str]:
    """soname -> pip requirement for what libonnxruntime_providers_tensorrt.so links."""
    requirement = f"tensorrt-cu{major}-libs{TENSORRT_RANGE.get(major, '>=10.0,<11')}"
    return {
        f"libnvinfer.so.{TENSORRT_MAJOR}": requirement,
        f"libnvonnxparser.so.{TENSORRT_MAJOR}": requirement,
    }


def _tensorrt_wheel_libraries() -> list[Path]:
    """TensorRT's libraries from its pip wheel (``tensorrt_libs``), which is not on the
    loader's path: loaded by path first, the provider's links to them then resolve."""
    spec = importlib.util.find_spec("tensorrt_libs")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations)))
    names = ("libnvinfer.so", "libnvinfer_plugin.so", "libnvonnxparser.so")
    return [folder / f"{name}.{TENSORRT_MAJOR}" for name in names]


@functools.cache
def preload(ort: Any, tensorrt: bool) -> tuple[str, ...]:
    """Load CUDA and cuDNN (and TensorRT's wheel) from their pip packages so the providers
    find them. Returns what ONNX Runtime's preload_dlls printed: it reports failures on
    stdout and raises nothing, so its words are kept for the log and each library is then
    checked by soname (``missing_libraries``)."""
    printed = io.StringIO()
    if hasattr(ort, "preload_dlls"):  # older onnxruntime: the libraries must be on the path
        try:
            with contextlib.redirect_stdout(printed):
                ort.preload_dlls()
        except Exception as exc:  # noqa: BLE001 - a failure here is checked library by library
            printed.write(f"preload_dlls failed: {first_line(exc)}\n")
    if tensorrt and sys.platform.startswith("linux"):
        for path in _tensorrt_wheel_libraries():
            if path.is_file():
                load_library(str(path))
    lines = tuple(line.strip() for line in printed.getvalue().splitlines() if line.strip())
    for line in lines:
        log.debug("onnxruntime preload_dlls: %s", line)
    return lines


def missing_libraries(tensorrt: bool, cuda: str | None = None) -> dict[str, str]:
    """The libraries the provider needs that cannot be loaded: soname -> pip requirement.
    Checked by soname after ``preload``: a library preloaded by path answers to its soname.
    Linux only (elsewhere the names differ and the first run decides)."""
    major = _major(cuda or build_cuda_version())
    if major is None or not sys.platform.startswith("linux"):
        return {}
    needed = {**cuda_libraries(major), **(tensorrt_libraries(major) if tensorrt else {})}
    return {name: pip for name, pip in needed.items() if load_library(name) is not None}


def libraries_problem(missing: dict[str, str]) -> str | None:
    """One line naming the missing libraries and the pip command that installs them."""
    if not missing:
        return None
    requirements = " ".join(f"'{pip}'" for pip in dict.fromkeys(missing.values()))
    text = f"cannot load {', '.join(missing)}; install with pip install {requirements}"
    if any(name.startswith("libnvinfer") for name in missing):
        text += f" (TensorRT {TENSORRT_MAJOR} exactly: this onnxruntime-gpu links it)"
    return text


class _NvmlMemory(ctypes.Structure):
    _fields_ = [
        ("total", ctypes.c_ulonglong),
        ("free", ctypes.c_ulonglong),
        ("used", ctypes.c_ulonglong),
    ]


def device_memory(index: int = 0) -> tuple[int, int] | None:
    """(free, total) bytes of GPU ``index`` from NVML (the driver's management library: it
    needs no CUDA context, so asking costs no device memory); None where it cannot say."""
    name = "nvml.dll" if sys.platform == "win32" else "libnvidia-ml.so.1"
    try:
        nvml = ctypes.CDLL(name)
        if nvml.nvmlInit_v2() != 0:
            return None
    except (OSError, AttributeError):
        return None
    try:
        handle = ctypes.c_void_p()
        memory = _NvmlMemory()
        if nvml.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)) != 0:
            return None
        if nvml.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)) != 0:
            return None
        return int(memory.free), int(memory.total)
    finally:
        nvml.nvmlShutdown()
