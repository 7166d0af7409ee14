"""Which H.264 encoder writes a file, and with what settings.

``--encoder auto`` (the default) uses a hardware encoder when this FFmpeg build has one that
really works on this machine, found by a real probe (the codec opened and a frame encoded),
else libx264, with a note saying what was tried. ``--encoder NAME`` forces one and fails in
one line when it cannot run. The PyPI PyAV wheels for Linux carry h264_nvenc (NVIDIA),
h264_qsv (Intel), h264_amf (AMD) and h264_v4l2m2m (V4L2 mem2mem devices, e.g. Raspberry Pi);
the macOS wheels carry h264_videotoolbox. None of them runs on the development machines
(no GPU), so only their fallback is tested there (docs/BENCHMARKS.md).

libx264's defaults were chosen by measurement (benchmarks/encode_settings.py,
docs/BENCHMARKS.md "Encoding"): see ``realtime.core.config.EncodeConfig``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from fractions import Fraction

import av
import av.error
import numpy as np

from realtime.core.config import SLOW_PRESET, EncodeConfig
from realtime.core.errors import UserError

log = logging.getLogger(__name__)

SOFTWARE = "libx264"
# In the order auto tries them. h264_vaapi is left out: it needs frames uploaded to the GPU
# through a filter graph, which this pipeline does not build.
HARDWARE = ("h264_nvenc", "h264_qsv", "h264_amf", "h264_videotoolbox", "h264_v4l2m2m")
ENCODERS = ("auto", SOFTWARE, *HARDWARE)
_PROBE_SIZE = (256, 144)


def pixel_format(name: str) -> str:
    """yuv420p where the encoder takes it (every player does), else its NV12 equivalent."""
    formats = {f.name for f in (av.Codec(name, "w").video_formats or ())}
    return "yuv420p" if not formats or "yuv420p" in formats else "nv12"


@functools.cache
def probe(name: str) -> str | None:
    """Why encoder ``name`` cannot run here, or None when it opened and encoded a frame."""
    if name not in av.codecs_available:
        return "not in this FFmpeg build"
    try:
        context = av.CodecContext.create(name, "w")
        context.width, context.height = _PROBE_SIZE
        context.pix_fmt = pixel_format(name)
        context.time_base = Fraction(1, 30)
        context.framerate = Fraction(30)
        context.open()
        frame = av.VideoFrame.from_ndarray(
            np.zeros((_PROBE_SIZE[1], _PROBE_SIZE[0], 3), np.uint8), format="rgb24"
        ).reformat(format=context.pix_fmt)
        frame.pts = 0
        context.encode(frame)
        context.encode(None)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


@functools.cache
def _automatic(candidates: tuple[str, ...]) -> tuple[str, tuple[str, ...], bool]:
    """The first candidate that works here, else libx264; the ones tried in vain; whether a
    candidate was found."""
    tried = []
    for name in candidates:
        if name not in av.codecs_available:
            continue
        if probe(name) is None:
            return name, tuple(tried), True
        tried.append(name)
    return SOFTWARE, tuple(tried), False


@functools.cache
def _announce(name: str, tried: tuple[str, ...], found: bool) -> None:
    """Said once per process, and only when a file is really encoded: before an error about
    an input (an empty file, a folder) the choice of encoder is noise."""
    if found:
        log.info("encoding with the hardware encoder %s", name)
    elif tried:
        log.info(
            "note: no hardware H.264 encoder works here (tried %s); encoding with %s",
            ", ".join(tried),
            SOFTWARE,
        )


def choose_encoder(
    requested: str, candidates: Sequence[str] = HARDWARE, announce: bool = True
) -> str:
    """The encoder a run uses for ``--encoder requested`` (one of ENCODERS). ``announce``:
    say what auto chose (False where the options are only being checked)."""
    if requested not in ENCODERS:
        raise UserError(f"unknown --encoder {requested!r}; use one of {', '.join(ENCODERS)}")
    if requested == "auto":
        requested, tried, found = _automatic(tuple(candidates))
        if announce:
            _announce(requested, tried, found)
    reason = probe(requested)
    if reason is not None:
        have = [name for name in (SOFTWARE, *HARDWARE) if name in av.codecs_available]
        raise UserError(
            f"--encoder {requested} cannot run here ({reason}); this PyAV's FFmpeg has "
            f"{', '.join(have) or 'no H.264 encoder'}; use --encoder auto"
        )
    return requested


def encoder_options(name: str, encode: EncodeConfig) -> dict[str, str]:
    """The encoder's own options for the run's quality settings. ``--crf`` maps onto each
    hardware encoder's constant-quality knob (the scales are close, not equal)."""
    quality = str(encode.crf)
    if name == SOFTWARE:
        preset = SLOW_PRESET if encode.preset == "auto" else encode.preset
        options = {"crf": quality, "preset": preset}
        if encode.tune:
            options["tune"] = encode.tune
        if encode.threads:
            options["threads"] = str(encode.threads)
        return options
    return {
        "h264_nvenc": {"rc": "vbr", "cq": quality, "preset": "p4"},
        "h264_qsv": {"global_quality": quality},
        "h264_amf": {"rc": "cqp", "qp_i": quality, "qp_p": quality},
        "h264_videotoolbox": {"q:v": str(max(1, 100 - 2 * encode.crf))},
        "h264_v4l2m2m": {},
    }.get(name, {})
