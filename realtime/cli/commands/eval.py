"""``realtime eval METRIC ...``: measure stylized outputs.

``eval`` has its own subcommands, one per kind of evaluation; each is a ``_register_*``
function below adding a subparser with ``set_defaults(evaluate=...)``. Today:

- ``realtime eval temporal INPUT OUTPUT [--reference UNBLENDED]``: the warping error of
  Lai et al. 2018 and the style change against an unblended stylization
  (definitions: ``realtime.temporal.metrics``).
- ``realtime eval style OUTPUT STYLE CONTENT``: the Gram style distance of a stylized image
  to the painting and its content distance to the photograph (definitions:
  ``models.metrics``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from realtime.cli.options import add_quiet_option, add_vgg_weights_option
from realtime.core.errors import EXIT_DAMAGED_INPUT, EXIT_OK, UserError

if TYPE_CHECKING:  # imported lazily at run time: ``realtime --help`` stays fast
    from realtime.media.video_source import VideoFileSource
    from realtime.temporal.metrics import TemporalScores


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure stylized outputs (temporal consistency, ...)",
        description="Measure stylized outputs. Each metric is a subcommand.",
    )
    metrics = parser.add_subparsers(dest="metric", metavar="METRIC", required=True)
    for register_metric in (_register_temporal, _register_style):
        register_metric(metrics)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return args.evaluate(args)


# -- eval temporal ------------------------------------------------------------------------


def _register_temporal(metrics: argparse._SubParsersAction) -> None:
    from realtime.temporal.metrics import METRIC_FLOW_LONG_SIDE, METRIC_FLOW_METHOD
    from realtime.vision.flow import ESTIMATORS

    parser = metrics.add_parser(
        "temporal",
        help="warping error (flicker) of a stylized video, and style change vs a reference",
        description="Temporal consistency of OUTPUT, a stylization of INPUT: the warping error "
        "of Lai et al. 2018 (mean squared RGB difference, in [0, 1], between each output frame "
        "and the previous one warped onto it with optical flow from the input, over "
        "non-occluded pixels; lower is smoother) and, with --reference, the style change: mean "
        "|output - reference| relative to mean |reference - input| (how much a temporal "
        "blend moved the output away from the unblended stylization).",
    )
    parser.add_argument("input", type=Path, help="the video that was stylized")
    parser.add_argument("output", type=Path, help="the stylized video (same size and frames)")
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        metavar="UNBLENDED",
        help="the same stylization without temporal blending (--temporal off), for the "
        "style change",
    )
    parser.add_argument(
        "--style-image",
        type=Path,
        default=None,
        metavar="PAINTING",
        help="also report style retention: the mean Gram style distance (relu1_2..relu4_3, "
        "relative) of every --style-every-th frame to this style image, for the output and "
        "the reference (needs torch and VGG-16 weights)",
    )
    parser.add_argument(
        "--style-every", type=int, default=10, metavar="N", help="score every N-th frame"
    )
    add_vgg_weights_option(parser, default=None, use=" for --style-image")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument(
        "--flow",
        choices=ESTIMATORS,
        default=METRIC_FLOW_METHOD,
        help=f"optical flow for the metric (default: {METRIC_FLOW_METHOD}, the most accurate; "
        "the temporal stage uses dis-fast at a quarter of the size, and a flow that "
        "misses by a pixel counts sharp strokes as flicker)",
    )
    parser.add_argument(
        "--flow-size",
        type=int,
        default=METRIC_FLOW_LONG_SIDE,
        metavar="PX",
        help=f"estimate flow with the long side at most PX (default: {METRIC_FLOW_LONG_SIDE})",
    )
    add_quiet_option(parser)
    parser.set_defaults(evaluate=run_temporal)


def _frames(source: VideoFileSource) -> Iterator[np.ndarray]:
    for decoded in source.frames():
        yield decoded.image


def run_temporal(args: argparse.Namespace) -> int:
    from realtime.cli.wiring import require_torch
    from realtime.core.progress import progress_bar
    from realtime.media.video_source import VideoFileSource
    from realtime.temporal.metrics import evaluate_temporal

    if args.flow_size < 16:
        raise UserError(f"--flow-size {args.flow_size} is too small; use at least 16 pixels")
    if args.style_image is not None:
        if not args.style_image.is_file():
            raise UserError(f"style image not found: {args.style_image}")
        # Before the warping error, which can take minutes: not after it.
        require_torch("eval temporal --style-image (the style distance, on VGG-16)", "torchvision")
    paths = {"input": args.input, "output": args.output}
    if args.reference is not None:
        paths["reference"] = args.reference
    with ExitStack() as stack:
        sources = {name: stack.enter_context(VideoFileSource(path)) for name, path in paths.items()}
        _check_headers(sources)
        progress = progress_bar(
            sources["input"].info.frame_count, "evaluating", "frames", enabled=not args.quiet
        )
        scores = evaluate_temporal(
            _frames(sources["input"]),
            _frames(sources["output"]),
            _frames(sources["reference"]) if "reference" in sources else None,
            flow_method=args.flow,
            flow_long_side=args.flow_size,
            on_frame=progress.update,
        )
        progress.close()
        damaged = [f"{name} ({s.damaged})" for name, s in sources.items() if s.damaged]
    retention = _style_retention(args, paths) if args.style_image is not None else {}
    _print_temporal(scores, retention, as_json=args.json)
    if damaged:
        print(
            f"realtime: warning: damaged video: {'; '.join(damaged)}; the metrics cover the "
            "frames that decoded",
            file=sys.stderr,
        )
        return EXIT_DAMAGED_INPUT
    return EXIT_OK


def _style_retention(args: argparse.Namespace, paths: dict[str, Path]) -> dict[str, float]:
    """Mean Gram style distance of the output (and the reference) to --style-image."""
    if args.style_every < 1:
        raise UserError("--style-every must be at least 1")
    if not args.style_image.is_file():
        raise UserError(f"style image not found: {args.style_image}")
    from models.vgg import load_vgg16  # run_temporal checked for torch before any work
    from models.video_metrics import mean_style_distance
    from realtime.media.images import read_image
    from realtime.media.video_source import VideoFileSource

    vgg, _ = load_vgg16(args.vgg_weights)
    painting = read_image(args.style_image)
    result = {}
    for name in ("output", "reference"):
        if name not in paths:
            continue
        with VideoFileSource(paths[name]) as source:
            distance, count = mean_style_distance(
                _frames(source), painting, every=args.style_every, vgg=vgg
            )
        result[f"{name}_style_distance"] = distance
        result["style_frames"] = count
    if "reference_style_distance" in result:
        reference = result["reference_style_distance"]
        result["style_distance_change"] = (result["output_style_distance"] - reference) / reference
    return result


def _print_temporal(scores: TemporalScores, retention: dict[str, float], as_json: bool) -> None:
    if as_json:
        print(json.dumps({**scores.as_dict(), **retention}))
        return
    skipped = f", {scores.skipped_pairs} skipped" if scores.skipped_pairs else ""
    print(
        f"warping error: {scores.warping_error:.6f} (RGB in [0, 1], over "
        f"{100 * scores.valid_fraction:.1f}% of pixels, {scores.pairs} frame pairs{skipped}; "
        f"the input itself: {scores.input_warping_error:.6f})"
    )
    if scores.style_change is not None:
        print(
            f"style change vs reference: {100 * scores.style_change:.2f}% "
            "(mean |output - reference| / mean |reference - input|)"
        )
    sharpness = f"sharpness: {scores.sharpness:.3f} (mean grey gradient, levels per pixel"
    if scores.sharpness_ratio is not None:
        sharpness += f"; {scores.sharpness_ratio:.3f} of the reference's"
    print(sharpness + ")")
    if retention:
        line = f"style distance to the style image: output {retention['output_style_distance']:.4f}"
        if "reference_style_distance" in retention:
            line += (
                f", reference {retention['reference_style_distance']:.4f} "
                f"(change {100 * retention['style_distance_change']:+.1f}%)"
            )
        print(line + f" (Gram, relu1_2..relu4_3, relative; {retention['style_frames']} frames)")


def _check_headers(sources: dict[str, VideoFileSource]) -> None:
    """Fail before decoding when the containers already say the videos cannot match."""
    first = sources["input"].info
    for name, source in sources.items():
        info = source.info
        if (info.width, info.height) != (first.width, first.height):
            raise UserError(
                f"the {name} video is {info.width}x{info.height} but the input is "
                f"{first.width}x{first.height}; the metrics compare pixel for pixel: give "
                "videos of the same size (stylize without --output-size)"
            )
        if info.frame_count and first.frame_count and info.frame_count != first.frame_count:
            raise UserError(
                f"the {name} video has {info.frame_count} frames but the input has "
                f"{first.frame_count}; give the output made from this very input "
                "(same frames, no trimming)"
            )


# -- eval style ---------------------------------------------------------------------------


def _register_style(metrics: argparse._SubParsersAction) -> None:
    parser = metrics.add_parser(
        "style",
        help="how close a stylized image is to the painting's style and the photo's structure",
        description="Three numbers, as the project's scorer defines them (models/metrics.py): "
        "style distance (Gram matrices of VGG-16 relu1_2..relu4_3, output and painting both "
        "at a long side of 512; lower is closer to the painting), content distance "
        "(unit-normalised VGG-16 features at each position, LPIPS-style; 0 is the photo, "
        "higher keeps less of it) and edge correlation (of the grey output's and photo's "
        "edges; 1 keeps them all). Needs torch and VGG-16 weights.",
    )
    parser.add_argument("output", type=Path, help="the stylized image")
    parser.add_argument("style", type=Path, help="the painting (style image)")
    parser.add_argument("content", type=Path, help="the photograph that was stylized")
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        metavar="PX",
        help="long side the images are scored at (default: the scorer's, 512)",
    )
    add_vgg_weights_option(parser, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.set_defaults(evaluate=run_style)


def run_style(args: argparse.Namespace) -> int:
    from realtime.cli.wiring import require_torch

    require_torch("eval style", "torchvision")
    from realtime.media.images import read_image
    from realtime.runtime.frames import MIN_PROCESS_SIDE

    if args.size is not None and args.size < MIN_PROCESS_SIDE:
        raise UserError(f"--size {args.size} is too small; use at least {MIN_PROCESS_SIDE} px")
    images = {name: read_image(getattr(args, name)) for name in ("output", "style", "content")}
    output, photo = images["output"], images["content"]
    aspect = (output.shape[1] / output.shape[0]) / (photo.shape[1] / photo.shape[0])
    if abs(aspect - 1) > 0.02:
        raise UserError(
            f"{args.output.name} is {output.shape[1]}x{output.shape[0]} but {args.content.name} "
            f"is {photo.shape[1]}x{photo.shape[0]}: not the same picture's proportions; give "
            "the photograph that was stylized"
        )
    from models.metrics import SCORE_SIZE, score
    from models.vgg import load_vgg16

    size = args.size or SCORE_SIZE
    vgg, identity = load_vgg16(args.vgg_weights)
    scores = score(vgg, output, images["style"], photo, size).as_dict()
    if args.json:
        print(json.dumps({**scores, "size": size, "vgg": identity}))
        return EXIT_OK
    print(
        f"style distance {scores['style_distance']:.3f} (lower is closer to {args.style.name})\n"
        f"content distance {scores['content_distance']:.3f} (0 is the photo; higher keeps less "
        f"of it)\nedge correlation {scores['edge_correlation']:.3f} (1 keeps every edge)\n"
        f"scored at a long side of {size} px with VGG-16 weights {identity}"
    )
    return EXIT_OK
