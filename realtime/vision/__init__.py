"""Image-motion primitives on OpenCV: optical flow, warping, trust tests and scene cuts. Used
by the temporal stage and by video by optimisation (models/); imports only the core."""
