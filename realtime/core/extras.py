"""The optional parts of the install, and the one line that tells a user how to add one.

``pip install realtime-style-transfer`` is the runtime only (ONNX Runtime, OpenCV, PyAV,
NumPy): enough for ``video``, ``image``, ``webcam``, ``styles``, ``demo`` and ``bench``. The
rest comes with an extra (pyproject.toml, ``[project.optional-dependencies]``). Every message
that asks for one is worded here, so none can name the wrong distribution: ``realtime`` on
PyPI is someone else's project.
"""

from __future__ import annotations

import importlib.util

DISTRIBUTION = "realtime-style-transfer"

# Top-level module -> the extra that installs it.
EXTRA_OF_MODULE = {
    "torch": "train",
    "torchvision": "train",
    "onnxscript": "train",
    "PIL": "train",  # models/ reads training images with it (torchvision needs it too)
    "ray": "cluster",
    "pyvirtualcam": "vcam",
    "aiohttp": "panel",
    # A default dependency where OpenVINO publishes wheels (pyproject.toml); the extra
    # installs it where the default install leaves it out.
    "openvino": "openvino",
}


def install_hint(extra: str) -> str:
    """How to install ``extra``, from PyPI and from a clone, for the end of a message."""
    return (
        f'install it with pip install "{DISTRIBUTION}[{extra}]" '
        f"(from a clone: pip install -e '.[{extra}]')"
    )


def missing_module(*names: str) -> str | None:
    """The first of ``names`` (top-level modules) that cannot be imported, without importing
    any of them; None when all can."""
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except ValueError:  # sys.modules[name] is None: Python's "cannot be imported"
            return name
    return None


def missing_message(what: str, module: str) -> str:
    """``what`` needs ``module``: the whole one-line message, with the extra to install."""
    extra = EXTRA_OF_MODULE.get(module, "dev")
    return f"{what} needs {module}, which is not installed; {install_hint(extra)}"
