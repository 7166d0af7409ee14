"""Export a TransformerNet to ONNX following the model I/O convention (realtime.core.model_io).

Exporter: ``torch.onnx.export(..., dynamo=True)``, the torch.export-based path (the default
since torch 2.9; the TorchScript path is deprecated). For this network it gives a clean graph
(Pad/Conv/InstanceNormalization/Relu/Add, two Resize fed by Shape arithmetic, one Clip) with
symbolic batch/height/width. The TorchScript path exports faster but warns, and wraps every
Pad in chains of Constant, Transpose, ConstantOfShape and Slice nodes, about four times the
nodes (docs/BENCHMARKS.md, "Measurements moved from the code").

fp16: weights are converted by a small graph pass (``convert_to_fp16``) rather than a new
dependency; the model keeps float32 input/output (Cast nodes at both ends) and
InstanceNormalization runs in float32 (Cast around it), because its variance of activations in
the hundreds overflows fp16's 65504 on trained networks.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import realtime
from export.metadata import (
    build_metadata,
    style_name_for,
    write_metadata,
)
from export.verify import PARITY_SIZES, ParityResult, SessionFactory, check_parity
from models.transformer_net import (
    MIN_SIDE,
    arch_of,
    load_transformer_net,
    one_style_network,
)
from realtime.core import model_io
from realtime.core.cards import card_path_for, card_styles, read_card, write_card
from realtime.core.errors import UserError, first_line
from realtime.core.files import atomic_output, check_output_folder, sha256_file

# Opset 18: ONNX Runtime runs it on every provider, and TensorRT 10 (the TensorRT that
# onnxruntime-gpu's TensorRT provider is built against) parses it, including the three ops that
# matter here: InstanceNormalization (unchanged since opset 6), Resize with explicit `sizes`
# (nearest/asymmetric/floor = torch's "nearest"), and Pad in reflect mode. 18 is also the
# lowest opset the torch.export-based exporter emits natively: asking it for 17 makes it
# down-convert, which fails on Pad-18 (measured, torch 2.14.1 / onnx 1.23.2).
OPSET = 18


class ClippedStyleNet(nn.Module):
    """The exported graph: the network, then a clip to [0, 255] (the I/O convention)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, *style: torch.Tensor) -> torch.Tensor:
        return self.net(x, *style).clamp(0.0, 255.0)


class FrameStyleNet(nn.Module):
    """The exported graph with frames as they come: uint8 RGB (N, H, W, 3) in and out, the
    cast, transpose, clip and rounding inside, so the host does no per-pixel work."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, *style: torch.Tensor) -> torch.Tensor:
        y = self.net(x.permute(0, 3, 1, 2).float(), *style).clamp(0.0, 255.0)
        return y.round().to(torch.uint8).permute(0, 2, 3, 1)


IO_WRAPPERS = {"float32": ClippedStyleNet, "uint8": FrameStyleNet}


@dataclass(frozen=True)
class ExportReport:
    onnx_path: Path
    style_name: str
    precision: str
    opset: int
    parity: tuple[ParityResult, ...]
    seconds: float

    def summary(self) -> str:
        checks = "; ".join(r.describe() for r in self.parity)
        return (
            f"exported '{self.style_name}' ({self.precision}, opset {self.opset}) to "
            f"{self.onnx_path} in {self.seconds:.1f} s; parity vs torch OK: {checks}"
        )


def min_side_of(model: nn.Module) -> int:
    from models.lite_net import LITE_MIN_SIDE

    return LITE_MIN_SIDE if arch_of(model) == "lite" else MIN_SIDE


def torch_to_onnx(model: nn.Module, io: str = "float32") -> onnx.ModelProto:
    """Trace ``model`` (with the output clip) into an fp32 ONNX model with dynamic N, H, W,
    taking float32 NCHW or (``io="uint8"``) uint8 NHWC frames."""
    wrapper = IO_WRAPPERS[io](model).eval()
    min_side = min_side_of(model)
    # Batch 2 and different, non-multiple-of-4 sides: torch.export specialises dimensions
    # whose example size is 0 or 1, and equal example sizes could be unified.
    if io == "uint8":
        example = torch.randint(0, 256, (2, 67, 93, 3), dtype=torch.uint8)
        axes = {0: "batch", 1: "height", 2: "width"}
    else:
        example = torch.rand(2, 3, 67, 93) * 255
        axes = {0: "batch", 2: "height", 3: "width"}
    dims = {
        "batch": torch.export.Dim("batch", min=1),
        "height": torch.export.Dim("height", min=min_side),
        "width": torch.export.Dim("width", min=min_side),
    }
    inputs: tuple[torch.Tensor, ...] = (example,)
    shapes: tuple[Any, ...] = ({axis: dims[name] for axis, name in axes.items()},)
    names = [model_io.INPUT_NAME]
    styles = getattr(model, "num_styles", None)
    if styles:
        # A multi-style network: the mix of styles is an input, one row per image.
        inputs += (torch.softmax(torch.rand(2, styles), dim=1),)
        shapes += (({0: dims["batch"]},),)  # the wrapper's *style: a tuple of one
        names.append(model_io.STYLE_INPUT_NAME)
    program = torch.onnx.export(
        wrapper,
        inputs,
        input_names=names,
        output_names=[model_io.OUTPUT_NAME],
        opset_version=OPSET,
        dynamo=True,
        dynamic_shapes=shapes,
        external_data=False,
        verbose=False,
    )
    return program.model_proto


# Ops whose float tensors simply follow their inputs' type: converting the float weights and
# constants that feed them is enough. Anything else stops the fp16 pass with an error, so a
# new op in a future exporter cannot produce a silently mistyped graph.
_FP16_FOLLOWS_INPUT = {
    "Add", "Clip", "Concat", "Conv", "DepthToSpace", "Div", "Gather", "Identity", "MatMul",
    "Mul", "Pad", "Relu", "Round",
    "Reshape", "Shape", "Slice", "Squeeze", "Sub", "Transpose", "Unsqueeze",
}  # fmt: skip
_FP16_SPECIAL = {"Cast", "Constant", "InstanceNormalization", "Resize"}


def _fp16_array(array: np.ndarray, name: str) -> np.ndarray:
    if np.abs(array).max(initial=0.0) > np.finfo(np.float16).max:
        raise UserError(f"weight {name} exceeds the fp16 range; export this model as fp32")
    return array.astype(np.float16)


def convert_to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy of ``model`` with fp16 weights, float32 I/O and float32 InstanceNorm."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    unknown = {n.op_type for n in graph.node} - _FP16_FOLLOWS_INPUT - _FP16_SPECIAL
    if unknown:
        raise UserError(
            f"fp16 conversion does not handle op(s) {', '.join(sorted(unknown))}; "
            "export without --fp16"
        )
    # Initializers that must stay float32: InstanceNormalization's scale/bias (it runs in
    # float32) and Resize's roi/scales (typed float32 by the ONNX spec).
    keep_fp32 = set()
    for node in graph.node:
        if node.op_type in ("InstanceNormalization", "Resize"):
            keep_fp32.update(node.input[1:3])
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in keep_fp32:
            array = _fp16_array(numpy_helper.to_array(init), init.name)
            init.CopyFrom(numpy_helper.from_array(array, init.name))

    initializers = {init.name for init in graph.initializer}
    new_nodes = []
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    array = _fp16_array(numpy_helper.to_array(attr.t), node.output[0])
                    attr.t.CopyFrom(numpy_helper.from_array(array))
        elif node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i == TensorProto.FLOAT:
                    attr.i = TensorProto.FLOAT16
        if node.op_type == "InstanceNormalization":
            x32, y32 = f"{node.output[0]}__fp32_in", f"{node.output[0]}__fp32_out"
            new_nodes.append(helper.make_node("Cast", [node.input[0]], [x32], to=TensorProto.FLOAT))
            # A multi-style network computes its norms' scale and shift from the mix (fp16
            # after this pass): they go up to float32 with the input.
            for k in (1, 2):
                if node.input[k] not in initializers:
                    computed = node.input[k]
                    node.input[k] = f"{node.output[0]}__fp32_{k}"
                    new_nodes.append(
                        helper.make_node("Cast", [computed], [node.input[k]], to=TensorProto.FLOAT)
                    )
            y16 = node.output[0]
            node.input[0] = x32
            node.output[0] = y32
            new_nodes.append(node)
            new_nodes.append(helper.make_node("Cast", [y32], [y16], to=TensorProto.FLOAT16))
        else:
            new_nodes.append(node)

    # Further float32 inputs (a multi-style network's mix) are cast down first thing too.
    for extra in graph.input[1:]:
        if extra.type.tensor_type.elem_type == TensorProto.FLOAT:
            half = f"{extra.name}__fp16"
            for node in new_nodes:
                node.input[:] = [half if i == extra.name else i for i in node.input]
            new_nodes.insert(
                0, helper.make_node("Cast", [extra.name], [half], to=TensorProto.FLOAT16)
            )
    if graph.input[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        # Frames in and out (uint8): the graph's own first and last casts are the boundary.
        del graph.node[:]
        graph.node.extend(new_nodes)
        del graph.value_info[:]
        return model
    # float32 at the boundary: cast the input down first thing, the output up last thing.
    input_name, output_name = graph.input[0].name, graph.output[0].name
    input16, output16 = f"{input_name}__fp16", f"{output_name}__fp16"
    for node in new_nodes:
        node.input[:] = [input16 if i == input_name else i for i in node.input]
        node.output[:] = [output16 if o == output_name else o for o in node.output]
    del graph.node[:]
    graph.node.extend(
        [helper.make_node("Cast", [input_name], [input16], to=TensorProto.FLOAT16)]
        + new_nodes
        + [helper.make_node("Cast", [output16], [output_name], to=TensorProto.FLOAT)]
    )
    # Intermediate type annotations are now stale; the checker re-infers them.
    del graph.value_info[:]
    return model


def _check_writable(onnx_path: Path) -> None:
    if onnx_path.suffix.lower() != ".onnx":
        raise UserError(f"output {onnx_path} should end in .onnx; give NAME.onnx")
    check_output_folder(onnx_path)


def export_model(
    model: nn.Module,
    onnx_path: Path,
    *,
    style_name: str,
    fp16: bool = False,
    card: dict[str, Any] | None = None,
    source_sha256: str | None = None,
    parity_sizes: tuple[tuple[int, int], ...] = PARITY_SIZES,
    session_factory: SessionFactory,
    io: str = "float32",
) -> ExportReport:
    """Export ``model`` to ``onnx_path``, checked and parity-verified, or raise UserError.

    The file appears only once every check has passed (written to a temporary name beside it,
    then renamed), so a failed export never leaves a half-checked model behind.
    """
    start = time.perf_counter()
    onnx_path = Path(onnx_path)
    _check_writable(onnx_path)
    # A copy: the caller's model (maybe on a GPU, maybe mid-training) is left as it was.
    model = copy.deepcopy(model).eval().float().cpu()
    proto = torch_to_onnx(model, io)
    precision = "fp16" if fp16 else "fp32"
    if fp16:
        proto = convert_to_fp16(proto)
    arch = model_io.ARCHS[arch_of(model)]
    styles = card_styles(card) if getattr(model, "num_styles", None) else None
    if styles is not None and len(styles) != model.num_styles:
        raise UserError(
            f"a network with {model.num_styles} styles needs a card naming them "
            f"(NAME.json with a 'styles' list beside the .pth); it names {len(styles)}"
        )
    metadata = build_metadata(
        style_name,
        precision,
        card,
        source_sha256,
        arch,
        min_side=min_side_of(model),
        io=io,
        styles=styles,
    )
    write_metadata(proto, metadata)
    proto.producer_name = "realtime"
    proto.producer_version = f"{realtime.__version__} (torch {torch.__version__})"
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise UserError(
            f"exported model fails onnx.checker: {first_line(exc)}; please report it"
        ) from exc

    # The final name appears only once the parity check has passed on the written file.
    try:
        with atomic_output(onnx_path) as temp:
            temp.write_bytes(proto.SerializeToString())
            parity = check_parity(
                IO_WRAPPERS[io](model).eval(), temp, precision, session_factory, parity_sizes
            )
    except UserError:
        raise
    except OSError as exc:
        raise UserError(f"cannot write {onnx_path} ({exc.strerror}); choose another path") from exc
    return ExportReport(
        onnx_path=onnx_path,
        style_name=style_name,
        precision=precision,
        opset=OPSET,
        parity=parity,
        seconds=time.perf_counter() - start,
    )


def export_checkpoint(
    pth_path: Path,
    onnx_path: Path,
    *,
    fp16: bool = False,
    style_name: str | None = None,
    style: str | None = None,
    session_factory: SessionFactory,
    io: str = "float32",
) -> ExportReport:
    """Export the TransformerNet checkpoint ``pth_path`` (and its card, if any) to ONNX.

    A multi-style network exports with its mix of styles as a second input (``style``, one
    row of weights per image), unless ``style`` picks one of its styles (by the name its card
    lists): the export is then that style's single-style network, named after it.
    """
    pth_path = Path(pth_path)
    onnx_path = Path(onnx_path)
    _check_writable(onnx_path)  # before the slow part
    model = load_transformer_net(pth_path)  # UserError for missing/foreign checkpoints
    card = read_card(pth_path)
    styles = card_styles(card)
    if getattr(model, "num_styles", None) and style is not None:
        if style not in styles:
            raise UserError(
                f"{pth_path.name} has no style {style!r}; its styles are "
                f"{', '.join(styles) or 'unknown (its card NAME.json is missing)'}"
            )
        model = one_style_network(model, styles.index(style))
        card = _style_card(card, style)
        style_name = style_name or style
    elif style is not None and not getattr(model, "num_styles", None):
        raise UserError(f"{pth_path.name} holds one style; drop --style {style}")
    report = export_model(
        model,
        onnx_path,
        style_name=style_name_for(pth_path, card, style_name),
        fp16=fp16,
        card=card,
        source_sha256=sha256_file(pth_path),
        session_factory=session_factory,
        io=io,
    )
    if card is not None:
        # Beside the model, as the style registry reads it: copied into the styles folder
        # together, a multi-style network is listed with the styles it mixes.
        write_card(card_path_for(onnx_path), card)
    return report


def _style_card(card: dict[str, Any] | None, style: str) -> dict[str, Any] | None:
    """The card of one style of a multi-style network: its painting, the network's recipe."""
    if card is None:
        return None
    entry = next(s for s in card["styles"] if s["name"] == style)
    out = {k: v for k, v in card.items() if k != "styles"}
    out["name"] = style
    out["style_image"] = {k: v for k, v in entry.items() if k != "name"}
    out["multi_style"] = {"network": card.get("name"), "styles": card_styles(card)}
    return out
