"""Fixtures that make small video clips with PyAV (owned by the media I/O area).

Every clip is generated at test time into a temporary folder: a few dozen frames at 64x48,
so a whole session of them takes well under a second. The picture is made for checking
orientation and motion: a white block in the top-left quarter (only there), a dark
background, and a red square that moves right by ``STEP`` pixels per frame.
"""

from __future__ import annotations

import signal
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

__all__ = [
    "CLIP_FRAMES",
    "CLIP_HEIGHT",
    "CLIP_RATE",
    "CLIP_WIDTH",
    "STEP",
    "TRUNCATED_FRAMES",
    "audio_only_file",
    "clip_aac",
    "clip_mp3",
    "clip_ntsc",
    "clip_odd_size",
    "clip_pcm",
    "clip_rotated",
    "clip_subtitled",
    "clip_truncated",
    "make_clip",
    "media_dir",
    "not_a_video",
    "patch_rotation",
    "pattern_frame",
    "psnr",
]

CLIP_WIDTH, CLIP_HEIGHT = 64, 48
CLIP_FRAMES = 20
CLIP_RATE = Fraction(25)
STEP = 2  # pixels the red square moves per frame
TRUNCATED_FRAMES = 30  # frames in the truncated clip before it was cut

_AUDIO_RATE = 44100
_AUDIO_ENCODERS = {"aac": "aac", "mp3": "libmp3lame", "pcm": "pcm_s16le"}


def ctrl_c_as_a_terminal_gives_it() -> None:
    """``preexec_fn`` for a child the test will send SIGINT: a shell without job control
    starts background jobs with SIGINT ignored, children inherit that, and Python then
    leaves it ignored. The child gets Ctrl-C as a terminal would deliver it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def pattern_frame(index: int, width: int, height: int, pattern: str = "moving") -> np.ndarray:
    """Frame ``index`` of a clip: uint8 (H, W, 3) RGB. ``noise`` is incompressible."""
    if pattern not in ("moving", "still", "noise"):
        raise ValueError(f"unknown pattern {pattern!r}")
    if pattern == "noise":
        return np.random.default_rng(index).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = np.full((height, width, 3), 40, np.uint8)
    image[: max(1, height // 4), : max(1, width // 4)] = 255  # the orientation mark
    if pattern == "moving":
        size = max(2, min(width, height) // 6)
        x = (index * STEP) % max(1, width - size)
        y = height // 2
        image[y : y + size, x : x + size] = (230, 30, 30)
    return image


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def make_clip(
    path: Path,
    width: int = CLIP_WIDTH,
    height: int = CLIP_HEIGHT,
    frames: int = CLIP_FRAMES,
    rate: Fraction | int = CLIP_RATE,
    audio: str | None = None,
    pattern: str = "moving",
    *,
    faststart: bool = False,
    rotation: int = 0,
    subtitles: bool = False,
    keyframe_every: int | None = None,
) -> Path:
    """Write an H.264 clip with PyAV and return its path.

    ``audio``: None, "aac", "mp3" or "pcm" (pcm_s16le), a 440 Hz tone as long as the video.
    ``faststart`` puts the moov atom before the frame data (mp4/mov only).
    ``rotation``: clockwise degrees a player must turn the picture (mp4/mov only), written
    by patching the video track's ``tkhd`` matrix.
    ``subtitles`` adds a SubRip stream with one cue (Matroska only).
    ``keyframe_every`` sets the GOP length (default: x264's, one keyframe in short clips).
    """
    path = Path(path)
    rate = Fraction(rate)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        # crf 10: the fixtures are references for pixel comparisons, so keep them sharp.
        video = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast", "crf": "10"})
        video.width, video.height = width, height
        # x264 refuses odd sizes in 4:2:0; 4:4:4 has no such limit.
        video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        video.codec_context.time_base = 1 / rate
        if keyframe_every:
            video.codec_context.gop_size = keyframe_every
        sound = None
        if audio is not None:
            sound = out.add_stream(_AUDIO_ENCODERS[audio], rate=_AUDIO_RATE)
            sound.layout = "mono" if audio == "pcm" else "stereo"
        # Every stream must exist before the first packet is muxed (the header).
        cues = out.add_mux_stream("subrip") if subtitles else None
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(
                pattern_frame(i, width, height, pattern), format="rgb24"
            )
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _write_tone(out, sound, float(frames / rate))
        if cues is not None:
            _write_subtitle(out, cues)
    if rotation:
        patch_rotation(path, rotation)
    return path


def _write_tone(out: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    total = int(round(seconds * _AUDIO_RATE))
    channels = stream.codec_context.layout.nb_channels
    for start in range(0, total, 1024):
        n = min(1024, total - start)
        t = np.arange(start, start + n) / _AUDIO_RATE
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone[None], channels, axis=0), format="fltp", layout=stream.layout.name
        )
        frame.sample_rate = _AUDIO_RATE
        frame.pts = start
        out.mux(stream.encode(frame))  # the encoder converts fltp to its own sample format
    out.mux(stream.encode(None))


def _write_subtitle(out: av.container.OutputContainer, stream: av.stream.Stream) -> None:
    # A stream without an encoder: SubRip packets are the cue text itself.
    packet = av.Packet(b"hello")
    packet.stream = stream
    packet.pts = packet.dts = 0
    packet.duration = 500
    packet.time_base = Fraction(1, 1000)
    out.mux(packet)


def patch_rotation(path: Path, clockwise: int) -> None:
    """Set the video track's display matrix in an mp4/mov to a clockwise quarter turn.

    The matrix is QuickTime's ``[a b u; c d v; x y w]`` (16.16 fixed point; u, v, w 2.30),
    mapping a point ``(px, py)`` to ``(a*px + c*py + x, b*px + d*py + y)``. A phone clip shot
    in portrait stores ``a=0 b=1 c=-1 d=0``: turn 90 degrees clockwise to display.
    """
    cos, sin = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[clockwise % 360]
    one = 0x10000
    matrix = (cos * one, sin * one, 0, -sin * one, cos * one, 0, 0, 0, 0x40000000)
    data = bytearray(Path(path).read_bytes())
    patched = 0
    at = data.find(b"tkhd")
    while at >= 0:
        version = data[at + 4]
        # After 'tkhd': version/flags (4), times + track id + duration (20 or 32 bytes in
        # version 1), reserved (8), layer, group, volume, reserved (8): then the matrix.
        start = at + 4 + 4 + (32 if version == 1 else 20) + 8 + 8
        width = struct.unpack(">I", data[start + 36 : start + 40])[0]
        if width:  # audio tracks have no width
            struct.pack_into(">9i", data, start, *matrix)
            patched += 1
        at = data.find(b"tkhd", at + 4)
    if patched != 1:
        raise RuntimeError(f"expected one video tkhd in {path}, patched {patched}")
    Path(path).write_bytes(bytes(data))


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip_aac(media_dir: Path) -> Path:
    """64x48, 25 fps, 20 frames, AAC stereo audio, .mp4."""
    return make_clip(media_dir / "aac.mp4", audio="aac")


@pytest.fixture(scope="session")
def clip_mp3(media_dir: Path) -> Path:
    """Like clip_aac, with MP3 audio in the .mp4."""
    return make_clip(media_dir / "mp3.mp4", audio="mp3")


@pytest.fixture(scope="session")
def clip_pcm(media_dir: Path) -> Path:
    """pcm_s16le audio in .mkv: a codec that some output containers refuse."""
    return make_clip(media_dir / "pcm.mkv", audio="pcm")


@pytest.fixture(scope="session")
def clip_subtitled(media_dir: Path) -> Path:
    """.mkv with video, AAC audio and a SubRip subtitle stream."""
    return make_clip(media_dir / "subtitled.mkv", audio="aac", subtitles=True)


@pytest.fixture(scope="session")
def clip_odd_size(media_dir: Path) -> Path:
    """63x47 (yuv444p, since 4:2:0 needs even sizes)."""
    return make_clip(media_dir / "odd.mp4", 63, 47)


@pytest.fixture(scope="session")
def clip_ntsc(media_dir: Path) -> Path:
    """30000/1001 fps, 24 frames, AAC audio."""
    return make_clip(media_dir / "ntsc.mp4", frames=24, rate=Fraction(30000, 1001), audio="aac")


@pytest.fixture(scope="session")
def clip_rotated(media_dir: Path) -> Path:
    """Stored 64x48, display matrix says: turn 90 degrees clockwise (portrait phone clip)."""
    return make_clip(media_dir / "rotated.mp4", audio="aac", rotation=90)


@pytest.fixture(scope="session")
def clip_truncated(media_dir: Path) -> Path:
    """A 30-frame faststart .mp4 (index first) cut to its first 60%: frame data is missing."""
    full = make_clip(media_dir / "full.mp4", frames=TRUNCATED_FRAMES, audio="aac", faststart=True)
    data = full.read_bytes()
    if data.find(b"moov") > data.find(b"mdat"):
        raise RuntimeError("faststart did not move the moov atom to the front")
    cut = media_dir / "truncated.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    return cut


@pytest.fixture(scope="session")
def not_a_video(media_dir: Path) -> Path:
    path = media_dir / "notes.mp4"  # a video suffix, so only the content gives it away
    path.write_text("this is not a video\n" * 20)
    return path


@pytest.fixture(scope="session")
def audio_only_file(media_dir: Path) -> Path:
    """An .m4a with one AAC stream and no video."""
    path = media_dir / "tone.m4a"
    with av.open(str(path), "w") as out:
        sound = out.add_stream("aac", rate=_AUDIO_RATE)
        sound.layout = "stereo"
        _write_tone(out, sound, 0.5)
    return path
