"""Bundled style networks (NAME.onnx + NAME.json cards), shipped as package data."""
