"""``realtime image`` as a use case: one still, by a network or by optimisation."""

from __future__ import annotations

import numpy as np

from realtime.app.build import build_processor, stylizer_for
from realtime.app.optimise import check_optimise_choice, stylize_image
from realtime.app.torch_side import TorchSide
from realtime.core.config import RunConfig
from realtime.runtime.frames import processing_size


def check_image_options(config: RunConfig, explicit_style: str | None) -> None:
    """The options, before the image is read or a model loaded."""
    check_optimise_choice(config.optimise, explicit_style, video=False)


def stylize_still(
    config: RunConfig, source: np.ndarray, torch: TorchSide
) -> tuple[np.ndarray, str]:
    """The stylized image at the output size, and what was done, in words."""
    if config.optimise.style_image is not None:
        return stylize_image(config, source, torch)
    size = (source.shape[1], source.shape[0])
    # A size the network cannot take should fail before the model loads.
    processing_size(*size, config.process)
    stylizer, entry = stylizer_for(config, torch.exporter)
    processor = build_processor(stylizer, config.process, source_size=size, still=True)
    return processor(source), f"with style {entry.name!r} on {stylizer.provider}"
