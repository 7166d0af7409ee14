"""The ONNX Runtime session factory and OnnxStylizer, on real CPU sessions."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from export.onnx_export import ClippedStyleNet
from realtime.core.config import EngineConfig
from realtime.core.errors import ProviderError, UserError
from realtime.core.log import setup_logging
from realtime.runtime import engine, gpu
from realtime.runtime.engine import CPU, OnnxStylizer, create_session

CPU_CONFIG = EngineConfig(device="cpu", threads=2)


@pytest.fixture(autouse=True)
def notices_on_stderr() -> None:
    """The notices these tests read from stderr are what a CLI run prints: its logging, set
    up here so the file passes on its own, not only after a test that ran the CLI."""
    setup_logging(0)


@pytest.fixture(scope="module")
def stylizer(style_onnx):
    return OnnxStylizer(style_onnx, CPU_CONFIG, announce=False)


def _no_gpu_here() -> str | None:
    """Why this machine has no usable NVIDIA GPU (None when it may have one)."""
    return gpu.driver_problem()


def _save(tmp_path, name, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
    # IR 10: what torch writes and every supported ONNX Runtime reads (onnx 1.23 defaults to 14).
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _image(name, channels, height="h", width="w"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", channels, height, width])


@pytest.mark.parametrize(("height", "width"), [(97, 131), (50, 33), (8, 8), (64, 64)])
def test_stylizer_returns_same_size_uint8_frames(stylizer, height, width):
    frame = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = stylizer(frame)
    assert out.dtype == np.uint8 and out.shape == (height, width, 3)
    assert out.flags.c_contiguous


def test_stylizer_matches_torch_within_rounding(stylizer, style_net):
    frame = np.random.default_rng(0).integers(0, 256, (61, 83, 3), dtype=np.uint8)
    with torch.inference_mode():
        tensor = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
        expected = ClippedStyleNet(style_net)(tensor)[0].permute(1, 2, 0).numpy()
    out = stylizer(frame)
    diff = np.abs(out.astype(np.float32) - expected)
    assert diff.max() <= 1.0
    assert out.std() > 20  # a real picture came back, not a flat or clipped one


def test_stages_compose_to_call(stylizer):
    frame = np.random.default_rng(3).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    tensor = stylizer.preprocess(frame)
    assert tensor.dtype == np.float32 and tensor.shape == (1, 3, 40, 52)
    assert np.array_equal(tensor[0, :, 5, 7], frame[5, 7].astype(np.float32))  # RGB order kept
    raw = stylizer.infer(tensor)
    assert raw.shape == (1, 3, 40, 52) and raw.dtype == np.float32
    assert np.array_equal(stylizer.postprocess(raw), stylizer(frame))


def test_stylizer_attributes(stylizer, style_onnx):
    assert stylizer.provider == CPU
    assert stylizer.style_name == "testy"
    assert stylizer.model_path == style_onnx
    assert stylizer.info.precision == "fp32"
    assert stylizer.min_side == 8


def test_cpu_session_settings(style_onnx, capsys):
    session, provider = create_session(style_onnx, EngineConfig(device="cpu", threads=1))
    options = session.get_session_options()
    assert provider == CPU and session.get_providers() == [CPU]
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert "on CPUExecutionProvider, 1 threads" in capsys.readouterr().err


def test_auto_falls_back_to_cpu_and_says_why(style_onnx, capsys):
    reason = _no_gpu_here()
    if reason is None:
        pytest.skip("this machine has an NVIDIA driver; the no-GPU path cannot be checked here")
    # The CPU engine auto takes next: OpenVINO where installed (tests/test_openvino_engine.py
    # checks it), else ONNX Runtime's CPU provider, which --device cpu forces.
    _, provider = create_session(style_onnx, EngineConfig(device="auto"))
    err = capsys.readouterr().err
    assert f"CUDA not used: {reason}; running on CPU" in err
    if importlib.util.find_spec("openvino") is not None:
        assert provider == "OpenVINO CPU (fp32)" and "OpenVINO " in err
    else:
        assert provider == CPU and "on CPUExecutionProvider" in err


@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_gpu_device_without_gpu_raises_provider_error(style_onnx, device):
    reason = _no_gpu_here()
    if reason is None:
        pytest.skip("this machine has an NVIDIA driver; the no-GPU error cannot be checked here")
    with pytest.raises(ProviderError) as info:
        OnnxStylizer(style_onnx, EngineConfig(device=device), announce=False)
    message = str(info.value)
    assert message.startswith(f"--device {device}: ")
    assert reason in message and "use --device cpu" in message
    assert "\n" not in message


def test_bad_engine_settings(style_onnx):
    with pytest.raises(UserError, match="unknown device 'npu'"):
        create_session(style_onnx, EngineConfig(device="npu"))
    with pytest.raises(UserError, match="--threads must be at least 1"):
        create_session(style_onnx, EngineConfig(device="cpu", threads=0))


def test_tensorrt_cache_dir(tmp_path):
    assert engine.tensorrt_cache_dir(EngineConfig(cache_dir=tmp_path)) == tmp_path / "tensorrt"
    default = engine.tensorrt_cache_dir(EngineConfig())
    assert default.parts[-2:] == ("realtime", "tensorrt")


def test_frames_the_network_cannot_take(stylizer):
    with pytest.raises(UserError, match="smaller than the style network's minimum side 8"):
        stylizer(np.zeros((7, 100, 3), np.uint8))
    with pytest.raises(UserError, match="uint8"):
        stylizer(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(UserError, match="3 channels"):
        stylizer(np.zeros((32, 32, 4), np.uint8))


def test_not_an_onnx_file(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n" * 10)
    with pytest.raises(UserError, match="is not an ONNX model"):
        OnnxStylizer(text, CPU_CONFIG, announce=False)
    with pytest.raises(UserError, match="model file not found"):
        OnnxStylizer(tmp_path / "missing.onnx", CPU_CONFIG, announce=False)


def test_models_that_are_not_style_networks(tmp_path):
    one_channel = _save(
        tmp_path,
        "gray",
        [helper.make_node("Relu", ["x"], ["y"])],
        [_image("x", 1)],
        [_image("y", 1)],
    )
    two_inputs = _save(
        tmp_path,
        "two",
        [helper.make_node("Add", ["a", "b"], ["y"])],
        [_image("a", 3), _image("b", 3)],
        [_image("y", 3)],
    )
    fixed = _save(
        tmp_path,
        "fixed",
        [helper.make_node("Relu", ["x"], ["y"])],
        [_image("x", 3, 224, 224)],
        [_image("y", 3, 224, 224)],
    )
    cases = [
        (one_channel, "has 1 channels, not 3"),
        (two_inputs, "2 input\\(s\\) and 1 output\\(s\\)"),
        (fixed, "fixed size 224x224"),
    ]
    for path, message in cases:
        with pytest.raises(UserError, match=message):
            OnnxStylizer(path, CPU_CONFIG, announce=False)


def test_model_without_metadata_is_assumed_to_follow_the_convention(tmp_path, capsys):
    # A "style network" that inverts the image: fits the shapes but carries no metadata.
    path = _save(
        tmp_path,
        "invert",
        [helper.make_node("Sub", ["c255", "x"], ["y"])],
        [_image("x", 3)],
        [_image("y", 3)],
        [helper.make_tensor("c255", TensorProto.FLOAT, [], [255.0])],
    )
    stylizer = OnnxStylizer(path, CPU_CONFIG)
    err = capsys.readouterr().err
    assert "has no realtime metadata: assuming the convention" in err
    assert stylizer.style_name == "invert" and stylizer.info.precision is None
    frame = np.random.default_rng(4).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(stylizer(frame), 255 - frame)


def test_postprocess_rounds_saturates_and_keeps_channel_order(stylizer):
    tensor = np.zeros((1, 3, 2, 3), dtype=np.float32)
    tensor[0, 0, 0] = (-3.0, 127.4, 127.6)  # negative -> 0, not mirrored to 3
    tensor[0, 1, 0] = (300.0, 254.9, 0.2)
    tensor[0, 2, 1] = (10.0, 20.0, 30.0)
    out = stylizer.postprocess(tensor)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3) and out.flags.c_contiguous
    assert out[0, :, 0].tolist() == [0, 127, 128]
    assert out[0, :, 1].tolist() == [255, 255, 0]
    assert out[1, :, 2].tolist() == [10, 20, 30]
    assert out[1, :, :2].max() == 0
