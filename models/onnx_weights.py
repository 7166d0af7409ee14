"""A network's PyTorch weights read back from its exported ONNX file.

The bundled styles ship as ONNX files only (training checkpoints live under ``runs/``). Every
weight is in the file (float16 convolutions in an ``--fp16`` export, float32 norms) under the
exporter's ``net.`` prefix, so the ``state_dict`` comes back exactly, and ``realtime train
--base``, ``--init`` and ``--teacher`` can start from a shipped network as from a ``.pth``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from realtime.core.errors import UserError

# The exporter wraps the network as the attribute ``net`` of its graph's module.
PREFIX = "net."


def onnx_state(path: Path) -> dict[str, torch.Tensor]:
    """The network's weights among the ONNX file's initializers, as float32 tensors."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises its own types for a file that is no model
        raise UserError(
            f"cannot read {path} as an ONNX model ({type(exc).__name__}); give a network "
            "exported by 'realtime export' or a bundled style"
        ) from exc
    state = {
        init.name.removeprefix(PREFIX): torch.from_numpy(
            numpy_helper.to_array(init).astype(np.float32).copy()
        )
        for init in model.graph.initializer
        if init.name.startswith(PREFIX)
    }
    if not state:
        raise UserError(
            f"{path} holds no TransformerNet weights; give a network exported by "
            "'realtime export' (or its .pth)"
        )
    return state
