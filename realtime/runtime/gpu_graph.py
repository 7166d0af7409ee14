"""Graph variants for GPU sessions, made in memory from the model file at session creation.

- ``frames_in_graph``: a float32 NCHW style network wrapped to take and return uint8 NHWC
  frames (transpose, cast, round inside the graph), what ``realtime export --io uint8``
  writes. On a GPU the host then sends and receives a quarter of the bytes (6 MB instead of
  25 MB each way at 1080p) and does no per-pixel work. The rounding is the host's: the graph
  clips to [0, 255] and Round is half to even, like ``OnnxStylizer.postprocess``.
- ``half_instance_norm``: an fp16 model's InstanceNorms in float16 without the two casts
  around each (``export.onnx_export.convert_to_fp16`` keeps them in float32 for the CPU);
  ONNX Runtime's CUDA kernel accumulates the statistics in float either way. A variant to
  measure (``GpuTuning.half_norms``), not the default.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_NCHW_TO_NHWC = [0, 2, 3, 1]
_NHWC_TO_NCHW = [0, 3, 1, 2]


def _nhwc_uint8(value: onnx.ValueInfoProto) -> None:
    """Retype a float32 (N, 3, H, W) graph input or output as uint8 (N, H, W, 3)."""
    tensor = value.type.tensor_type
    tensor.elem_type = TensorProto.UINT8
    if tensor.HasField("shape") and len(tensor.shape.dim) == 4:
        dims = [onnx.TensorShapeProto.Dimension() for _ in range(4)]
        for new, old in zip(dims, (tensor.shape.dim[i] for i in _NCHW_TO_NHWC), strict=True):
            new.CopyFrom(old)
        del tensor.shape.dim[:]
        tensor.shape.dim.extend(dims)


def frames_in_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of the float32 NCHW style network ``model`` that takes and returns uint8 NHWC
    frames under the same input and output names."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    image_in, image_out = graph.input[0].name, graph.output[0].name
    inner_in, inner_out = f"{image_in}__float_nchw", f"{image_out}__float_nchw"
    for node in graph.node:
        node.input[:] = [inner_in if name == image_in else name for name in node.input]
        node.input[:] = [inner_out if name == image_out else name for name in node.input]
        node.output[:] = [inner_out if name == image_out else name for name in node.output]
    # Transposed while still uint8 (a quarter of the bytes), cast after; the reverse at the
    # end. The graph's own clip to [0, 255] makes the cast to uint8 exact after Round.
    head = [
        helper.make_node("Transpose", [image_in], [f"{image_in}__nchw"], perm=_NHWC_TO_NCHW),
        helper.make_node("Cast", [f"{image_in}__nchw"], [inner_in], to=TensorProto.FLOAT),
    ]
    tail = [
        helper.make_node("Round", [inner_out], [f"{image_out}__rounded"]),
        helper.make_node(
            "Cast", [f"{image_out}__rounded"], [f"{image_out}__nchw"], to=TensorProto.UINT8
        ),
        helper.make_node("Transpose", [f"{image_out}__nchw"], [image_out], perm=_NCHW_TO_NHWC),
    ]
    nodes = [*head, *graph.node, *tail]
    del graph.node[:]
    graph.node.extend(nodes)
    _nhwc_uint8(graph.input[0])
    _nhwc_uint8(graph.output[0])
    del graph.value_info[:]  # stale; ONNX Runtime infers the types again
    return model


def _cast_to(node: onnx.NodeProto) -> int | None:
    if node.op_type != "Cast":
        return None
    return next((a.i for a in node.attribute if a.name == "to"), None)


def half_instance_norm(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose InstanceNorms that sit between a cast up to float32 and a
    cast back to float16 run in float16 instead; any other graph comes back unchanged."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    initializers = {init.name: init for init in graph.initializer}
    dropped: set[int] = set()
    for node in graph.node:
        if node.op_type != "InstanceNormalization":
            continue
        up = producer.get(node.input[0])
        users = consumers[node.output[0]]
        if up is None or _cast_to(up) != TensorProto.FLOAT or len(users) != 1:
            continue
        down = users[0]
        if _cast_to(down) != TensorProto.FLOAT16:
            continue
        node.input[0] = up.input[0]
        for k in (1, 2):
            node.input[k] = _half_operand(node.input[k], producer, initializers, graph)
        node.output[0] = down.output[0]
        dropped.add(id(down))
    # The casts up are dropped once nothing reads them any more.
    still_read = {name for node in graph.node for name in node.input}
    still_read |= {value.name for value in graph.output}
    kept = [
        node
        for node in graph.node
        if id(node) not in dropped and not (_cast_to(node) and node.output[0] not in still_read)
    ]
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in kept for name in node.input}
    kept_init = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_init)
    del graph.value_info[:]
    return model


def _half_operand(
    name: str,
    producer: dict[str, onnx.NodeProto],
    initializers: dict[str, onnx.TensorProto],
    graph: onnx.GraphProto,
) -> str:
    """The float16 form of an InstanceNorm scale or bias: a float16 copy of a float32 weight,
    or the float16 tensor a computed one (a multi-style mix) was cast up from."""
    if name in initializers and initializers[name].data_type == TensorProto.FLOAT:
        half = f"{name}__fp16"
        if half not in initializers:
            array = numpy_helper.to_array(initializers[name]).astype(np.float16)
            initializers[half] = numpy_helper.from_array(array, half)
            graph.initializer.append(initializers[half])
        return half
    cast = producer.get(name)
    if cast is not None and _cast_to(cast) == TensorProto.FLOAT:
        return cast.input[0]
    return name
