"""VideoFileSink and audio copy: real PyAV encoding, checked by decoding the output."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from fixtures_media import CLIP_FRAMES, psnr

from realtime.core.config import EncodeConfig
from realtime.core.errors import UserError
from realtime.media.audio_copy import container_accepts
from realtime.media.video_sink import VideoFileSink
from realtime.media.video_source import DecodedFrame, VideoFileSource, VideoInfo


@dataclass
class StreamFacts:
    codec: str
    frames: int  # packets demuxed (one per frame for video)
    times: list[Fraction]  # packet pts in seconds, presentation order
    rate: Fraction | None
    size: tuple[int, int] | None

    @property
    def end(self) -> float:
        """Seconds from the stream's start to the end of its last packet."""
        return float(self.times[-1] - self.times[0] + self._last_duration)

    _last_duration: Fraction = Fraction(0)


def facts(path: Path) -> dict[str, StreamFacts]:
    """Independent of realtime.video_source: what the file holds, read with PyAV."""
    result = {}
    with av.open(str(path)) as container:
        by_stream: dict[int, list[av.Packet]] = {s.index: [] for s in container.streams}
        for packet in container.demux():
            if packet.size:
                by_stream[packet.stream.index].append(packet)
        for stream in container.streams:
            packets = by_stream[stream.index]
            times = sorted(p.pts * p.time_base for p in packets)
            last = max(packets, key=lambda p: p.pts)
            item = StreamFacts(
                codec=stream.codec_context.codec.canonical_name,
                frames=len(packets),
                times=times,
                rate=getattr(stream, "average_rate", None),
                size=(stream.width, stream.height) if stream.type == "video" else None,
            )
            item._last_duration = last.duration * last.time_base
            result.setdefault(stream.type, item)
    return result


def decode(path: Path) -> tuple[VideoInfo, list[DecodedFrame], str | None]:
    with VideoFileSource(path) as source:
        return source.info, list(source.frames()), source.damaged


def restream(
    src: Path,
    dst: Path,
    encode: EncodeConfig | None = None,
    audio: bool = True,
    stop_after: int | None = None,
) -> tuple[VideoFileSink, list[DecodedFrame]]:
    """Decode ``src`` and encode it unchanged into ``dst`` (what the pipeline does)."""
    info, frames, _ = decode(src)
    sink = VideoFileSink(
        dst,
        info.width,
        info.height,
        info.rate,
        info.time_base,
        encode or EncodeConfig(crf=18, preset="veryfast"),
        src if audio else None,
    )
    for frame in frames[:stop_after]:
        sink.write(frame.image, frame.pts)
    sink.close(audio_until_video_end=stop_after is not None)
    return sink, frames


def test_round_trip_keeps_frames_timing_pixels_and_audio(clip_aac: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    sink, frames_in = restream(clip_aac, out)
    assert sink.frames_written == CLIP_FRAMES
    assert sink.notices == []
    src, dst = facts(clip_aac), facts(out)
    assert dst["video"].codec == "h264"
    assert dst["video"].frames == src["video"].frames == CLIP_FRAMES
    assert dst["video"].rate == src["video"].rate == Fraction(25)
    assert dst["video"].times == src["video"].times  # every frame's timestamp, in seconds
    assert dst["video"].end == pytest.approx(src["video"].end)
    info, frames_out, damaged = decode(out)
    assert damaged is None and info.pixel_format == "yuv420p"
    assert len(frames_out) == len(frames_in)
    for a, b in zip(frames_in, frames_out, strict=True):
        assert psnr(a.image, b.image) > 30
    # Audio: same codec, packet for packet.
    assert dst["audio"].codec == "aac"
    assert dst["audio"].frames == src["audio"].frames
    assert dst["audio"].times == src["audio"].times
    assert sink.audio_packets_written == src["audio"].frames


def test_ntsc_rate_survives(clip_ntsc: Path, tmp_path: Path) -> None:
    out = tmp_path / "ntsc.mp4"
    restream(clip_ntsc, out)
    src, dst = facts(clip_ntsc), facts(out)
    assert dst["video"].rate == Fraction(30000, 1001)
    assert dst["video"].frames == 24
    assert dst["video"].times == src["video"].times
    info, _, _ = decode(out)
    assert info.rate == Fraction(30000, 1001)


def test_mp3_in_mp4_is_copied(clip_mp3: Path, tmp_path: Path) -> None:
    out = tmp_path / "mp3.mp4"
    sink, _ = restream(clip_mp3, out)
    assert sink.notices == []
    src, dst = facts(clip_mp3), facts(out)
    assert dst["audio"].codec == "mp3"
    assert dst["audio"].frames == src["audio"].frames
    assert dst["audio"].end == pytest.approx(src["audio"].end, abs=0.03)


@pytest.mark.parametrize("clip", ["clip_mp3", "clip_pcm"])
def test_audio_reencoded_to_aac_when_the_container_refuses_it(
    clip: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    src_path: Path = request.getfixturevalue(clip)
    out = tmp_path / "out.3gp"  # 3GPP holds H.264 and AAC, but neither MP3 nor PCM
    sink, _ = restream(src_path, out)
    assert len(sink.notices) == 1 and "re-encoded to AAC" in sink.notices[0]
    src, dst = facts(src_path), facts(out)
    assert dst["audio"].codec == "aac"
    assert dst["audio"].end == pytest.approx(src["audio"].end, abs=0.05)
    assert dst["video"].frames == CLIP_FRAMES


def test_pcm_is_copied_where_the_container_takes_it(clip_pcm: Path, tmp_path: Path) -> None:
    out = tmp_path / "pcm.mov"
    sink, _ = restream(clip_pcm, out)
    assert sink.notices == []
    assert facts(out)["audio"].codec == "pcm_s16le"


def test_container_probe() -> None:
    with av.open(io.BytesIO(), "w", format="matroska") as scratch:
        pcm = scratch.add_stream("pcm_s16le", rate=44100)
        aac = scratch.add_stream("aac", rate=44100)
        assert container_accepts("mp4", aac)
        assert not container_accepts("3gp", pcm)
        # FFmpeg's flv muxer aborts the process on PCM instead of refusing it: still False.
        assert not container_accepts("flv", pcm)


def test_subtitles_are_dropped_with_a_notice(clip_subtitled: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    sink, _ = restream(clip_subtitled, out)
    assert sink.notices == ["dropped 1 subtitle stream(s) of subtitled.mkv"]
    assert sorted(facts(out)) == ["audio", "video"]


def test_matroska_output_keeps_relative_timing(clip_aac: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    restream(clip_aac, out)
    src, dst = facts(clip_aac), facts(out)
    assert dst["video"].frames == CLIP_FRAMES
    # Matroska cannot store the AAC priming packet's negative time, so the muxer shifts
    # every stream by the same amount: intervals and A/V offset stay, the origin moves.
    shift = dst["video"].times[0] - src["video"].times[0]
    assert abs(shift) < 0.05
    assert [t - shift for t in dst["video"].times] == src["video"].times
    assert dst["audio"].times[0] - shift == pytest.approx(float(src["audio"].times[0]), abs=1e-3)


def test_odd_size_is_padded_by_edge_replication(clip_odd_size: Path, tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    sink, frames_in = restream(clip_odd_size, out)
    assert any("padded from 63x47 to 64x48" in n for n in sink.notices)
    info, frames_out, _ = decode(out)
    assert (info.width, info.height) == (64, 48)
    assert len(frames_out) == CLIP_FRAMES
    for a, b in zip(frames_in, frames_out, strict=True):
        assert psnr(a.image, b.image[:47, :63]) > 30
        # The extra column/row repeats the edge (within compression noise).
        assert np.abs(b.image[:47, 63].astype(int) - a.image[:, 62].astype(int)).mean() < 8
        assert np.abs(b.image[47, :63].astype(int) - a.image[46, :].astype(int)).mean() < 8


def test_interrupted_close_cuts_audio_at_video_end(clip_aac: Path, tmp_path: Path) -> None:
    out = tmp_path / "partial.mp4"
    sink, _ = restream(clip_aac, out, stop_after=10)
    assert sink.frames_written == 10
    dst = facts(out)
    assert dst["video"].frames == 10
    video_end = dst["video"].end  # 10 frames at 25 fps
    assert video_end == pytest.approx(0.4)
    audio_end = float(dst["audio"].times[0]) + dst["audio"].end
    assert video_end - 0.03 < audio_end < video_end + 0.03  # one AAC packet is 23 ms


def test_audio_is_interleaved_as_frames_are_written(clip_aac: Path, tmp_path: Path) -> None:
    info, frames, _ = decode(clip_aac)
    sink = VideoFileSink(
        tmp_path / "o.mp4",
        info.width,
        info.height,
        info.rate,
        info.time_base,
        EncodeConfig(),
        clip_aac,
    )
    total = facts(clip_aac)["audio"].frames
    for frame in frames[:10]:
        sink.write(frame.image, frame.pts)
    halfway = sink.audio_packets_written
    sink.close()
    # About half the audio went out with the first half of the video, the rest at close.
    assert 0.3 * total < halfway < 0.7 * total
    assert sink.audio_packets_written == total


def test_missing_pts_are_counted_and_backwards_pts_nudged(tmp_path: Path) -> None:
    out = tmp_path / "count.mp4"
    rate, tb = Fraction(30000, 1001), Fraction(1, 30000)
    sink = VideoFileSink(out, 32, 32, rate, tb, EncodeConfig(preset="ultrafast"), None)
    image = np.zeros((32, 32, 3), np.uint8)
    for _ in range(5):
        sink.write(image, None)
    sink.write(image, 1001 * 4)  # same as the previous frame: nudged one tick later
    sink.close()
    assert any("1 frame(s) had timestamps" in n for n in sink.notices)
    times = facts(out)["video"].times
    assert times[:5] == [Fraction(1001, 30000) * i for i in range(5)]
    assert times[5] == Fraction(1001 * 4 + 1, 30000)


def test_source_timestamps_are_kept_for_variable_frame_rate(tmp_path: Path) -> None:
    out = tmp_path / "vfr.mp4"
    pts = [0, 1, 2, 5, 6, 7, 12, 13]  # gaps, as from a phone or screen recorder
    sink = VideoFileSink(
        out, 32, 32, Fraction(25), Fraction(1, 25), EncodeConfig(preset="ultrafast"), None
    )
    for i, p in enumerate(pts):
        sink.write(np.full((32, 32, 3), 10 * i, np.uint8), p)
    sink.close()
    assert sink.notices == []
    assert facts(out)["video"].times == [Fraction(p, 25) for p in pts]


def test_shared_realshort_round_trip(shared_dir: Path, tmp_path: Path) -> None:
    src = shared_dir / "data" / "video" / "realshort.mp4"
    if not src.is_file():
        pytest.skip(f"{src} not found")
    out = tmp_path / "realshort.mp4"
    sink, frames_in = restream(src, out)
    assert sink.notices == []
    before, after = facts(src), facts(out)
    assert after["video"].frames == before["video"].frames == 36
    assert after["video"].times == before["video"].times
    assert after["video"].rate == before["video"].rate
    assert after["audio"].codec == "aac"
    assert after["audio"].times == before["audio"].times
    _, frames_out, _ = decode(out)
    assert min(psnr(a.image, b.image) for a, b in zip(frames_in, frames_out, strict=True)) > 30


def test_without_audio_source_writes_video_only(clip_aac: Path, tmp_path: Path) -> None:
    out = tmp_path / "silent.mp4"
    restream(clip_aac, out, audio=False)
    assert sorted(facts(out)) == ["video"]


def test_write_rejects_wrong_frames(tmp_path: Path) -> None:
    sink = VideoFileSink(
        tmp_path / "x.mp4", 32, 24, Fraction(25), Fraction(1, 25), EncodeConfig(), None
    )
    with pytest.raises(ValueError, match="expected a uint8"):
        sink.write(np.zeros((24, 32, 3), np.float32), 0)
    with pytest.raises(ValueError, match="expected a uint8"):
        sink.write(np.zeros((32, 24, 3), np.uint8), 0)
    sink.close()
    with pytest.raises(RuntimeError):
        sink.write(np.zeros((24, 32, 3), np.uint8), 0)


def _sink(path: Path, encode: EncodeConfig | None = None, audio: Path | None = None):
    return VideoFileSink(
        path, 32, 24, Fraction(25), Fraction(1, 25), encode or EncodeConfig(), audio
    )


def test_output_folder_missing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        _sink(tmp_path / "no" / "such" / "out.mp4")


def test_output_folder_not_writable(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(UserError, match="not writable"):
            _sink(locked / "out.mp4")
    finally:
        locked.chmod(0o700)


def test_output_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is a directory"):
        _sink(tmp_path)


def test_unknown_output_format(tmp_path: Path) -> None:
    out = tmp_path / "out.xyz"
    with pytest.raises(UserError, match=r"cannot write video as \.xyz \(out\.xyz\)"):
        _sink(out)
    assert not list(tmp_path.iterdir())


def test_unknown_output_format_error_names_the_users_file(clip_aac, tmp_path, capsys) -> None:
    from realtime.cli.main import main

    assert main(["video", str(clip_aac), str(tmp_path / "out.xyz")]) == 2
    err = capsys.readouterr().err
    assert "out.xyz" in err and "incomplete" not in err
    assert not list(tmp_path.iterdir())


def test_container_without_h264_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "out.webm"
    with pytest.raises(UserError, match="cannot hold H.264"):
        _sink(out)
    assert not out.exists()


@pytest.mark.parametrize(
    ("encode", "message"),
    [
        (EncodeConfig(crf=60), "crf 60 is out of range"),
        (EncodeConfig(preset="warp"), "unknown x264 preset 'warp'"),
    ],
)
def test_bad_encode_settings(tmp_path: Path, encode: EncodeConfig, message: str) -> None:
    with pytest.raises(UserError, match=message):
        _sink(tmp_path / "out.mp4", encode)


def test_missing_audio_source(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(UserError, match="audio source .* does not exist"):
        _sink(out, audio=tmp_path / "gone.mp4")
    assert not out.exists()


def test_auto_encoder_probes_for_real_and_falls_back_in_order(caplog) -> None:
    import logging

    from realtime.media import encoders

    caplog.set_level(logging.INFO, logger="realtime")
    # Real probes: whatever this FFmpeg build has is opened and made to encode a frame.
    assert encoders.probe("libx264") is None
    assert encoders.probe("no_such_encoder") == "not in this FFmpeg build"
    # The first candidate that works wins: libx264 stands in for a working hardware encoder
    # behind one that cannot run without its device (NVENC needs an NVIDIA driver).
    if encoders.probe("h264_nvenc") is None:
        pytest.skip("NVENC works on this machine")
    encoders._automatic.cache_clear()
    assert encoders.choose_encoder("auto", ("h264_nvenc", "libx264")) == "libx264"
    assert "encoding with the hardware encoder libx264" in caplog.text


def test_forced_encoder_that_cannot_run_is_one_line() -> None:
    from realtime.media import encoders

    broken = next((n for n in encoders.HARDWARE if encoders.probe(n) is not None), None)
    if broken is None:
        pytest.skip("every hardware encoder of this FFmpeg build works here")
    with pytest.raises(UserError, match=f"--encoder {broken} cannot run here .*--encoder auto"):
        encoders.choose_encoder(broken)
    with pytest.raises(UserError, match="unknown --encoder"):
        encoders.choose_encoder("x265")
