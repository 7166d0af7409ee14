"""realtime: real-time video and webcam neural style transfer on ONNX Runtime.

This package is the runtime and the command line. It never imports torch at module
level: only the commands that train, export or optimise (Gatys) load it, lazily.
"""

__version__ = "0.1.0"
