"""``benchmarks/gpu_check.py``'s own logic on a machine without a GPU: its early exit, its
plan under the deadline, its outputs, and its measurements run on the CPU provider (the
device calls take "cpu" where the real run says "cuda")."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from realtime.core.model_io import read_model_info

REPO = Path(__file__).resolve().parents[1]
LITE = REPO / "realtime" / "bundled_styles" / "mosaic-lite.onnx"


@pytest.fixture
def check(monkeypatch):
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", module)  # its dataclasses look it up there
    spec.loader.exec_module(module)
    # Small frames and few runs: the CPU measures the same code in seconds.
    monkeypatch.setattr(module, "SIZES", {"360p": (64, 48), "720p": (96, 64), "1080p": (128, 72)})
    monkeypatch.setattr(module, "MODEL_FRAMES", 2)
    monkeypatch.setattr(module, "VIDEO_FRAMES", 6)
    monkeypatch.setattr(module, "CAMERA_FRAMES", 12)
    return module


def _machine(cuda=None, tensorrt=None) -> dict:
    return {"gpu_name": "Test GPU", "onnxruntime": "1.31.1", "onnxruntime_cuda": "13.0",
            "driver_cuda": "13.0", "cuda_problem": cuda, "tensorrt_problem": tensorrt}  # fmt: skip


def test_no_usable_gpu_exits_before_measuring(check, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(check, "probe", lambda: _machine(cuda="no NVIDIA driver found (x)"))
    monkeypatch.setattr(check, "model_files", lambda folder: pytest.fail("measured anyway"))
    out = tmp_path / "gpu.json"
    assert check.main(["--out", str(out)]) == 1
    assert "gpu_check: no usable GPU: no NVIDIA driver found (x); nothing measured" in (
        capsys.readouterr().err
    )
    report = json.loads(out.read_text())
    assert report["machine"]["cuda_problem"] == "no NVIDIA driver found (x)"
    assert report["configs"] == [] and out.with_suffix(".md").is_file()


class FakeClock:
    """Each step takes ``step`` seconds of a deadline of ``seconds``."""

    def __init__(self, check, seconds: float, step: float) -> None:
        self.time, self.step = 0.0, step
        self.clock = check.Clock(seconds=seconds, now=lambda: self.time)


def test_the_plan_puts_the_shipped_default_first_and_lists_what_did_not_fit(
    check, monkeypatch, tmp_path
):
    monkeypatch.setattr(check, "probe", lambda: _machine())
    fake = FakeClock(check, seconds=450.0, step=40.0)
    done: list[str] = []

    def step(kind):
        def run(provider, *args, **kwargs):
            fake.time += fake.step
            if kind == "config":
                done.append(f"{provider} {args[0]} {args[1]}")
                size = {"first_frame_s": 1.0, "model_only_fps": 9.0, "frame_in_out_fps": 8.0}
                return {"provider": provider, "network": args[0], "precision": args[1],
                        "session_cold_s": 30.0, "session_warm_s": 1.0, "gpu_memory_mb": 500,
                        "sizes": {"720p": size},
                        "parity_360p": {"mean_abs": 0.4, "p99_abs": 3.0, "ok": True}}  # fmt: skip
            done.append(f"{kind} {provider}")
            return {"kind": kind, "provider": provider, "network": "mosaic", "size": args[1],
                    "fps": 30.0}  # fmt: skip

        return run

    steps = check.Steps(step("config"), step("video"), step("webcam"), step("variant"))
    out = tmp_path / "gpu.json"
    assert check.main(["--out", str(out)], steps=steps, clock=fake.clock) == 0
    assert done == [
        "cuda mosaic fp16", "tensorrt mosaic fp16", "cuda mosaic-lite fp16",
        "tensorrt mosaic-lite fp16", "video cuda", "webcam cuda", "video tensorrt",
        "webcam tensorrt", "cuda paintings fp16", "tensorrt paintings fp16", "cuda mosaic fp32",
    ]  # fmt: skip
    report = json.loads(out.read_text())
    # 10 s were left: too little for a TensorRT build (90 s) or anything else (20 s).
    assert report["not_run"][0] == "tensorrt mosaic fp32: deadline"
    assert all(item.endswith(": deadline") for item in report["not_run"])
    assert len(report["configs"]) == 7 and len(report["end_to_end"]) == 4
    table = out.with_suffix(".md").read_text()
    row = "| cuda | mosaic | fp16 | 720p | 30.0 | 1.0 | 1.0 | 9.0 | 8.0 | 0.4 / 3.0 | 500 |"
    assert row in table and "Not run (deadline): tensorrt mosaic fp32" in table


def test_a_failing_step_is_a_result(check, monkeypatch, tmp_path):
    monkeypatch.setattr(check, "probe", lambda: _machine(tensorrt="no TensorRT"))

    def broken(*args, **kwargs):
        raise RuntimeError("CUDNN failure 4")

    steps = check.Steps(broken, broken, broken, broken)
    out = tmp_path / "gpu.json"
    assert check.main(["--out", str(out)], steps=steps) == 0
    report = json.loads(out.read_text())
    assert report["configs"][0] == {"step": "cuda mosaic fp16", "error": "CUDNN failure 4"}
    assert not any("tensorrt" in row["step"] for row in report["configs"])
    assert "failed: CUDNN failure 4" in out.with_suffix(".md").read_text()


def test_fp32_copies_say_fp32(check, tmp_path):
    files = check.model_files(tmp_path)
    assert set(files) == {(n, p) for n in check.NETWORKS for p in ("fp16", "fp32")}
    info = read_model_info(files[("mosaic-lite", "fp32")])
    assert info.precision == "fp32"
    weights = onnx.load(str(files[("mosaic-lite", "fp32")])).graph.initializer
    assert all(w.data_type != onnx.TensorProto.FLOAT16 for w in weights)


def test_the_measurements_run_on_the_cpu_provider(check, tmp_path):
    row = check.measure_config("cpu", "mosaic-lite", "fp16", LITE, tmp_path, device="cpu")
    assert row["session_provider"] == "CPUExecutionProvider"
    assert set(row["sizes"]) == {"360p", "720p", "1080p"}
    assert all(cell["model_only_fps"] > 0 for cell in row["sizes"].values())
    assert row["parity_360p"]["ok"] and row["parity_360p"]["max_abs"] == 0  # the same provider
    assert row["session_warm_s"] >= 0 and row["gpu_memory_mb"] is None
    video = check.measure_video("cpu", LITE, "360p", tmp_path / "cache", tmp_path)
    assert video["kind"] == "video" and video["fps"] > 0
    webcam = check.measure_webcam("cpu", LITE, "360p", tmp_path / "cache", tmp_path)
    assert webcam["kind"] == "webcam" and webcam["fps"] > 0


def test_parity_flags_a_picture_that_is_off(check):
    base = np.full((8, 8, 3), 100, np.uint8)
    assert check.parity(base, base)["ok"]
    assert not check.parity(base + 40, base)["ok"]
