"""Frames through a GPU session with device-resident input and output buffers.

``session.run`` with numpy arrays allocates a device input and output for every call and
copies both ways; a binding to host memory does the same and then copies the output once
more. Here each thread keeps its own IO binding with an input and an output OrtValue on the
device, made for one frame size and reused frame to frame: a run is one copy in
(``update_inplace``), the network, and one copy out. One binding per thread, because an IO
binding is not thread-safe while an ONNX Runtime session is: two frames may be in flight.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Buffers:
    shape: tuple[int, ...]
    binding: Any  # onnxruntime.IOBinding
    input: Any  # onnxruntime.OrtValue on the device
    output: Any


class DeviceFrames:
    """Runs ``session`` on one image tensor (plus small host inputs such as a style mix) with
    the image's buffers on ``device`` ("cuda"; "cpu" runs the same logic on any machine)."""

    def __init__(self, session: Any, input_name: str, output_name: str, device: str = "cuda"):
        self._session = session
        self._input_name, self._output_name = input_name, output_name
        self._device = device
        self._local = threading.local()

    def run(self, tensor: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The network's output for ``tensor`` (a C-contiguous batch), on the host."""
        buffers = self._buffers(tensor)
        buffers.input.update_inplace(tensor)
        for name, value in (extra or {}).items():
            buffers.binding.bind_cpu_input(name, value)
        self._session.run_with_iobinding(buffers.binding)
        return buffers.binding.copy_outputs_to_cpu()[0]

    def _buffers(self, tensor: np.ndarray) -> _Buffers:
        """This thread's buffers for ``tensor``'s shape: made on first use and again only
        when the frame size changes. A style network returns what it takes, so the output has
        the input's shape and type."""
        buffers: _Buffers | None = getattr(self._local, "buffers", None)
        if buffers is not None and buffers.shape == tensor.shape:
            return buffers
        import onnxruntime as ort

        device_value = ort.OrtValue.ortvalue_from_shape_and_type
        image_in = device_value(list(tensor.shape), tensor.dtype.type, self._device, 0)
        image_out = device_value(list(tensor.shape), tensor.dtype.type, self._device, 0)
        binding = self._session.io_binding()
        binding.bind_ortvalue_input(self._input_name, image_in)
        binding.bind_ortvalue_output(self._output_name, image_out)
        buffers = _Buffers(tuple(tensor.shape), binding, image_in, image_out)
        self._local.buffers = buffers
        return buffers
