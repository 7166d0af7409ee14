"""``realtime export NAME.pth NAME.onnx [--fp16] [--style-name NAME]``: checkpoint to ONNX.

The model is checked with onnx.checker and compared with torch at two sizes before the file
is written; the result line (sizes, max differences, tolerances) goes to stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a TransformerNet checkpoint (.pth) to an ONNX style network",
        description=(
            "Export a TransformerNet checkpoint to ONNX (opset 18, dynamic batch/height/width, "
            "float32 NCHW RGB [0, 255] in and out), check it with onnx.checker and compare it "
            "with torch at 256x256 and 97x131 before writing it. Needs torch: "
            'pip install "realtime-style-transfer[train]".'
        ),
    )
    parser.add_argument("checkpoint", type=Path, metavar="NAME.pth", help="TransformerNet weights")
    parser.add_argument("output", type=Path, metavar="NAME.onnx", help="ONNX file to write")
    parser.add_argument(
        "--fp16",
        action="store_true",
        help="store weights in float16 (I/O stays float32; for GPUs, about half the file size)",
    )
    parser.add_argument(
        "--io",
        choices=("float32", "uint8"),
        default="float32",
        help="float32: NCHW in [0, 255] (the host converts frames); uint8: frames as they "
        "come, (N, H, W, 3) RGB in and out, converted inside the graph (default: %(default)s)",
    )
    parser.add_argument(
        "--style",
        metavar="NAME",
        help="a multi-style network: export this one of its styles (its card lists them)",
    )
    parser.add_argument(
        "--style-name",
        metavar="NAME",
        help="style name stored in the model (default: the card's name, else the .pth stem)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from realtime.cli.wiring import export_pth

    report = export_pth(
        args.checkpoint,
        args.output,
        fp16=args.fp16,
        style_name=args.style_name,
        style=args.style,
        io=args.io,
    )
    print(report.summary())
    return 0
