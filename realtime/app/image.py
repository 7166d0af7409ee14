"""``realtime image`` as a use case: one still, by a network or by optimisation."""

from __future__ import annotations

import logging

import numpy as np

from realtime.app.build import build_processor, stylizer_for
from realtime.app.optimise import check_optimise_choice, stylize_image
from realtime.app.torch_side import TorchSide
from realtime.core.config import RunConfig
from realtime.core.signals import wait_interruptibly
from realtime.runtime.frames import processing_size

log = logging.getLogger(__name__)


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
    # One large image is one long native call (a 4000x3000 photo: minutes on a small CPU),
    # during which Python runs no signal handler: waited for from the main thread in short
    # slices, Ctrl-C and SIGTERM act at once instead of when the call returns.
    log.debug("stylizing %dx%d", *size)
    stylized = wait_interruptibly(lambda: processor(source), "stylize")
    return stylized, f"with style {entry.name!r} on {stylizer.provider}"
