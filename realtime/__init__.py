"""realtime: real-time video and webcam neural style transfer on ONNX Runtime.

This package is the runtime and the command line. It never imports torch at module
level: only the commands that train, export or optimise (Gatys) load it, lazily.
"""

# OpenCV loads before PyAV, always: PyAV's wheel bundles its own libxcb, and when that copy
# loads first OpenCV's Qt window links against it and hangs in cv2.namedWindow, forever
# (PyAV-Org/PyAV#978, opencv/opencv#29195). Every module that imports av sits under this
# package, so importing cv2 here orders the two for the whole program.
import cv2  # noqa: F401

__version__ = "0.1.0"
