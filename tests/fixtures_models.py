"""Fixtures that make tiny models and ONNX files (owned by the export/engine area)."""
