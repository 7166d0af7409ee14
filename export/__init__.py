"""torch -> ONNX: export a TransformerNet checkpoint, convert to fp16, check it, write metadata.

``export_checkpoint`` is the one way a ``.pth`` becomes an ``.onnx``: the ``realtime export``
command and the on-the-fly export of ``--style FILE.pth`` both go through it.
"""

from export.onnx_export import ExportReport, export_checkpoint, export_model
from export.verify import ParityError, ParityResult

__all__ = ["ExportReport", "ParityError", "ParityResult", "export_checkpoint", "export_model"]
