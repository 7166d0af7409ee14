"""The model I/O convention shared by the exporter (``export/``) and the engine.

A style network in ONNX form (docs/ARCHITECTURE.md, "Model I/O convention"):

- one input named ``input`` and one output named ``output``;
- NCHW, RGB, float32 values in [0, 255] (not normalised); fp16 models keep float32 I/O and
  cast inside the graph;
- batch, height and width dynamic; the output has the input's size and is clipped to
  [0, 255] inside the graph;
- ``metadata_props`` carry ``realtime.format``, ``realtime.io`` (JSON of the above),
  ``realtime.style``, ``realtime.arch``, ``realtime.precision`` and, when the model came from
  a trained checkpoint with a card, ``realtime.card`` (the card's JSON).

This module reads that description back (``read_model_info``) and checks that a model fits
it (``check_style_network``). It uses the ``onnx`` package only: no torch, no ONNX Runtime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realtime.core.errors import UserError

INPUT_NAME = "input"
OUTPUT_NAME = "output"
# A multi-style network's second input: (N, styles) float32 weights of its styles, one row
# per image (a one-hot row is one style; any other row mixes them).
STYLE_INPUT_NAME = "style"
FORMAT = "style-transfer/1"
ARCH = "transformer-net"  # Johnson et al. 2016, layout of the PyTorch examples
ARCH_LITE = "transformer-net-lite"  # models.lite_net: the smaller network for CPUs
ARCHS = {"full": ARCH, "lite": ARCH_LITE}  # realtime train --arch -> metadata value
PRECISIONS = ("fp32", "fp16")

# The smallest side TransformerNet takes: the 9x9 reflection padding needs at least 5 pixels,
# and the 3x3 padding after two stride-2 stages needs 2; 8 keeps a margin and is the smallest
# size tested. Stated here, where the torch-free runtime and models/ both read it; written
# into realtime.io so the engine reads it from each model.
MIN_SIDE = 8

# ONNX TensorProto element types we care about (numbers from onnx.TensorProto; spelled out so
# messages can name them without a lookup table).
FLOAT = 1
UINT8 = 2
FLOAT16 = 10
# The two image conventions a style network's input and output may follow: float32 NCHW
# (values in [0, 255], the host converts frames) or uint8 NHWC (frames as they come; the
# graph casts, transposes and rounds). The I/O element type tells them apart.
IO_FORMS = {"float32": ("NCHW", FLOAT), "uint8": ("NHWC", UINT8)}
_TYPE_NAMES = {1: "float32", 10: "float16", 11: "float64", 2: "uint8", 7: "int64", 6: "int32"}

KEY_FORMAT = "realtime.format"
KEY_IO = "realtime.io"
KEY_STYLE = "realtime.style"
KEY_ARCH = "realtime.arch"
KEY_PRECISION = "realtime.precision"
KEY_CARD = "realtime.card"
KEY_SOURCE_SHA256 = "realtime.source_sha256"  # sha256 of the .pth the model was exported from
KEY_STYLES = "realtime.styles"  # a multi-style network's styles, in its style input's order


def io_convention(min_side: int = MIN_SIDE, dtype: str = "float32") -> dict[str, Any]:
    """The convention as stored in ``realtime.io`` (a fresh dict each call: callers may edit);
    ``min_side`` is the network's smallest input side (larger for the lite network);
    ``dtype`` one of IO_FORMS."""
    return {
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "layout": IO_FORMS[dtype][0],
        "channels": "RGB",
        "dtype": dtype,
        "range": [0, 255],
        "dynamic": ["batch", "height", "width"],
        "output_clipped": True,
        "min_side": min_side,
    }


Dim = int | str | None  # a fixed size, a symbolic name (dim_param), or unknown


@dataclass(frozen=True)
class TensorSpec:
    name: str
    elem_type: int  # onnx.TensorProto element type
    shape: tuple[Dim, ...] | None  # None: rank unknown

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.elem_type, f"type {self.elem_type}")


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself: graph I/O plus our ``metadata_props``."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: dict[str, str]
    opset: int | None

    @property
    def has_metadata(self) -> bool:
        return self.metadata.get(KEY_FORMAT) == FORMAT

    @property
    def style(self) -> str | None:
        return self.metadata.get(KEY_STYLE)

    @property
    def arch(self) -> str | None:
        return self.metadata.get(KEY_ARCH)

    @property
    def precision(self) -> str | None:
        """``fp32``/``fp16`` from the metadata; ``None`` for a model without our metadata."""
        return self.metadata.get(KEY_PRECISION)

    @property
    def io(self) -> dict[str, Any]:
        raw = self.metadata.get(KEY_IO)
        return json.loads(raw) if raw else {}

    @property
    def card(self) -> dict[str, Any] | None:
        raw = self.metadata.get(KEY_CARD)
        return json.loads(raw) if raw else None

    @property
    def styles(self) -> list[str]:
        """A multi-style network's styles in input order; [] for a single-style one."""
        raw = self.metadata.get(KEY_STYLES)
        return list(json.loads(raw)) if raw else []

    @property
    def frames_in_graph(self) -> bool:
        """The graph takes and returns uint8 NHWC frames (it converts them itself)."""
        return bool(self.inputs) and self.inputs[0].elem_type == UINT8

    @property
    def min_side(self) -> int:
        return int(self.io.get("min_side", MIN_SIDE))


def _tensor_spec(value_info: Any) -> TensorSpec:
    tensor_type = value_info.type.tensor_type
    shape: tuple[Dim, ...] | None = None
    if tensor_type.HasField("shape"):
        dims: list[Dim] = []
        for dim in tensor_type.shape.dim:
            if dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            elif dim.HasField("dim_param"):
                dims.append(str(dim.dim_param))
            else:
                dims.append(None)
        shape = tuple(dims)
    return TensorSpec(value_info.name, int(tensor_type.elem_type), shape)


def read_model_info(model: Path | str | Any) -> ModelInfo:
    """Read I/O and metadata from an ``.onnx`` path or an ``onnx.ModelProto``.

    A file that is not ONNX raises UserError. Weights stored as external data are not loaded:
    only the graph's description is needed here.
    """
    import onnx  # here, not at module level: `realtime --help` must not pay for it

    if isinstance(model, str | Path):
        path = Path(model)
        if not path.is_file():
            raise UserError(f"model file not found: {path} (give the path of an .onnx file)")
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf raises DecodeError and friends for non-ONNX bytes
            raise UserError(
                f"{path} is not an ONNX model ({type(exc).__name__}); give an .onnx file "
                "exported with 'realtime export'"
            ) from exc
        if not proto.graph.node:
            # An empty or foreign protobuf can parse as an empty ModelProto without error.
            raise UserError(
                f"{path} is not an ONNX model (no graph); give an .onnx file exported with "
                "'realtime export'"
            )
    else:
        proto = model
    initializers = {init.name for init in proto.graph.initializer}
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return ModelInfo(
        # Old exporters list initializers among the inputs; they are weights, not inputs.
        inputs=tuple(_tensor_spec(v) for v in proto.graph.input if v.name not in initializers),
        outputs=tuple(_tensor_spec(v) for v in proto.graph.output),
        metadata={p.key: p.value for p in proto.metadata_props},
        opset=opset,
    )


def _image_tensor_problem(spec: TensorSpec) -> str | None:
    """Why ``spec`` cannot carry an RGB image of any size, float32 NCHW or uint8 NHWC, or None
    if it can."""
    if spec.elem_type not in (FLOAT, UINT8):
        return f"'{spec.name}' is {spec.type_name}, not float32 (NCHW) or uint8 (NHWC)"
    if spec.shape is None:
        return None  # rank unknown: ONNX Runtime will check at run time
    layout = "NHWC" if spec.elem_type == UINT8 else "NCHW"
    if len(spec.shape) != 4:
        return f"'{spec.name}' has rank {len(spec.shape)}, not 4 ({layout})"
    if layout == "NHWC":
        height, width, channels = spec.shape[1:]
    else:
        channels, height, width = spec.shape[1:]
    if isinstance(channels, int) and channels != 3:
        return f"'{spec.name}' has {channels} channels, not 3 (RGB)"
    if isinstance(height, int) or isinstance(width, int):
        return f"'{spec.name}' has a fixed size {height}x{width}, not dynamic height and width"
    return None


def check_style_network(info: ModelInfo, source: str) -> list[str]:
    """Raise UserError unless ``info`` describes a style network we can run.

    Returns notices for the user (e.g. that a model without our metadata is assumed to follow
    the convention). ``source`` names the model in messages (a path or a style name).
    """
    fix = "give a style network exported with 'realtime export'"
    mixable = len(info.inputs) == 2 and info.inputs[1].name == STYLE_INPUT_NAME
    if (len(info.inputs) != 1 and not mixable) or len(info.outputs) != 1:
        raise UserError(
            f"{source} has {len(info.inputs)} input(s) and {len(info.outputs)} output(s), "
            f"a style network has one image input (and a '{STYLE_INPUT_NAME}' input if it "
            f"mixes styles) and one output; {fix}"
        )
    if mixable:
        styles = info.inputs[1].shape[1] if info.inputs[1].shape else None
        if info.inputs[1].elem_type != FLOAT or len(info.styles) != styles:
            raise UserError(
                f"{source} has a '{STYLE_INPUT_NAME}' input for {styles} styles but names "
                f"{len(info.styles)} ({', '.join(info.styles) or 'none'}); {fix}"
            )
    for spec in (info.inputs[0], info.outputs[0]):
        problem = _image_tensor_problem(spec)
        if problem:
            raise UserError(f"{source} is not a style network: {problem}; {fix}")
    if info.inputs[0].elem_type != info.outputs[0].elem_type:
        raise UserError(
            f"{source} takes {info.inputs[0].type_name} frames but returns "
            f"{info.outputs[0].type_name}; a style network returns what it takes; {fix}"
        )
    notices = []
    if not info.has_metadata:
        notices.append(
            f"{source} has no realtime metadata: assuming the convention "
            "(float32 NCHW RGB in [0, 255] in and out)"
        )
    elif info.precision not in PRECISIONS:
        raise UserError(
            f"{source} declares precision {info.precision!r}, expected one of "
            f"{', '.join(PRECISIONS)}; re-export it with 'realtime export'"
        )
    return notices
