"""Files in and out: video decoding and encoding with PyAV (audio copied), still images, and
the threaded decode -> stylize -> encode pipeline for a whole file."""
