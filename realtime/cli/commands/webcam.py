"""``realtime webcam``: stylize a camera live, to a window, a virtual camera, a stream, a file."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from realtime.cli.options import (
    add_engine_options,
    add_process_options,
    add_style_options,
    add_temporal_options,
    run_config,
)
from realtime.core.config import EncodeConfig
from realtime.core.errors import EXIT_OK, UserError
from realtime.live.camera import DEFAULT_RECONNECT
from realtime.live.loop import KEYS_HELP, LiveConfig
from realtime.live.mixing import DEFAULT_MORPH_SECONDS
from realtime.live.outputs import STREAM_PRESETS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "webcam",
        help="stylize a camera live: window, virtual camera, UDP/SRT stream, recording",
        description="Stylize a camera (or a video file played like one) live. The newest "
        "frame is always the one stylized: when the network is slower than the camera, "
        "frames are dropped, so latency stays bounded. Latency (p50/p95) and fps are printed "
        f"once a second. Window keys: {KEYS_HELP}. Stopping (q, Ctrl-C, --duration, "
        "--frames, the end of a video file) finalises every output and exits 0. A camera "
        f"that stops delivering is retried for --reconnect seconds (default "
        f"{DEFAULT_RECONNECT:g}), then the run ends with exit code 2. OBS setup: docs/OBS.md.",
    )
    source = parser.add_argument_group("source")
    source.add_argument(
        "--camera",
        default="0",
        metavar="0|/dev/videoN|URL|FILE",
        help="camera index or device, a stream URL, or a video file played at its own rate "
        "(once, then the run ends). Default: 0",
    )
    source.add_argument("--width", type=int, default=None, help="ask the camera for this width")
    source.add_argument("--height", type=int, default=None, help="ask the camera for this height")
    source.add_argument("--fps", type=float, default=None, help="ask the camera for this rate")
    source.add_argument(
        "--reconnect",
        type=float,
        default=DEFAULT_RECONNECT,
        metavar="SECONDS",
        help=f"retry a camera that stops delivering for this long (default: {DEFAULT_RECONNECT:g})",
    )
    add_style_options(parser)
    add_engine_options(parser)
    add_process_options(parser)

    outputs = parser.add_argument_group("outputs (several at once are fine)")
    outputs.add_argument("--no-window", action="store_true", help="no preview window (headless)")
    outputs.add_argument(
        "--vcam",
        action="store_true",
        help="send to a virtual camera (OBS Virtual Camera, v4l2loopback); needs "
        "pip install 'realtime[vcam]'",
    )
    outputs.add_argument(
        "--vcam-backend",
        default=None,
        help="pyvirtualcam backend: obs, unitycapture, v4l2loopback (default: any available)",
    )
    outputs.add_argument(
        "--vcam-device", default=None, help="virtual camera device, e.g. /dev/video10"
    )
    outputs.add_argument(
        "--stream",
        default=None,
        metavar="udp://HOST:PORT",
        help="send H.264 in MPEG-TS, low latency, to udp://HOST:PORT or srt://HOST:PORT "
        "(OBS: Media Source)",
    )
    outputs.add_argument(
        "--stream-bitrate",
        type=int,
        default=4000,
        metavar="KBPS",
        help="stream bit rate cap in kbit/s (default: 4000)",
    )
    outputs.add_argument(
        "--stream-preset",
        default="ultrafast",
        choices=STREAM_PRESETS,
        help="x264 preset for the stream (default: ultrafast, the least CPU)",
    )
    outputs.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="FILE",
        help="record the stylized stream (written as NAME.incomplete.EXT until stopped)",
    )
    outputs.add_argument(
        "--record-crf", type=int, default=20, help="recording quality, 0..51 (default: 20)"
    )
    outputs.add_argument(
        "--record-preset",
        default="veryfast",
        help="x264 preset for the recording (default: veryfast, to keep up live)",
    )
    outputs.add_argument(
        "--snapshot-dir",
        type=Path,
        default=Path("."),
        help="where the s key saves PNG snapshots (default: the current folder)",
    )

    add_temporal_options(parser, default="flow")
    mixing = parser.add_argument_group("mixing styles (a multi-style network)")
    mixing.add_argument(
        "--morph-seconds",
        type=float,
        default=DEFAULT_MORPH_SECONDS,
        metavar="S",
        help="how long the m key's morph to the next style takes (default %(default)g)",
    )
    mixing.add_argument(
        "--morph-to",
        default=None,
        metavar="STYLE",
        help="start by morphing from --style to STYLE over --morph-seconds",
    )
    live = parser.add_argument_group("live loop")
    live.add_argument("--max-fps", type=float, default=None, help="cap the output frame rate")
    live.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="stop after this long"
    )
    live.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    live.add_argument("--quiet", action="store_true", help="no statistics lines")
    parser.set_defaults(run=run)


def live_config(args: argparse.Namespace) -> LiveConfig:
    return LiveConfig(
        max_fps=args.max_fps,
        duration=args.duration,
        frames=args.frames,
        log_stats=not args.quiet,
        snapshot_dir=args.snapshot_dir,
    )


def _cannot_morph(name: str, lite: bool) -> str:
    from realtime.runtime.styles import mixable_spec

    if lite and mixable_spec(name, lite=False):
        return (
            f"--morph-to: no lite multi-style network paints {name!r}, and the lite network "
            "was chosen for this CPU; --arch full morphs with the full one (about 1 fps at "
            "640x360 on a CPU; --size 320 is faster)"
        )
    return (
        f"--morph-to needs a multi-style network that paints {name!r} ('realtime styles' "
        "lists the MIXES)"
    )


def run(args: argparse.Namespace) -> int:
    from realtime.app.build import build_processor, choose_style, open_stylizer, temporal_maker
    from realtime.cli.wiring import pth_exporter
    from realtime.live.camera import open_camera, parse_camera
    from realtime.live.loop import LiveControls, StyleSwitcher, run_live
    from realtime.live.mixing import Mixer
    from realtime.runtime.styles import list_styles, mixable_spec, same_kind

    config = run_config(args)
    live = live_config(args)
    encode = EncodeConfig(crf=args.record_crf, preset=args.record_preset)
    # Cheap checks first: a typo should not wait for a model or a camera.
    live.check()
    spec = parse_camera(args.camera)
    _check_outputs(args, encode)
    # The t key's mode: the one asked for, or flow (the better one) when starting off.
    off = config.process.temporal == "off"
    toggle = replace(config.process, temporal="flow") if off else config.process
    make_temporal = temporal_maker(toggle)
    exporter = pth_exporter()
    name, lite = choose_style(config, live=True)
    # A style a multi-style network paints is run by that network: then n/p, m and [/] mix
    # and switch without any reload (the single-style file is the same row of it).
    style_ref = mixable_spec(name, lite) or name
    stylizer, style = open_stylizer(style_ref, config.engine, exporter, lite=lite)
    mixer = Mixer(stylizer, args.morph_seconds) if stylizer.styles else None
    if args.morph_to is not None and mixer is None:
        raise UserError(_cannot_morph(name, lite))
    if mixer is not None and args.morph_to is not None:
        mixer.index(args.morph_to)  # a style it cannot morph to fails now, in one line

    def load_style(name: str):
        return open_stylizer(name, config.engine, exporter, announce=False, lite=lite)[0]

    source = open_camera(spec, args.width, args.height, args.fps, args.reconnect)
    outputs: list = []
    try:
        for notice in source.notices:
            print(f"realtime: note: {notice}", file=sys.stderr)
        source.notices.clear()
        # The output size is fixed for the whole run: every output is opened with it.
        width, height = config.process.output_size or (source.width, source.height)
        process = replace(config.process, output_size=(width, height))
        processor = build_processor(
            stylizer, process, source_size=(source.width, source.height), live=True
        )
        # Nominal rate for the encoders and the virtual camera: what frames can at most come at.
        fps = min(source.fps, args.max_fps) if args.max_fps else source.fps
        _open_outputs(args, f"realtime - {source.label}", (width, height), fps, encode, outputs)
    except BaseException:
        for output in outputs:
            output.close(complete=False)
        source.close()
        raise

    names = same_kind([entry.name for entry in list_styles()], style.name)
    controls = LiveControls(
        processor,
        processor.at_output_size[-1],  # the live look always ends with its Strength
        processor.at_process_size,
        switcher=None if mixer else StyleSwitcher(names, style.name, stylizer, load_style),
        snapshot_dir=args.snapshot_dir,
        temporal_maker=make_temporal,
        mixer=mixer,
    )
    if mixer is not None and args.morph_to is not None:
        mixer.morph_to(mixer.index(args.morph_to), time.perf_counter())
    print(
        f"realtime: live from {source.label} ({source.width}x{source.height}, "
        f"{source.fps:g} fps) -> {', '.join(o.name for o in outputs) or 'nothing'}; "
        f"output {width}x{height}" + ("" if args.no_window else f"; keys: {KEYS_HELP}"),
        file=sys.stderr,
    )
    result = run_live(source, processor, outputs, live, controls)
    for notice in result.notices:
        print(f"realtime: note: {notice}", file=sys.stderr)
    for line in result.outputs:
        print(f"realtime: {line}", file=sys.stderr)
    print(
        f"{result.frames_out} frames out of {result.frames_in} captured ({result.dropped} "
        f"dropped) in {result.seconds:.1f} s ({result.fps:.2f} fps); latency p50 "
        f"{result.latency_p50_ms:.0f} ms, p95 {result.latency_p95_ms:.0f} ms; style "
        f"{controls.style_name!r} on {stylizer.provider}; {result.stop_reason}",
        file=sys.stderr,
    )
    return EXIT_OK


def _check_outputs(args: argparse.Namespace, encode: EncodeConfig) -> None:
    """Each output asked for can work here, before a model or a camera is opened."""
    from realtime.live.outputs import (
        check_record_path,
        check_stream_url,
        check_window_support,
        import_pyvirtualcam,
    )
    from realtime.media.video_sink import check_encode_config

    if args.no_window and not (args.vcam or args.stream or args.record):
        print(
            "realtime: note: --no-window without --vcam, --stream or --record: frames are "
            "stylized and measured, then discarded",
            file=sys.stderr,
        )
    if not args.no_window:
        check_window_support()
    if args.vcam:
        import_pyvirtualcam()
    if args.stream:
        check_stream_url(args.stream)
    if args.record:
        check_record_path(args.record)
        check_encode_config(encode)
    if not args.snapshot_dir.is_dir():
        raise UserError(f"--snapshot-dir {args.snapshot_dir} is not a folder; create it first")


def _open_outputs(
    args: argparse.Namespace,
    title: str,
    size: tuple[int, int],
    fps: float,
    encode: EncodeConfig,
    outputs: list,
) -> None:
    """Open the outputs asked for into ``outputs`` (appended one by one, so the caller can
    close those already open when a later one fails)."""
    from realtime.live.outputs import (
        RecordingOutput,
        StreamOutput,
        VirtualCameraOutput,
        WindowOutput,
    )

    width, height = size
    if not args.no_window:
        outputs.append(WindowOutput(title, width, height))
    if args.vcam:
        outputs.append(VirtualCameraOutput(width, height, fps, args.vcam_backend, args.vcam_device))
    if args.stream:
        outputs.append(
            StreamOutput(args.stream, width, height, fps, args.stream_bitrate, args.stream_preset)
        )
    if args.record:
        recording = RecordingOutput(args.record, width, height, fps, encode)
        outputs.append(recording)
        for notice in recording.notices:
            print(f"realtime: note: {notice}", file=sys.stderr)
