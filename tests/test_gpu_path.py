"""The CUDA and TensorRT paths, checked on a machine without a GPU.

What a GPU session is asked for (provider options, the TensorRT cache prefix and shape
profile), the warm-up where sessions are made, the thread plan once the session exists, and
each one-line message for a missing driver or library: the library calls are replaced at
their seam in ``realtime.runtime.gpu``, and only what cannot exist here (an ONNX Runtime
session on CUDA) is a stand-in. The graph variants and the device-buffer logic run for real
on the CPU provider.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime
import pytest
from fixtures_media import make_clip

from realtime.app import build
from realtime.app.build import GPU_FRAMES_IN_FLIGHT, check_processing_size, settle_plan
from realtime.core.config import EngineConfig, ProcessConfig, RunConfig
from realtime.core.errors import ProviderError, UserError
from realtime.core.files import sha256_file
from realtime.core.model_io import read_model_info
from realtime.live.switcher import StyleSwitcher
from realtime.runtime import gpu
from realtime.runtime.binding import DeviceFrames
from realtime.runtime.engine import CPU, CUDA, TENSORRT, OnnxStylizer, create_session
from realtime.runtime.frames import FrameProcessor, clamp_size
from realtime.runtime.gpu_graph import frames_in_graph, half_instance_norm
from realtime.runtime.precision import upcast_to_fp32
from realtime.runtime.providers import (
    TRT_MAX_SIDE,
    GpuTuning,
    cuda_options,
    gpu_provider_list,
    tensorrt_profile,
)

BUNDLED = Path(__file__).resolve().parents[1] / "realtime" / "bundled_styles"
LITE = BUNDLED / "mosaic-lite.onnx"  # fp16, one style, min side 16
MULTI = BUNDLED / "paintings-lite.onnx"  # fp16, four styles
REAL_SESSION = onnxruntime.InferenceSession


# -- stand-ins at the seams ----------------------------------------------------------------------


class FakeGpuSession:
    """A session on a GPU provider, which cannot exist here. It reports the providers it was
    asked for (or ``got``), and its first run raises ``fail`` when set."""

    made: list[FakeGpuSession] = []
    got: list[str] | None = None
    fail: str | None = None

    def __init__(self, source, sess_options=None, providers=(), enable_fallback=1) -> None:
        self.source, self.asked, self.enable_fallback = source, list(providers), enable_fallback
        model = onnx.load_from_string(source) if isinstance(source, bytes) else onnx.load(source)
        self.info = read_model_info(model)
        self.runs: list[dict[str, np.ndarray]] = []
        FakeGpuSession.made.append(self)

    def get_providers(self) -> list[str]:
        names = [p[0] if isinstance(p, tuple) else p for p in self.asked]
        return self.got if self.got is not None else names

    def get_inputs(self) -> list[SimpleNamespace]:
        kinds = {1: "tensor(float)", 2: "tensor(uint8)"}
        return [SimpleNamespace(name=s.name, type=kinds[s.elem_type]) for s in self.info.inputs]

    def run(self, outputs, feed):
        self.runs.append(feed)
        if self.fail:
            raise RuntimeError(self.fail)
        return [np.zeros_like(feed[self.info.inputs[0].name])]


def _session_factory(source, sess_options=None, providers=(), enable_fallback=1):
    """CPU sessions are real; sessions on a GPU provider are stand-ins."""
    names = [p[0] if isinstance(p, tuple) else p for p in providers]
    if names == [CPU]:
        return REAL_SESSION(source, sess_options=sess_options, providers=providers)
    return FakeGpuSession(source, sess_options, providers, enable_fallback)


@pytest.fixture
def gpu_here(monkeypatch):
    """A machine whose driver runs CUDA 13.0 and whose libraries all load, except those named
    in ``missing``; returns that set so a test can take libraries away."""
    missing: set[str] = set()
    driver = {"version": 13000}
    monkeypatch.setattr(
        gpu, "load_library", lambda name: f"{name}: absent" if name in missing else None
    )
    monkeypatch.setattr(gpu, "driver_cuda_version", lambda: driver["version"])
    monkeypatch.setattr(gpu, "build_cuda_version", lambda: "13.0")
    monkeypatch.setattr(gpu, "preload", lambda ort, tensorrt: ())
    monkeypatch.setattr(onnxruntime, "InferenceSession", _session_factory)
    monkeypatch.setattr(FakeGpuSession, "made", [])
    monkeypatch.setattr(FakeGpuSession, "got", None)
    monkeypatch.setattr(FakeGpuSession, "fail", None)
    return SimpleNamespace(missing=missing, driver=driver)


# -- provider options ----------------------------------------------------------------------------


def test_cuda_options_grow_the_arena_by_the_need_and_search_at_warm_up():
    options = cuda_options(GpuTuning())
    assert options["arena_extend_strategy"] == "kSameAsRequested"
    assert options["cudnn_conv_algo_search"] == "EXHAUSTIVE"
    assert options["prefer_nhwc"] is False
    assert cuda_options(GpuTuning(prefer_nhwc=True))["prefer_nhwc"] is True


def _trt_options(path: Path, tmp_path: Path, fp16: bool = True, **tuning) -> dict:
    config = EngineConfig(device="tensorrt", cache_dir=tmp_path / "cache")
    providers = gpu_provider_list(
        "tensorrt", config, read_model_info(path), sha256_file(path), fp16=fp16,
        tuning=GpuTuning(**tuning), frames_io=GpuTuning(**tuning).frames_io,
    )  # fmt: skip
    assert [p[0] if isinstance(p, tuple) else p for p in providers] == [TENSORRT, CUDA, CPU]
    return providers[0][1]


def test_tensorrt_cache_prefix_is_the_content_and_precision_not_the_name(tmp_path):
    # The same bytes under two paths share an engine; other bytes under the same name do not.
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(LITE, tmp_path / folder / "mosaic.onnx")
    other = tmp_path / "c" / "mosaic.onnx"
    other.parent.mkdir()
    shutil.copy(BUNDLED / "candy-lite.onnx", other)
    prefix = [
        _trt_options(p, tmp_path)["trt_engine_cache_prefix"]
        for p in (tmp_path / "a" / "mosaic.onnx", tmp_path / "b" / "mosaic.onnx", other)
    ]
    assert prefix[0] == prefix[1] != prefix[2]
    assert prefix[0] == f"realtime_{sha256_file(LITE)[:20]}_fp16_u8"
    fp32 = _trt_options(LITE, tmp_path, fp16=False)["trt_engine_cache_prefix"]
    assert fp32.endswith("_fp32_u8")
    assert _trt_options(LITE, tmp_path, frames_io=False, half_norms=True)[
        "trt_engine_cache_prefix"
    ].endswith("_fp16_f32-hn")
    options = _trt_options(LITE, tmp_path)
    assert options["trt_engine_cache_enable"] is True and options["trt_fp16_enable"] is True
    assert options["trt_engine_cache_path"] == str(tmp_path / "cache" / "tensorrt")


def _profile_dims(text: str) -> dict[str, list[int]]:
    return {
        name: [int(d) for d in dims.split("x")]
        for name, dims in (part.split(":") for part in text.split(","))
    }


@pytest.mark.parametrize("frames_io", [True, False])
@pytest.mark.parametrize("path", [LITE, MULTI], ids=["single", "multi-style"])
def test_tensorrt_profile_covers_every_size_the_clamp_allows(path, frames_io):
    info = read_model_info(path)
    profile = tensorrt_profile(info, frames_io)
    low, opt, high = (
        _profile_dims(profile[f"trt_profile_{k}_shapes"]) for k in ("min", "opt", "max")
    )
    if info.styles:  # the style input is in every shape, batch 1
        assert low["style"] == opt["style"] == high["style"] == [1, len(info.styles)]
    axes = (1, 2) if frames_io else (2, 3)
    assert low["input"][0] == high["input"][0] == 1
    assert (low["input"][3] if frames_io else low["input"][1]) == 3
    stylize = SimpleNamespace(max_side=TRT_MAX_SIDE)
    sources = [(3840, 2160), (2160, 3840), (1920, 1080), (1080, 1920), (640, 360), (3000, 400)]
    for size in (None, 360, 1080, 1920, 4000):
        processor = FrameProcessor(stylize, ProcessConfig(size=size))
        for width, height in sources:
            (w, h), _ = processor.sizes(width, height)
            for axis, side in zip(axes, (h, w), strict=True):
                if side >= info.min_side:  # smaller sides are refused before any frame
                    assert low["input"][axis] <= side <= high["input"][axis], (size, w, h)
    assert high["input"][axes[0]] == high["input"][axes[1]] == TRT_MAX_SIDE


def test_clamp_keeps_the_aspect_and_the_stylizer_refuses_beyond_the_engine():
    assert clamp_size((3840, 2160), 1920) == (1920, 1080)
    assert clamp_size((1000, 3000), 1920) == (640, 1920)
    assert clamp_size((800, 600), None) == (800, 600)


def test_an_unwritable_tensorrt_cache_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = EngineConfig(device="tensorrt", cache_dir=blocker)
    with pytest.raises(UserError, match="cannot create the TensorRT engine cache .*--cache-dir"):
        gpu_provider_list(
            "tensorrt", config, read_model_info(LITE), "0" * 64, fp16=True, tuning=GpuTuning(),
            frames_io=True,
        )  # fmt: skip


# -- sessions through the seams ------------------------------------------------------------------


def test_tensorrt_session_is_built_with_profile_and_prefix_and_run_once(gpu_here, tmp_path):
    session, provider = create_session(
        LITE, EngineConfig(device="tensorrt", cache_dir=tmp_path), fp16=True, announce=False
    )
    assert provider == TENSORRT and isinstance(session, FakeGpuSession)
    assert session.enable_fallback == 0  # ONNX Runtime's silent CPU fallback is off
    options = session.asked[0][1]
    assert options["trt_engine_cache_prefix"].startswith(f"realtime_{sha256_file(LITE)[:20]}")
    assert options["trt_profile_min_shapes"] == "input:1x16x16x3"
    assert options["trt_profile_max_shapes"] == f"input:1x{TRT_MAX_SIDE}x{TRT_MAX_SIDE}x3"
    assert isinstance(session.source, bytes)  # the graph wrapped for uint8 frames
    (smoke,) = session.runs  # one frame at the bottom of the profile, at creation
    assert smoke["input"].shape == (1, 16, 16, 3) and smoke["input"].dtype == np.uint8


def test_cuda_session_takes_float_tensors_when_asked(gpu_here):
    session, provider = create_session(
        MULTI, EngineConfig(device="cuda"), tuning=GpuTuning(frames_io=False), announce=False
    )
    assert provider == CUDA and session.source == str(MULTI)
    assert session.asked[0] == (CUDA, cuda_options(GpuTuning(frames_io=False)))
    smoke = session.runs[0]
    assert smoke["input"].dtype == np.float32 and smoke["style"].shape == (1, 4)


def _error(device: str = "cuda", path: Path = LITE) -> str:
    with pytest.raises(ProviderError) as info:
        create_session(path, EngineConfig(device=device), announce=False)
    message = str(info.value)
    assert message.startswith(f"--device {device}: ")
    assert message.endswith("; fix that or use --device cpu") and "\n" not in message
    return message


def test_no_driver(gpu_here):
    gpu_here.missing.add("libcuda.so.1")
    assert "no NVIDIA driver found (libcuda.so.1 cannot be loaded)" in _error()


def test_a_driver_too_old_for_the_wheel_is_named_with_the_version_needed(gpu_here):
    gpu_here.driver["version"] = 12040
    message = _error()
    assert "the NVIDIA driver runs CUDA up to 12.4" in message
    assert "this onnxruntime-gpu build needs CUDA 13.0" in message
    assert "update the NVIDIA driver to 580.65.06 or newer" in message


def test_missing_cuda_libraries_name_their_pip_packages(gpu_here):
    gpu_here.missing.update({"libcublasLt.so.13", "libcublas.so.13", "libcudnn.so.9"})
    message = _error()
    assert "cannot load libcublasLt.so.13, libcublas.so.13, libcudnn.so.9" in message
    assert "pip install 'nvidia-cublas~=13.0' 'nvidia-cudnn-cu13~=9.0'" in message


def test_missing_tensorrt_names_tensorrt_10_exactly(gpu_here):
    gpu_here.missing.update({"libnvinfer.so.10", "libnvonnxparser.so.10"})
    message = _error("tensorrt")
    assert "cannot load libnvinfer.so.10, libnvonnxparser.so.10" in message
    assert "pip install 'tensorrt-cu13-libs>=10.13,<11'" in message
    assert "TensorRT 10 exactly" in message
    # CUDA alone does not need TensorRT.
    assert create_session(LITE, EngineConfig(device="cuda"), announce=False)[1] == CUDA


def test_a_provider_onnx_runtime_skips_is_an_error_not_a_cpu_session(gpu_here):
    FakeGpuSession.got = [CPU]
    assert "ONNX Runtime could not initialise CUDAExecutionProvider" in _error()


def test_cudnn_failing_at_the_first_run_is_caught_at_creation(gpu_here):
    FakeGpuSession.fail = (
        "[ONNXRuntimeError] : 1 : FAIL : CUDNN failure 4: CUDNN_STATUS_INTERNAL_ERROR"
    )
    message = _error()
    assert "cuDNN failed at the first run on CUDAExecutionProvider (" in message
    assert "pip install 'nvidia-cudnn-cu13~=9.0'" in message
    FakeGpuSession.fail = "CUBLAS failure 3"
    assert "the first run on CUDAExecutionProvider failed (CUBLAS failure 3)" in _error()


def test_auto_falls_back_to_the_cpu_with_the_reason(gpu_here, caplog):
    gpu_here.missing.add("libcudnn.so.9")
    with caplog.at_level(logging.INFO, logger="realtime"):
        session, provider = create_session(LITE, EngineConfig(device="auto"), cpu_upcast=True)
    # On the CPU: OpenVINO where it is installed, else ONNX Runtime's CPU provider (the order
    # is tests/test_openvino_engine.py's).
    assert provider not in (CUDA, TENSORRT) and not isinstance(session, FakeGpuSession)
    assert session.get_providers() == [provider]
    assert (
        "CUDA not used: cannot load libcudnn.so.9; install with pip install "
        "'nvidia-cudnn-cu13~=9.0'; running on CPU" in caplog.text
    )


def test_preload_keeps_onnx_runtimes_stdout_to_itself(capsys):
    class Runtime:
        def preload_dlls(self):
            print("Failed to load libcudnn.so.9: cannot open shared object file")

    lines = gpu.preload(Runtime(), False)
    assert lines == ("Failed to load libcudnn.so.9: cannot open shared object file",)
    assert capsys.readouterr().out == ""


# -- warm-up, thread plan, memory ----------------------------------------------------------------


class GpuStylizer:
    """A stylizer on a GPU as the builder sees it: a provider, a bound, a warm-up."""

    def __init__(self, on_gpu: bool = True, max_side: int | None = None) -> None:
        self.on_gpu, self.max_side, self.stateless = on_gpu, max_side, True
        self.provider = CUDA if on_gpu else CPU
        self.info = SimpleNamespace(arch="transformer-net")
        self.warmed: list[tuple[int, int, str]] = []
        self.checked: list[tuple[int, int, int]] = []

    def check_memory(self, width: int, height: int, frames: int = 1) -> None:
        self.checked.append((width, height, frames))

    def warm_up(self, width: int, height: int) -> float:
        self.warmed.append((width, height, threading.current_thread().name))
        return 0.0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return frame


def test_warm_up_at_the_clamped_processing_size_and_not_for_a_still(caplog):
    stylizer = GpuStylizer(max_side=1920)
    with caplog.at_level(logging.INFO, logger="realtime"):
        check_processing_size(stylizer, ProcessConfig(), (3840, 2160), workers=2)
    assert stylizer.checked == [(1920, 1080, 2)] and stylizer.warmed[0][:2] == (1920, 1080)
    assert "stylizing at 1920x1080 instead of 3840x2160" in caplog.text
    still = GpuStylizer()
    build.build_processor(still, ProcessConfig(), source_size=(64, 48), still=True)
    assert still.checked == [(64, 48, 1)] and still.warmed == []


def test_video_settles_the_thread_plan_after_the_session(monkeypatch, tmp_path):
    from realtime.app import video

    clip = make_clip(tmp_path / "in.mp4", width=96, height=64, frames=3)
    made: list[GpuStylizer] = []

    def stylizer_for(config, exporter=None):
        made.append(GpuStylizer(on_gpu=config.engine.device != "cpu"))
        return made[-1], SimpleNamespace(name="fake")

    monkeypatch.setattr(video, "stylizer_for", stylizer_for)
    config = RunConfig(process=ProcessConfig(size=48))
    job = video.prepare_video(config, clip, tmp_path / "out.mp4", SimpleNamespace(exporter=None))
    # --device auto planned for the CPU (decode and x264 one thread each), landed on a GPU.
    assert build.throughput_plan(config).decode_threads == 1
    assert job.plan == build.ThreadPlan(None, GPU_FRAMES_IN_FLIGHT, 0, 0)
    assert job.workers == GPU_FRAMES_IN_FLIGHT and job.config.encode.threads == 0
    assert job.config.encode.preset == "superfast"
    assert made[0].warmed[0][:2] == (48, 32) and made[0].checked == [(48, 32, 2)]
    cpu = dataclasses.replace(config, engine=EngineConfig(device="cpu", threads=1))
    job = video.prepare_video(cpu, clip, tmp_path / "out.mp4", SimpleNamespace(exporter=None))
    assert job.plan == build.throughput_plan(cpu) and job.plan.decode_threads == 1


def test_settle_plan_keeps_the_cpu_plan_on_the_cpu():
    config = RunConfig(engine=EngineConfig(device="auto"))
    plan = build.throughput_plan(config, cores=4)
    assert settle_plan(plan, config, GpuStylizer(on_gpu=False)) == plan
    settled = settle_plan(plan, config, GpuStylizer())
    assert settled.inference_workers == GPU_FRAMES_IN_FLIGHT and settled.decode_threads == 0


def test_live_warms_up_at_start_and_in_the_style_loader(monkeypatch, tmp_path):
    from realtime.app.live import LiveSpec, open_live_session
    from realtime.core.config import CameraConfig, LiveConfig, LiveOutputsConfig

    calls: list[tuple[str, int, int, str]] = []

    def warm_up(self, width, height):
        calls.append((self.style_name, width, height, threading.current_thread().name))
        return 0.0

    monkeypatch.setattr(OnnxStylizer, "warm_up", warm_up)
    clip = make_clip(tmp_path / "camera.mp4", width=64, height=48, frames=30)
    spec = LiveSpec(
        run=RunConfig(style=str(LITE), arch="lite", engine=EngineConfig(device="cpu", threads=1)),
        camera=CameraConfig(camera=str(clip)),
        outputs=LiveOutputsConfig(window=False, snapshot_dir=tmp_path),
        live=LiveConfig(log_stats=False),
    )
    session = open_live_session(spec, SimpleNamespace(exporter=None))
    switcher = session.controls.switcher
    try:
        # The file names its style "mosaic"; the loader opens a name's lite network (--arch lite).
        assert calls == [("mosaic", 64, 48, threading.current_thread().name)]
        switcher.request_name("candy")
        deadline = time.perf_counter() + 60
        while switcher.poll() is None:
            assert time.perf_counter() < deadline, "the style never loaded"
            time.sleep(0.05)
        assert calls[1][:3] == ("candy-lite", 64, 48)
        assert calls[1][3] != threading.current_thread().name  # the loader's thread
    finally:
        switcher.close()
        session.source.close()


def test_gpu_memory_guard_checks_the_device_not_the_host(monkeypatch):
    stylizer = OnnxStylizer(LITE, EngineConfig(device="cpu", threads=1), announce=False)
    stylizer.on_gpu = True  # the check as a GPU session runs it
    monkeypatch.setattr(gpu, "device_memory", lambda index=0: (512 << 20, 8 << 30))
    with pytest.raises(UserError, match=r"on the GPU at 3840x2160 .* --size \d+ or less"):
        stylizer.check_memory(3840, 2160, 2)
    monkeypatch.setattr(gpu, "device_memory", lambda index=0: (70 << 30, 80 << 30))
    stylizer.check_memory(3840, 2160, 2)
    monkeypatch.setattr(gpu, "device_memory", lambda index=0: None)
    stylizer.check_memory(3840, 2160, 2)  # NVML cannot say: no check rather than a guess


def test_the_stylizer_refuses_frames_beyond_its_engine():
    stylizer = OnnxStylizer(LITE, EngineConfig(device="cpu", threads=1), announce=False)
    stylizer.max_side = 64
    with pytest.raises(UserError, match="larger than the TensorRT engine's 64 px .*--size 64"):
        stylizer(np.zeros((48, 80, 3), np.uint8))


# -- graph variants and device buffers, for real on the CPU ---------------------------------------


def _frame(height: int = 40, width: int = 56, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("path", [LITE, MULTI], ids=["single", "multi-style"])
def test_frames_in_graph_matches_the_host_conversion_exactly(path):
    model = frames_in_graph(onnx.load_from_string(upcast_to_fp32(path)))
    onnx.checker.check_model(model, full_check=True)
    session = REAL_SESSION(model.SerializeToString(), providers=[CPU])
    (image,) = [i for i in session.get_inputs() if i.name == "input"]
    assert image.type == "tensor(uint8)" and session.get_outputs()[0].type == "tensor(uint8)"
    frame = _frame()
    feed = {"input": frame[np.newaxis]}
    stylizer = OnnxStylizer(path, EngineConfig(device="cpu", threads=1), announce=False)
    if stylizer.styles:
        feed["style"] = np.eye(len(stylizer.styles), dtype=np.float32)[:1]
    assert np.array_equal(session.run(None, feed)[0][0], stylizer(frame))


@pytest.mark.parametrize("path", [LITE, MULTI], ids=["single", "multi-style"])
def test_half_instance_norm_drops_the_casts_and_stays_close(path):
    model = onnx.load(str(path))
    half = half_instance_norm(model)
    onnx.checker.check_model(half, full_check=True)
    produced = {out: node for node in half.graph.node for out in node.output}
    norms = [n for n in half.graph.node if n.op_type == "InstanceNormalization"]
    assert norms and all(produced[n.input[0]].op_type != "Cast" for n in norms)
    casts = sum(n.op_type == "Cast" for n in model.graph.node)
    assert sum(n.op_type == "Cast" for n in half.graph.node) <= casts - 2 * len(norms)
    frame = _frame()
    feed = {"input": frame.transpose(2, 0, 1)[np.newaxis].astype(np.float32)}
    if read_model_info(path).styles:
        feed["style"] = np.eye(4, dtype=np.float32)[:1]
    before = REAL_SESSION(model.SerializeToString(), providers=[CPU]).run(None, feed)[0]
    after = REAL_SESSION(half.SerializeToString(), providers=[CPU]).run(None, feed)[0]
    assert float(np.abs(after - before).mean()) < 1.0
    fp32 = onnx.load_from_string(upcast_to_fp32(path))
    assert len(half_instance_norm(fp32).graph.node) == len(fp32.graph.node)  # nothing to do


def test_device_frames_reuse_buffers_per_thread_and_size():
    session = REAL_SESSION(upcast_to_fp32(LITE), providers=[CPU])
    frames = DeviceFrames(session, "input", "output", device="cpu")

    def tensor(height, width, seed=0):
        return np.ascontiguousarray(
            _frame(height, width, seed).transpose(2, 0, 1)[None], np.float32
        )

    first = tensor(32, 48)
    expected = session.run(None, {"input": first})[0]
    assert np.array_equal(frames.run(first), expected)
    buffers = frames._local.buffers
    second = tensor(32, 48, seed=1)
    assert np.array_equal(frames.run(second), session.run(None, {"input": second})[0])
    assert frames._local.buffers is buffers  # same size: the same device buffers
    frames.run(tensor(40, 40))
    assert frames._local.buffers is not buffers
    seen = []
    thread = threading.Thread(target=lambda: seen.append(frames.run(first)))
    thread.start()
    thread.join()
    assert np.array_equal(seen[0], expected)


def test_style_switcher_keeps_a_bounded_number_of_sessions():
    names = [f"style{i}" for i in range(6)]
    switcher = StyleSwitcher(names, "style0", object(), lambda name: object(), max_loaded=3)
    try:
        for step in range(1, 8):
            switcher.request(1)
            deadline = time.perf_counter() + 10
            while switcher.poll() is None:
                assert time.perf_counter() < deadline
                time.sleep(0.01)
            assert len(switcher.loaded) <= 3 and switcher.current in switcher.loaded
            assert switcher.current == names[step % 6]
        assert switcher.loaded == ["style5", "style0", "style1"]  # least recently used first
    finally:
        switcher.close()
