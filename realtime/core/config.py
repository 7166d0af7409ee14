"""The run configuration: one typed dataclass, built once from the command line and passed
explicitly to every stage. Every default of a run is stated here, once: the command line
shows these defaults and fills in only what the user gave (``realtime.cli.options``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from realtime.core.errors import UserError

# cpu, cuda and tensorrt are ONNX Runtime's providers; openvino is the second engine (the CPU,
# or an Intel GPU where one is faster). auto: CUDA, then OpenVINO, then ONNX Runtime's CPU.
DEVICES = ("auto", "cpu", "openvino", "cuda", "tensorrt")
# The precision OpenVINO computes in (ONNX Runtime's providers keep the model's own): auto is
# bf16 where the CPU has it natively and the style's card records that bf16 keeps its scores
# within 1% (scripts/check_bf16.py), fp32 otherwise (realtime.runtime.openvino_engine).
ENGINE_PRECISIONS = ("auto", "fp32", "bf16")
# The style a run uses when none is named (webcam without a usable GPU takes its lite
# version: realtime.runtime.styles.default_style).
DEFAULT_STYLE = "mosaic"
TEMPORAL_MODES = ("off", "ema", "flow")
ARCH_CHOICES = ("auto", "full", "lite")
# Where an interval keyframe of video by optimisation starts: the warped previous output (no
# pop) or the content (each on its own).
KEYFRAME_STARTS = ("warped", "content")


@dataclass(frozen=True)
class EngineConfig:
    """How the network's session is built (ONNX Runtime or OpenVINO)."""

    device: str = "auto"  # one of DEVICES
    precision: str = "auto"  # one of ENGINE_PRECISIONS (OpenVINO only)
    # CPU intra-op threads; None means one per core (ONNX Runtime's own default is
    # the same, but we set it explicitly so a benchmark states what it measured).
    threads: int | None = None
    # TensorRT engine cache and models exported on the fly from .pth files.
    # None means the user cache directory (realtime.core.paths.user_cache_dir()).
    cache_dir: Path | None = None


@dataclass(frozen=True)
class ProcessConfig:
    """What happens to a frame around the network."""

    # Stylize at a smaller size, then scale back: the long side in pixels, or a factor.
    size: int | None = None
    scale: float | None = None
    # Output (width, height); None keeps the input size.
    output_size: tuple[int, int] | None = None
    strength: float = 1.0  # 1 = fully stylized, 0 = the original frame
    preserve_color: bool = False  # take the stylized luminance, keep the input's colours
    # Flicker removal at the processing size (realtime.temporal): off | ema | flow. Video by
    # optimisation alone turns it off (its temporal loss does the job; cli.options).
    temporal: str = "flow"
    # 0.7: strokes live ~3 frames along their motion path; enough to hide flicker, short
    # enough that a wrong flow vector does not smear (docs/TEMPORAL.md).
    temporal_strength: float = 0.7


DEFAULT_TEMPORAL_STRENGTH = ProcessConfig.temporal_strength


@dataclass(frozen=True)
class EncodeConfig:
    """H.264 settings for file outputs (realtime.media.encoders)."""

    encoder: str = "auto"  # auto: a hardware encoder that works here, else libx264
    # CRF 22: side by side at 1:1 no loss shows against a lossless encode, for the full
    # network (medium) and the lite one (superfast), and files are a third smaller than at 18
    # (docs/BENCHMARKS.md, "Choosing the default CRF again"; softening shows from 2x zoom on).
    crf: int = 22
    # auto: x264's FAST_PRESET for a network that outruns the encoder (the lite network on a
    # CPU, any network on a GPU), SLOW_PRESET otherwise (docs/BENCHMARKS.md, "Encoding").
    preset: str = "auto"
    tune: str | None = None  # libx264's --tune (e.g. ssim); None: x264's default
    threads: int = 0  # libx264's threads; 0: x264's own choice


# What --preset auto resolves to, measured on a 2-core CPU: medium keeps files the smallest at
# a given quality and stays hidden behind a full network (99% of its model-only fps end to
# end); superfast is the slowest preset that keeps up with the lite network (91% at 360p).
SLOW_PRESET = "medium"
FAST_PRESET = "superfast"


@dataclass(frozen=True)
class OptimiseConfig:
    """Gatys et al.'s optimisation (``models.gatys``): what the command line asks of it.

    Used by ``image --style-image`` / ``--method gatys`` and by ``video --style-image`` /
    ``--keyframes gatys``; what is not set here (layers, total variation, ...) stays the
    default of ``models.gatys.GatysConfig``.
    """

    style_image: Path | None = None  # the painting; None: no optimisation
    method: str = "network"  # image: network | gatys (refine the network's output)
    keyframes: str = "none"  # video with a trained style: none | gatys
    keyframe_interval: int = 10  # a keyframe every N frames (and at every scene cut)
    steps: int | None = None  # full optimisation (image, keyframes); None: the default
    frame_steps: int = 40  # video: steps for each frame between keyframes
    keyframe_start: str = "warped"  # video, no network: interval keyframes from warped | content
    temporal_weight: float | None = None  # video: the short-term temporal loss; None: default
    style_weight: float | None = None  # against content 1; None: the optimiser's default
    optimizer: str | None = None  # lbfgs | adam; None: the optimiser's default
    scales: int | None = None  # coarse-to-fine levels; None: the optimiser's default
    vgg_weights: Path | None = None  # None: $REALTIME_VGG_WEIGHTS, then torchvision


@dataclass(frozen=True)
class RunConfig:
    """Everything a ``video``/``image``/``webcam``/``bench`` run needs, in one place."""

    # None: DEFAULT_STYLE.
    style: str | None = None
    # Which network paints it: full, lite (NAME-lite, the network for CPUs), or auto: lite
    # for live work where no usable GPU is (realtime.app.build.choose_style), full otherwise.
    arch: str = "auto"
    engine: EngineConfig = field(default_factory=EngineConfig)
    process: ProcessConfig = field(default_factory=ProcessConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    # Frames in flight between decode -> stylize -> encode. Bounded, so memory stays
    # flat on long files; large enough to hide decode/encode jitter behind inference.
    queue_size: int = 8
    progress: bool = True
    optimise: OptimiseConfig = field(default_factory=OptimiseConfig)


# -- live runs (``realtime webcam``) -----------------------------------------------------------

DEFAULT_RECONNECT = 5.0  # seconds a lost camera is retried before the run gives up
DEFAULT_MORPH_SECONDS = 3.0  # a morph between styles of a multi-style network
STREAM_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")


@dataclass(frozen=True)
class CameraConfig:
    """What the live run reads: ``--camera`` and the mode asked of it."""

    camera: str = "0"  # an index, /dev/videoN, a URL or a video file
    width: int | None = None  # requests to a camera; a file plays at its own size and rate
    height: int | None = None
    fps: float | None = None
    reconnect: float = DEFAULT_RECONNECT


@dataclass(frozen=True)
class LiveOutputsConfig:
    """Where the live stream goes; several at once are fine."""

    window: bool = True
    vcam: bool = False
    vcam_backend: str | None = None  # pyvirtualcam's: obs, unitycapture, v4l2loopback
    vcam_device: str | None = None
    stream: str | None = None  # udp://HOST:PORT or srt://HOST:PORT
    stream_bitrate: int = 4000  # kbit/s cap: OBS's Media Source copes, a LAN carries it
    stream_preset: str = "ultrafast"  # the least CPU, so the stream never slows the network
    record: Path | None = None
    record_crf: int = 20
    record_preset: str = "veryfast"  # keeps up live on a CPU beside the network
    snapshot_dir: Path = Path(".")

    @property
    def record_encode(self) -> EncodeConfig:
        return EncodeConfig(crf=self.record_crf, preset=self.record_preset)

    @property
    def any(self) -> bool:
        return self.window or self.vcam or bool(self.stream) or self.record is not None


@dataclass(frozen=True)
class LiveConfig:
    """How the live loop runs (the stylizing itself is RunConfig's)."""

    max_fps: float | None = None  # cap the output rate; None: as fast as frames come
    duration: float | None = None  # stop after this many seconds
    frames: int | None = None  # stop after this many output frames
    stats_interval: float = 1.0  # seconds between statistics lines
    log_stats: bool = True  # print the statistics line on stderr
    morph_seconds: float = DEFAULT_MORPH_SECONDS
    morph_to: str | None = None  # start by morphing to this style
    # A painting dropped on the panel trains a new style (realtime.app.add_style) on these
    # photos; None: on frames of the live input, collected first: 48 frames 0.25 s apart (12 s
    # of camera: enough variety for a style that has only its norms to learn).
    add_style_photos: Path | None = None
    add_style_frames: int = 48
    add_style_frame_interval: float = 0.25
    # Its training recipe; None: the packaged one for the network's kind,
    # realtime/recipes/add-style-lite.toml or add-style-full.toml.
    add_style_recipe: Path | None = None

    def check(self) -> None:
        for name, value in (
            ("--max-fps", self.max_fps),
            ("--duration", self.duration),
            ("--frames", self.frames),
            ("--morph-seconds", self.morph_seconds),
        ):
            if value is not None and value <= 0:
                raise UserError(f"{name} must be positive, got {value}")
        if self.stats_interval <= 0:
            raise ValueError("stats_interval must be positive")
        if self.add_style_frames <= 0 or self.add_style_frame_interval <= 0:
            raise ValueError("add_style_frames and add_style_frame_interval must be positive")
        if self.add_style_photos is not None and not self.add_style_photos.is_dir():
            raise UserError(
                f"--panel-photos {self.add_style_photos} is not a folder; give a folder of photos"
            )
        if self.add_style_recipe is not None and not self.add_style_recipe.is_file():
            raise UserError(
                f"--panel-recipe {self.add_style_recipe} is not a file; give a training recipe "
                "(.toml)"
            )
