"""Does int8 quantisation pay for a style network on this CPU? Speed and quality, measured.

Static QDQ quantisation with ONNX Runtime's quantizer (per-channel int8 weights, uint8
activations calibrated on frames of a real clip), compared with the float32 model on:

- model-only latency at 640x360 on the CPU provider (median of --runs);
- the Gram style distance and content distance of ``amber.jpg`` (``realtime eval style``'s
  metric, at 512 px) against the float32 model's.

    python benchmarks/int8_quantization.py --style mosaic-lite --shared ../shared
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_ms  # noqa: E402

from realtime.core.config import EngineConfig  # noqa: E402
from realtime.media.video_source import VideoFileSource  # noqa: E402
from realtime.runtime.engine import OnnxStylizer  # noqa: E402
from realtime.runtime.frames import resize  # noqa: E402
from realtime.runtime.precision import upcast_to_fp32  # noqa: E402
from realtime.runtime.styles import resolve_style  # noqa: E402

CPU = EngineConfig(device="cpu")


def calibration_frames(clip: Path, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    frames = []
    with VideoFileSource(clip) as source:
        for index, frame in enumerate(source.frames()):
            if index % 7 == 0:
                frames.append(resize(frame.image, size))
            if len(frames) == count:
                break
    return frames


def latency_ms(stylizer: OnnxStylizer, frame: np.ndarray, runs: int) -> float:
    tensor = stylizer.preprocess(frame)
    return median_ms(stylizer.infer, runs, tensor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="mosaic-lite")
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--painting", help="style image name (default: the style's, no -lite)")
    args = parser.parse_args()

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from PIL import Image

    from models.metrics import score
    from models.vgg import load_vgg16

    entry = resolve_style(args.style, CPU)
    frames = calibration_frames(args.shared / "data/video/cockatoo.mp4", 16, (640, 360))

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(frames)

        def get_next(self) -> dict[str, np.ndarray] | None:
            frame = next(self.items, None)
            if frame is None:
                return None
            return {"input": np.ascontiguousarray(frame.transpose(2, 0, 1)[None], np.float32)}

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        fp32.write_bytes(upcast_to_fp32(entry.path))
        int8 = Path(tmp) / "int8.onnx"
        quantize_static(
            str(fp32),
            str(int8),
            Frames(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
        )
        models = {"fp32": OnnxStylizer(fp32, CPU, announce=False)}
        models["int8"] = OnnxStylizer(int8, CPU, announce=False)
        amber = np.asarray(Image.open(args.shared / "data/samples/amber.jpg").convert("RGB"))
        painting = np.asarray(
            Image.open(
                args.shared / f"data/styles/{args.painting or entry.name.removesuffix('-lite')}.jpg"
            ).convert("RGB")
        )
        vgg, _ = load_vgg16(args.shared / "weights/vgg16-imagenet-features.pth")

        print(f"{args.style}: 640x360 model-only latency, CPU provider; amber scored at 512 px")
        print("| model | ms | style distance | content distance | edges |")
        print("|---|---|---|---|---|")
        for label, stylizer in models.items():
            ms = latency_ms(stylizer, frames[0], args.runs)
            s = score(vgg, stylizer(amber), painting, amber)
            print(
                f"| {label} | {ms:.1f} | {s.style_distance:.3f} | {s.content_distance:.3f} "
                f"| {s.edge_correlation:.3f} |"
            )


if __name__ == "__main__":
    main()
