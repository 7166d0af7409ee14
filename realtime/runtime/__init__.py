"""Running a style network on frames: the ONNX Runtime session factory and stylizer, fp16
models on the CPU, the style registry, and the frame-in/frame-out stages around a network."""
