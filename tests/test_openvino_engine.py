"""The OpenVINO engine on the bundled networks, for real: its float32 output against ONNX
Runtime's, its bf16 output within its bound where the CPU computes bf16 natively, the
precision each style gets, the order ``--device auto`` tries the engines in (the NVIDIA GPU
faked at its seam, as in test_gpu_path, since it cannot exist here), and the one line a
missing or refused engine gets.

Tolerances, in 8-bit levels of the network's float output at 320x240 (the demo clip's first
frame; measured on the development CPU, OpenVINO 2026.4.1): float32 differs from ONNX Runtime
by at most 0.014 (bound 0.05: the same arithmetic in another order); bf16 by 0.18-0.82 on
average and 1.2-6.6 at the 99th percentile (bounds 1.5 and 10: an 8-bit mantissa).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

pytest.importorskip("openvino")

from test_gpu_path import FakeGpuSession, gpu_here  # noqa: E402, F401 - the GPU seam

from realtime.core.config import EngineConfig  # noqa: E402
from realtime.core.errors import EXIT_USAGE, UserError  # noqa: E402
from realtime.runtime import openvino_engine  # noqa: E402
from realtime.runtime.engine import CPU, CUDA, OnnxStylizer  # noqa: E402
from realtime.runtime.openvino_engine import (  # noqa: E402
    OpenVinoSession,
    card_allows_bf16,
    choose_precision,
    has_native_bf16,
)

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "realtime" / "bundled_styles"
FP32_MAX_LEVELS = 0.05
BF16_MEAN_LEVELS, BF16_P99_LEVELS = 1.5, 10.0
NO_BF16 = "this CPU has no native bf16 (OpenVINO does not list BF16)"


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    with av.open(str(REPO / "realtime" / "demo" / "realshort.mp4")) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def _outputs(network: str, precision: str, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ONNX Runtime's float output, OpenVINO's) for ``frame``, the second style where the
    network mixes several (its style input, not only the default row)."""
    path = BUNDLED / f"{network}.onnx"
    stylizers = [
        OnnxStylizer(path, EngineConfig(device="cpu"), announce=False),
        OnnxStylizer(path, EngineConfig(device="openvino", precision=precision), announce=False),
    ]
    outputs = []
    for stylizer in stylizers:
        if stylizer.styles:
            stylizer.set_mix({stylizer.styles[1]: 1.0})
        outputs.append(stylizer.infer(stylizer.preprocess(frame)))
    assert stylizers[1].engine == "openvino" and stylizers[1].precision == precision
    return outputs[0], outputs[1]


@pytest.mark.parametrize("network", ["mosaic-lite", "paintings-lite", "candy"])
def test_fp32_matches_onnx_runtime(network: str, frame: np.ndarray) -> None:
    reference, output = _outputs(network, "fp32", frame)
    assert output.shape == reference.shape == (1, 3, *frame.shape[:2])
    assert np.abs(output - reference).max() <= FP32_MAX_LEVELS


@pytest.mark.skipif(not has_native_bf16(), reason=NO_BF16)
@pytest.mark.parametrize("network", ["mosaic-lite", "paintings-lite", "candy"])
def test_bf16_within_its_bound(network: str, frame: np.ndarray) -> None:
    reference, output = _outputs(network, "bf16", frame)
    difference = np.abs(output - reference)
    assert difference.mean() <= BF16_MEAN_LEVELS
    assert np.percentile(difference, 99) <= BF16_P99_LEVELS


@pytest.mark.slow
@pytest.mark.parametrize("network", ["mosaic", "paintings", "udnie-lite", "rain-princess-lite"])
def test_every_other_network_in_fp32_and_bf16(network: str, frame: np.ndarray) -> None:
    reference, output = _outputs(network, "fp32", frame)
    assert np.abs(output - reference).max() <= FP32_MAX_LEVELS
    if has_native_bf16():
        difference = np.abs(_outputs(network, "bf16", frame)[1] - reference)
        assert difference.mean() <= BF16_MEAN_LEVELS
        assert np.percentile(difference, 99) <= BF16_P99_LEVELS


def test_sizes_batches_and_threads(frame: np.ndarray) -> None:
    """Any size (one compiled shape each), a batch, and several threads at once, each with
    its own infer request: the same frames as one thread gives."""
    stylizer = OnnxStylizer(
        BUNDLED / "mosaic-lite.onnx", EngineConfig(device="openvino", threads=1), announce=False
    )
    session = stylizer.session
    assert isinstance(session, OpenVinoSession) and session.streams >= 1
    for height, width in ((64, 96), (100, 60), (240, 320)):
        assert stylizer(np.ascontiguousarray(frame[:height, :width])).shape == (height, width, 3)
    batch = np.repeat(stylizer.preprocess(frame), 2, axis=0)
    assert stylizer.infer(batch).shape == (2, 3, *frame.shape[:2])
    alone = stylizer(frame)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(stylizer(frame))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and all(np.array_equal(r, alone) for r in results)


def test_a_graph_that_takes_uint8_frames(tmp_path: Path, frame: np.ndarray) -> None:
    """What ``realtime export --io uint8`` writes: uint8 NHWC frames in and out, the
    conversion in the graph; OpenVINO runs it as it is, as ONNX Runtime does."""
    import onnx

    from realtime.runtime.gpu_graph import frames_in_graph
    from realtime.runtime.precision import upcast_to_fp32

    model = frames_in_graph(onnx.load_from_string(upcast_to_fp32(BUNDLED / "mosaic-lite.onnx")))
    path = tmp_path / "frames.onnx"
    onnx.save(model, str(path))
    made = [
        OnnxStylizer(path, EngineConfig(device=d, precision="fp32"), announce=False)
        for d in ("cpu", "openvino")
    ]
    assert all(s.frames_io for s in made) and made[1].engine == "openvino"
    reference, output = (s(frame).astype(np.int16) for s in made)
    assert output.shape == frame.shape and np.abs(output - reference).max() <= 1


def test_precision_is_chosen_by_the_cpu_and_the_card() -> None:
    assert choose_precision("auto", True, True)[0] == "bf16"
    assert choose_precision("auto", True, None) == (
        "fp32",
        "this style's card has no bf16 check (scripts/check_bf16.py)",
    )
    assert choose_precision("auto", True, False)[0] == "fp32"
    assert choose_precision("auto", False, True)[0] == "fp32"
    assert choose_precision("fp32", True, True)[0] == "fp32"
    assert choose_precision("bf16", True, False)[0] == "bf16"  # asked for: the user's call
    with pytest.raises(UserError, match="no native bf16"):
        choose_precision("bf16", False, True)


def test_every_bundled_card_records_its_bf16_check() -> None:
    from realtime.core.cards import read_card

    for path in sorted(BUNDLED.glob("*.onnx")):
        assert card_allows_bf16(read_card(path)) is not None, path.name
    assert card_allows_bf16(None) is None and card_allows_bf16({"bf16": {}}) is None


@pytest.mark.skipif(not has_native_bf16(), reason=NO_BF16)
def test_auto_runs_checked_styles_in_bf16_and_user_styles_in_fp32(tmp_path: Path) -> None:
    bundled = OnnxStylizer(BUNDLED / "mosaic-lite.onnx", EngineConfig(), announce=False)
    assert bundled.engine == "openvino" and bundled.precision == "bf16"
    # The same network as a user's file without a card: never checked, so fp32.
    user = tmp_path / "mine.onnx"
    user.write_bytes((BUNDLED / "mosaic-lite.onnx").read_bytes())
    assert OnnxStylizer(user, EngineConfig(), announce=False).precision == "fp32"


def test_auto_prefers_a_working_nvidia_gpu(gpu_here, caplog) -> None:  # noqa: F811
    """CUDA keeps its priority: with a GPU at the seam, auto never reaches OpenVINO."""
    with caplog.at_level(logging.INFO, logger="realtime"):
        stylizer = OnnxStylizer(BUNDLED / "mosaic-lite.onnx", EngineConfig(), announce=True)
    assert stylizer.provider == CUDA and stylizer.on_gpu
    assert isinstance(stylizer.session, FakeGpuSession)
    assert "OpenVINO" not in caplog.text


def test_auto_without_a_gpu_takes_openvino_and_says_so(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="realtime"):
        stylizer = OnnxStylizer(BUNDLED / "mosaic-lite.onnx", EngineConfig(), announce=True)
    assert stylizer.engine == "openvino" and not stylizer.on_gpu
    notes = [r.getMessage() for r in caplog.records]
    assert any(n.startswith("CUDA not used: ") for n in notes)
    assert any(n.startswith(f"OpenVINO {openvino_engine.version()} on CPU, ") for n in notes)


def test_precision_for_an_engine_that_cannot_honour_it() -> None:
    with pytest.raises(UserError, match="--precision bf16 chooses OpenVINO's precision"):
        OnnxStylizer(BUNDLED / "mosaic-lite.onnx", EngineConfig(device="cpu", precision="bf16"))
    # fp32 on ONNX Runtime's CPU provider is what it does anyway.
    assert (
        OnnxStylizer(
            BUNDLED / "mosaic-lite.onnx",
            EngineConfig(device="cpu", precision="fp32"),
            announce=False,
        ).provider
        == CPU
    )


_WITHOUT_OPENVINO = (
    "import sys; sys.modules['openvino'] = None; "  # Python's "cannot be imported"
    "from realtime.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("device", ["openvino", "auto"])
def test_without_openvino(device: str, tmp_path: Path, frame: np.ndarray) -> None:
    """Forced: one error line with the install hint. auto: one note, then ONNX Runtime."""
    import cv2

    photo, out = tmp_path / "photo.png", tmp_path / "out.png"
    cv2.imwrite(str(photo), frame[:64, :96])
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OPENVINO, "image", str(photo), str(out),
         "--style", "mosaic-lite", "--device", device],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    lines = result.stderr.strip().splitlines()
    hint = 'pip install "realtime-style-transfer[openvino]"'
    if device == "openvino":
        assert result.returncode == EXIT_USAGE and len(lines) == 1, result.stderr
        assert lines[0].startswith("realtime: error: the OpenVINO engine needs openvino")
        assert hint in lines[0]
    else:
        assert result.returncode == 0, result.stderr
        assert any(line.startswith("realtime: OpenVINO not used: ") and hint in line
                   for line in lines), result.stderr  # fmt: skip
        assert "on CPUExecutionProvider" in result.stdout + result.stderr


# -- an Intel GPU, which cannot exist here: OpenVINO's Core faked at its device list --------------


class _IntelGpuCore:
    """OpenVINO's Core with a "GPU" device beside the real CPU: a GPU network answers zeros
    after ``delay`` seconds, or fails to compile with ``fail``."""

    def __init__(self, delay: float, fail: bool = False) -> None:
        self.real, self.delay, self.fail = openvino_engine._core(), delay, fail
        self.available_devices = ["CPU", "GPU"]

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def compile_model(self, model, device, properties):
        if device != "GPU":
            return self.real.compile_model(model, device, properties)
        if self.fail:
            raise RuntimeError("GPU plugin: clGetPlatformIDs failed")
        core = self

        class Request:
            def infer(self, feed, **kwargs):
                time.sleep(core.delay)
                return [np.zeros_like(feed["input"])]

        return type("Compiled", (), {"create_infer_request": lambda self: Request()})()


@pytest.mark.parametrize(("delay", "fail", "device"), [(0.0, False, "GPU"), (0.2, False, "CPU"),
                                                       (0.0, True, "CPU")])  # fmt: skip
def test_an_intel_gpu_is_taken_only_where_a_probe_finds_it_faster(
    monkeypatch, delay: float, fail: bool, device: str
) -> None:
    core = _IntelGpuCore(delay, fail)
    monkeypatch.setattr(openvino_engine, "_core", lambda: core)
    stylizer = OnnxStylizer(
        BUNDLED / "mosaic-lite.onnx", EngineConfig(device="openvino"), announce=False
    )
    assert stylizer.session.device == device and stylizer.engine == "openvino"
    assert not stylizer.on_gpu  # an Intel GPU keeps the CPU's thread plan and host buffers


def test_openvino_sends_no_telemetry() -> None:
    # Reading an ONNX model would load openvino_telemetry, whose thread forks a sender.
    code = (
        "import sys, threading\n"
        "from realtime.runtime.openvino_engine import import_openvino\n"
        "ov = import_openvino()\n"
        f"ov.Core().read_model({str(BUNDLED / 'mosaic-lite.onnx')!r})\n"
        "assert sys.modules.get('openvino_telemetry') is None, 'telemetry loaded'\n"
        "assert threading.active_count() == 1, [t.name for t in threading.enumerate()]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
