"""``realtime image IN OUT``: stylize one image with the same engine and options as video."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from realtime.commands.options import (
    add_engine_options,
    add_optimise_options,
    add_process_options,
    add_style_options,
    check_optimise_options,
    run_config,
)
from realtime.config import RunConfig
from realtime.errors import EXIT_OK, UserError
from realtime.images import (
    IMAGE_SUFFIXES,
    check_output_image,
    read_image,
    read_image_with_alpha,
    write_image,
)
from realtime.progress import Progress

# Default long side for optimisation: Gatys et al.'s results are at about this size, and each
# doubling costs four times the time per step.
OPTIMISE_SIZE = 512


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "image",
        help="stylize one image",
        description="Stylize one image (EXIF orientation is applied).",
    )
    parser.add_argument("input", type=Path, help="input image")
    parser.add_argument("output", type=Path, help=f"output image ({', '.join(IMAGE_SUFFIXES)})")
    add_style_options(parser)
    add_engine_options(parser)
    add_process_options(parser)
    add_optimise_options(parser, video=False)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = run_config(args)
    if args.output.resolve() == args.input.resolve():
        raise UserError(f"output {args.output} is the input file; choose another output path")
    check_output_image(args.output)
    optimise = config.optimise
    check_optimise_options(optimise)
    if optimise.method == "gatys" and optimise.style_image is None:
        raise UserError(
            "--method gatys refines the network's output towards a painting; "
            "give it with --style-image PAINTING"
        )
    if optimise.style_image is not None and optimise.method == "network" and args.style:
        raise UserError(
            f"--style {args.style} and --style-image: to refine the network's output add "
            "--method gatys; to optimise from the content alone drop --style"
        )
    if optimise.style_image is not None and not optimise.style_image.is_file():
        raise UserError(f"style image not found: {optimise.style_image}")
    source, alpha = read_image_with_alpha(args.input)
    if config.optimise.style_image is not None:
        return _run_optimised(args, config, source, alpha)
    from realtime.engine import OnnxStylizer
    from realtime.frames import FrameProcessor, output_stages, processing_size
    from realtime.style_registry import resolve_style

    # A size the network cannot take should fail before the model loads.
    width, height = processing_size(source.shape[1], source.shape[0], config.process)
    stages = output_stages(config.process)
    style = resolve_style(config.style, config.engine)
    stylizer = OnnxStylizer(style.path, config.engine, style_name=style.name)
    stylizer.check_memory(width, height)
    processor = FrameProcessor(stylizer, config.process, at_output_size=stages)
    result = processor(source)
    write_image(args.output, result, alpha)
    height, width = result.shape[:2]
    print(
        f"wrote {args.output} ({width}x{height}) with style {style.name!r} on {stylizer.provider}",
        file=sys.stderr,
    )
    return EXIT_OK


def _run_optimised(
    args: argparse.Namespace, config: RunConfig, source: np.ndarray, alpha: np.ndarray | None
) -> int:
    """``--style-image``: Gatys et al. from the content, or (``--method gatys``) from the
    network's output. Optimisation runs at the processing size, by default a long side of
    OPTIMISE_SIZE: the full size of a photograph takes many minutes per image on a CPU."""
    import dataclasses
    import time

    from realtime.frames import FrameProcessor, output_stages, processing_size, resize

    process = config.process
    if process.size is None and process.scale is None:
        process = dataclasses.replace(process, size=min(OPTIMISE_SIZE, max(source.shape[:2])))
    # Colour preservation is part of the optimisation (luminance-only transfer), not a
    # stage after it.
    stages = output_stages(dataclasses.replace(process, preserve_color=False))
    width, height = processing_size(source.shape[1], source.shape[0], process)
    painting = read_image(config.optimise.style_image)

    from models.optimise import load_optimiser

    optimiser = load_optimiser(
        config.optimise, process.preserve_color, config.engine.device, painting
    )
    small = resize(source, (width, height))
    init = None
    how = "from the content"
    if config.optimise.method == "gatys":
        from realtime.engine import OnnxStylizer
        from realtime.style_registry import resolve_style

        style = resolve_style(config.style, config.engine)
        network = OnnxStylizer(style.path, config.engine, style_name=style.name)
        init = FrameProcessor(network, dataclasses.replace(process, preserve_color=False))(small)
        how = f"refining style {style.name!r}"
    progress: Progress | None = None

    def report(step: int, total: int, loss: float) -> None:
        nonlocal progress
        if progress is None:
            progress = Progress(total, "optimising", "steps", enabled=config.progress)
        progress.update(1, loss=loss)

    started = time.perf_counter()
    result = optimiser.stylize(small, init=init, progress=report)
    if progress is not None:
        progress.close()
    seconds = time.perf_counter() - started
    steps = f"{optimiser.config.steps} steps at full size"
    if init is None and optimiser.config.scales > 1:  # a given start is refined at full size
        steps += f" after {optimiser.config.scales - 1} coarser of {optimiser.config.scales} scales"
    output = process.output_size or (source.shape[1], source.shape[0])
    result = resize(result, output)
    target = resize(source, output)
    for stage in stages:
        result = stage(result, target)
    write_image(args.output, result, alpha)
    print(
        f"wrote {args.output} ({output[0]}x{output[1]}): Gatys {how} at {width}x{height}, "
        f"{steps}, {seconds:.1f} s",
        file=sys.stderr,
    )
    return EXIT_OK
