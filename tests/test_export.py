"""torch -> ONNX export: graph shape, metadata, parity with torch, fp16, CLI and bad input."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from fixtures_models import TEST_CARD, make_test_net

from export.onnx_export import OPSET, ClippedStyleNet, convert_to_fp16, export_model
from export.verify import PARITY_SIZES, RELATIVE_TOLERANCE, ParityError, check_parity
from models.transformer_net import MIN_SIDE
from realtime.cli.main import main
from realtime.cli.wiring import parity_session
from realtime.core import model_io
from realtime.core.errors import UserError
from realtime.core.files import sha256_file


def _run_onnx(path, image: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": image})[0]


def _torch(net, image: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return ClippedStyleNet(net)(torch.from_numpy(image)).numpy()


def test_parity_checked_at_two_sizes_one_odd(style_export):
    assert [(r.height, r.width) for r in style_export.parity] == list(PARITY_SIZES)
    assert any(h % 2 and w % 2 for h, w in PARITY_SIZES)
    for result in style_export.parity:
        # The fixture network spans the whole output range, so the tolerance is meaningful.
        assert result.output_range > 200
        assert result.tolerance == pytest.approx(1e-3 * result.output_range)
        assert result.max_abs_diff <= result.tolerance
    summary = style_export.summary()
    assert "97x131" in summary and "parity vs torch OK" in summary and "\n" not in summary


def test_checker_passes_and_opset(style_onnx):
    model = onnx.load(str(style_onnx))
    onnx.checker.check_model(model, full_check=True)
    assert model_io.read_model_info(model).opset == OPSET


def test_graph_has_dynamic_batch_height_width(style_onnx):
    model = onnx.load(str(style_onnx))
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        assert [d.HasField("dim_param") for d in dims] == [True, False, True, True]
        assert dims[1].dim_value == 3
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["output"]
    assert "Clip" in {n.op_type for n in model.graph.node}


def test_runs_at_sizes_not_used_in_export(style_onnx, style_net):
    # A third size (odd/even mix), batch 2, and the minimum side.
    for shape in ((2, 3, 50, 37), (1, 3, MIN_SIDE, MIN_SIDE)):
        image = np.random.default_rng(1).uniform(0, 255, shape).astype(np.float32)
        got = _run_onnx(style_onnx, image)
        expected = _torch(style_net, image)
        assert got.shape == shape
        assert got.min() >= 0 and got.max() <= 255
        assert np.abs(got - expected).max() <= 1e-3 * (expected.max() - expected.min())


def test_metadata_round_trip(style_onnx, style_pth):
    info = model_io.read_model_info(style_onnx)
    assert info.has_metadata
    assert info.metadata[model_io.KEY_FORMAT] == "style-transfer/1"
    assert info.style == "testy"
    assert info.arch == model_io.ARCH
    assert info.precision == "fp32"
    assert info.io == model_io.io_convention()
    assert info.card == TEST_CARD
    assert info.metadata[model_io.KEY_SOURCE_SHA256] == sha256_file(style_pth)
    assert info.min_side == MIN_SIDE
    assert model_io.check_style_network(info, "testy") == []


def test_min_side_constant_matches_the_network():
    assert model_io.MIN_SIDE is MIN_SIDE  # one constant, not a copy


def test_parity_check_fails_for_a_different_network(style_onnx):
    with pytest.raises(ParityError, match="differs from torch"):
        check_parity(
            ClippedStyleNet(make_test_net(seed=1)), style_onnx, "fp32", parity_session, ((32, 40),)
        )


def test_fp16_converter_refuses_unknown_ops():
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Softmax", ["input"], ["output"])],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3, "h", "w"])],
    )
    with pytest.raises(UserError, match="Softmax"):
        convert_to_fp16(helper.make_model(graph))


@pytest.mark.slow
def test_cli_export_fp16(style_pth, style_net, tmp_path, capsys):
    out = tmp_path / "fancy.onnx"
    assert main(["export", str(style_pth), str(out), "--fp16", "--style-name", "fancy"]) == 0
    stdout = capsys.readouterr().out
    assert "fp16" in stdout and "parity vs torch OK" in stdout and str(out) in stdout

    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # a normal file, not 0600
    # The card beside the model, and no temporary left over.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fancy.json", "fancy.onnx"]
    assert json.loads(out.with_suffix(".json").read_text()) == TEST_CARD

    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    info = model_io.read_model_info(model)
    assert (info.style, info.precision, info.card) == ("fancy", "fp16", TEST_CARD)
    # float32 I/O, fp16 convolution weights, float32 instance-norm parameters.
    assert info.inputs[0].elem_type == info.outputs[0].elem_type == model_io.FLOAT
    types = {init.name: init.data_type for init in model.graph.initializer}
    conv_weights = [n.input[1] for n in model.graph.node if n.op_type == "Conv"]
    norm_scales = [n.input[1] for n in model.graph.node if n.op_type == "InstanceNormalization"]
    assert conv_weights and all(types[w] == onnx.TensorProto.FLOAT16 for w in conv_weights)
    assert norm_scales and all(types[s] == onnx.TensorProto.FLOAT for s in norm_scales)

    # ONNX Runtime's CPU provider runs it, at a size not used in export, within tolerance.
    image = np.random.default_rng(2).uniform(0, 255, (1, 3, 45, 61)).astype(np.float32)
    got = _run_onnx(out, image)
    expected = _torch(style_net, image)
    assert got.dtype == np.float32 and got.shape == image.shape
    diff = np.abs(got - expected).max()
    assert diff <= RELATIVE_TOLERANCE["fp16"] * (expected.max() - expected.min())
    assert diff > 0  # really fp16: bit-identical output would mean nothing was converted


def test_cli_export_rejects_another_architecture(tmp_path, capsys):
    foreign = tmp_path / "resnet.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, foreign)
    assert main(["export", str(foreign), str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("realtime: error:") and "not a TransformerNet checkpoint" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda d, pth: [str(d / "missing.pth"), str(d / "x.onnx")], "checkpoint not found"),
        (lambda d, pth: [str(pth), str(d / "no" / "dir" / "x.onnx")], "does not exist"),
        (lambda d, pth: [str(pth), str(d)], "should end in .onnx"),
        (lambda d, pth: [str(pth), str(d / "taken.onnx")], "is a directory"),
    ],
)
def test_cli_export_bad_paths(make_args, message, style_pth, tmp_path, capsys):
    (tmp_path / "taken.onnx").mkdir()
    assert main(["export", *make_args(tmp_path, style_pth)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_card_that_is_not_json_is_reported(tmp_path, style_net, capsys):
    pth = tmp_path / "broken.pth"
    torch.save(style_net.state_dict(), pth)
    pth.with_suffix(".json").write_text("{not json", encoding="utf-8")
    assert main(["export", str(pth), str(tmp_path / "broken.onnx")]) == 2
    assert "cannot read the model card" in capsys.readouterr().err


def test_metadata_json_is_valid(style_onnx):
    raw = {p.key: p.value for p in onnx.load(str(style_onnx)).metadata_props}
    assert json.loads(raw[model_io.KEY_IO])["layout"] == "NCHW"
    assert set(raw) >= {
        model_io.KEY_FORMAT,
        model_io.KEY_IO,
        model_io.KEY_STYLE,
        model_io.KEY_ARCH,
        model_io.KEY_PRECISION,
        model_io.KEY_CARD,
    }


@pytest.mark.slow
@pytest.mark.parametrize("fp16", [False, True])
def test_lite_network_exports_with_its_arch_and_passes_parity(tmp_path, fp16):
    from models.transformer_net import build_network

    torch.manual_seed(0)
    report = export_model(
        build_network("lite").eval(),
        tmp_path / "lite.onnx",
        style_name="lite",
        fp16=fp16,
        session_factory=parity_session,
    )
    info = model_io.read_model_info(report.onnx_path)
    assert info.arch == model_io.ARCH_LITE
    assert info.min_side == 16  # below it the residual blocks' instance norm has 1 value
    assert info.precision == ("fp16" if fp16 else "fp32")
    assert report.parity and all(r.passed for r in report.parity)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["full", "lite"])
def test_one_style_of_a_multi_style_network_exports_as_its_own_network(arch, tmp_path, capsys):
    from models.style_norm import single_style_state
    from models.transformer_net import build_network
    from realtime.core.config import EngineConfig
    from realtime.runtime.engine import OnnxStylizer

    torch.manual_seed(3)
    multi = build_network(arch, num_styles=2)
    with torch.no_grad():  # two clearly different styles
        for param in multi.parameters():
            if param.dim() == 2:
                param.add_(torch.randn_like(param) * 0.5)
    pth = tmp_path / "multi.pth"
    torch.save(multi.state_dict(), pth)
    card = {"name": "multi", "styles": [{"name": "dots"}, {"name": "waves"}]}
    pth.with_suffix(".json").write_text(json.dumps(card))
    out = tmp_path / "waves.onnx"
    assert main(["export", str(pth), str(out), "--style", "waves"]) == 0
    stylizer = OnnxStylizer(out, EngineConfig(device="cpu"), announce=False)
    assert stylizer.style_name == "waves" and stylizer.styles == []
    assert stylizer.info.arch == model_io.ARCHS[arch]  # one style of a lite network is lite
    single = build_network(arch)
    single.load_state_dict(single_style_state(multi.state_dict(), torch.tensor([0.0, 1.0])))
    frame = np.random.default_rng(0).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = single.eval()(torch.from_numpy(frame).permute(2, 0, 1)[None].float())
    expected = expected.clamp(0, 255).round()[0].permute(1, 2, 0).numpy()
    assert np.abs(stylizer(frame).astype(float) - expected).max() <= 1
    capsys.readouterr()
    # A style it does not have: one line naming its styles.
    assert main(["export", str(pth), str(tmp_path / "x.onnx"), "--style", "mosaic"]) == 2
    assert "no style 'mosaic'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "fp16"), [("full", False), ("full", True), ("lite", False)])
def test_frames_in_the_graph_match_the_float_convention(arch, fp16, tmp_path):
    from models.transformer_net import build_network
    from realtime.core.config import EngineConfig
    from realtime.runtime.engine import OnnxStylizer

    torch.manual_seed(1)
    model = build_network(arch).eval()
    stylizers = {}
    for io in ("float32", "uint8"):
        report = export_model(
            model, tmp_path / f"{io}.onnx", style_name="s", fp16=fp16, io=io,
            session_factory=parity_session,
        )  # fmt: skip
        assert all(r.passed for r in report.parity)
        stylizers[io] = OnnxStylizer(report.onnx_path, EngineConfig(device="cpu"), announce=False)
    info = stylizers["uint8"].info
    assert info.frames_in_graph and info.io["layout"] == "NHWC" and info.io["dtype"] == "uint8"
    assert info.inputs[0].type_name == "uint8" and info.outputs[0].type_name == "uint8"
    # The host hands the frame over as it is: no transposed or float copy is made.
    frame = np.random.default_rng(2).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    assert stylizers["uint8"].preprocess(frame).dtype == np.uint8
    a, b = (stylizers[io](frame).astype(int) for io in ("float32", "uint8"))
    assert a.shape == b.shape == frame.shape
    assert np.abs(a - b).max() <= 1  # the same network; only where rounding happens differs


# ----------------------------------------------------------------------------- rebuilding


def _rebuild(onnx_path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    script = Path(__file__).resolve().parent.parent / "scripts" / "rebuild_from_onnx.py"
    return subprocess.run(
        [sys.executable, str(script), str(onnx_path), str(out)], capture_output=True, text=True
    )


@pytest.mark.slow
def test_rebuild_from_onnx_gives_back_the_exported_weights(
    style_net, style_onnx: Path, tmp_path: Path
) -> None:
    # A fresh clone has the bundled ONNX files but no training checkpoints: the weights come
    # back exactly from a float32 export, with the card, ready for --init or --teacher.
    done = _rebuild(style_onnx, tmp_path / "back.pth")
    assert done.returncode == 0, done.stderr
    state = torch.load(tmp_path / "back.pth", weights_only=True)
    expected = style_net.state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    assert json.loads((tmp_path / "back.json").read_text()) == json.loads(
        style_onnx.with_suffix(".json").read_text()
    )
    # An ONNX file that is not one of our networks: one line, non-zero, nothing written.
    other = tmp_path / "identity.onnx"
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    inputs = [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])]
    outputs = [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])]
    graph = onnx.helper.make_graph([node], "g", inputs, outputs)
    onnx.save(onnx.helper.make_model(graph), other)
    done = _rebuild(other, tmp_path / "nothing.pth")
    assert done.returncode != 0 and "holds no TransformerNet weights" in done.stderr
    assert not (tmp_path / "nothing.pth").exists()
