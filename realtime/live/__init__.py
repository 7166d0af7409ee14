"""Live work: the newest-frame camera source, the live loop with its keys, and its outputs
(window, virtual camera, stream, recording)."""
