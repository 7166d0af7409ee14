"""fp16-stored style networks run as float32 on the CPU provider (realtime.precision)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto

from export.onnx_export import ClippedStyleNet
from realtime.cli.wiring import export_pth
from realtime.core.config import EngineConfig
from realtime.core.errors import UserError
from realtime.runtime.engine import OnnxStylizer
from realtime.runtime.precision import upcast_to_fp32


@pytest.fixture(scope="module")
def fp16_onnx(style_pth, tmp_path_factory):
    return export_pth(style_pth, tmp_path_factory.mktemp("fp16") / "half.onnx", fp16=True)


def _float16_tensors(model: onnx.ModelProto) -> list[str]:
    graph = model.graph
    found = [i.name for i in graph.initializer if i.data_type == TensorProto.FLOAT16]
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT16:
                found.append(node.name or node.output[0])
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT16:
                found.append(node.output[0])
    return found


@pytest.mark.slow
def test_upcast_leaves_no_float16_and_keeps_the_weights_exactly(fp16_onnx):
    original = onnx.load(str(fp16_onnx.onnx_path))
    assert _float16_tensors(original)  # the stored model really is fp16
    upcast = onnx.ModelProto.FromString(upcast_to_fp32(fp16_onnx.onnx_path))
    assert _float16_tensors(upcast) == []
    onnx.checker.check_model(upcast)
    before = {i.name: onnx.numpy_helper.to_array(i) for i in original.graph.initializer}
    for init in upcast.graph.initializer:
        if before[init.name].dtype not in (np.float16, np.float32):
            continue  # shapes and pads
        after = onnx.numpy_helper.to_array(init)
        assert after.dtype == np.float32
        assert np.array_equal(after, before[init.name].astype(np.float32))


@pytest.mark.slow
def test_fp16_model_on_cpu_computes_like_torch_with_the_rounded_weights(fp16_onnx, style_net):
    stylizer = OnnxStylizer(fp16_onnx.onnx_path, EngineConfig(device="cpu"), announce=False)
    assert stylizer.info.precision == "fp16"
    # The float32 reference: torch with the weights rounded to float16 exactly as stored.
    rounded = type(style_net)()
    rounded.load_state_dict(style_net.state_dict())
    with torch.no_grad():
        for name, param in rounded.named_parameters():
            if not name.startswith(("in", "res")) or "conv" in name:
                param.copy_(param.half().float())
    frame = np.random.default_rng(5).integers(0, 256, (45, 61, 3), dtype=np.uint8)
    with torch.inference_mode():
        x = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
        expected = ClippedStyleNet(rounded.eval())(x)[0].permute(1, 2, 0).numpy()
    diff = np.abs(stylizer(frame).astype(np.float32) - expected)
    # Rounding to uint8 only: a float16 graph would be off by several levels here.
    assert diff.max() <= 1.0


def test_upcast_of_a_non_model_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(UserError, match="cannot read .* as an ONNX model"):
        upcast_to_fp32(bad)
