"""Temporal consistency: the flow-warped blending stage and the flicker metrics."""
