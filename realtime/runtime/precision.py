"""Running fp16-stored style networks in float32 on the CPU.

The bundled styles ship with float16 weights (half the package size). ONNX Runtime's CPU
provider has no fast float16 convolutions: it runs such a graph through casts and slower
kernels. ``upcast_to_fp32`` undoes the storage conversion of ``export.onnx_export`` in
memory: float16 weights and constants become float32 (exactly: every float16 value is a
float32 value) and casts to float16 become casts to float32, which ONNX Runtime then drops
as no-ops. The result computes like the float32 export of the same fp16-rounded weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from realtime.core.errors import UserError


def _float32_tensor(tensor: onnx.TensorProto) -> onnx.TensorProto:
    array = numpy_helper.to_array(tensor).astype(np.float32)
    return numpy_helper.from_array(array, tensor.name)


def upcast_to_fp32(model_path: Path) -> bytes:
    """The serialized model at ``model_path`` with every float16 tensor and cast as float32."""
    try:
        model = onnx.load(str(model_path))
    except Exception as exc:  # onnx raises DecodeError and others for foreign files
        raise UserError(f"cannot read {model_path} as an ONNX model ({exc}); re-export it") from exc
    graph = model.graph
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT16:
            init.CopyFrom(_float32_tensor(init))
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Constant" and attr.name == "value":
                if attr.t.data_type == TensorProto.FLOAT16:
                    attr.t.CopyFrom(_float32_tensor(attr.t))
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT16:
                attr.i = TensorProto.FLOAT
    for value in (*graph.input, *graph.output):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT16:
            value.type.tensor_type.elem_type = TensorProto.FLOAT
    # Intermediate type annotations name float16; ONNX Runtime infers them again.
    del graph.value_info[:]
    return model.SerializeToString()
