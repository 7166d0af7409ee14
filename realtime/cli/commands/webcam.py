"""``realtime webcam``: stylize a camera live, to a window, a virtual camera, a stream, a file.

Parses into a ``LiveSpec`` and reports; the run itself is ``realtime.app.live``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realtime.cli.options import (
    add_engine_options,
    add_process_options,
    add_quiet_option,
    add_style_options,
    add_temporal_options,
    config_from_args,
    run_config,
)
from realtime.core.config import (
    STREAM_PRESETS,
    CameraConfig,
    LiveConfig,
    LiveOutputsConfig,
)
from realtime.core.errors import EXIT_OK, UserError
from realtime.core.extras import missing_message, missing_module
from realtime.live.keys import KEYS_HELP

DEFAULT_PANEL = "127.0.0.1:8765"

_UNSET = argparse.SUPPRESS
# Options that mean something only with --panel: (flag, dest).
_PANEL_ONLY = (
    ("--panel-public", "panel_public"),
    ("--panel-open", "panel_open"),
    ("--panel-photos", "add_style_photos"),
    ("--panel-recipe", "add_style_recipe"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "webcam",
        help="stylize a camera live: window, virtual camera, UDP/SRT stream, recording",
        description="Stylize a camera (or a video file played like one) live. The newest "
        "frame is always the one stylized: when the network is slower than the camera, "
        "frames are dropped, so latency stays bounded. Latency (p50/p95) and fps are printed "
        f"once a second. Window keys: {KEYS_HELP}. Stopping (q, Ctrl-C, --duration, "
        "--frames, the end of a video file) finalises every output and exits 0. A camera "
        "that stops delivering is retried for --reconnect seconds, then the run ends with "
        "exit code 2. OBS setup: docs/OBS.md.",
    )
    _add_source_options(parser)
    add_style_options(parser)
    add_engine_options(parser)
    add_process_options(parser)
    _add_output_options(parser)
    add_temporal_options(parser, default="flow")
    _add_live_options(parser)
    _add_panel_options(parser)
    parser.set_defaults(run=run)


def _add_panel_options(parser: argparse.ArgumentParser) -> None:
    panel = parser.add_argument_group("control panel (a web page, an OBS dock, a JSON API)")
    panel.add_argument(
        "--panel",
        nargs="?",
        const=DEFAULT_PANEL,
        default=None,
        metavar="[HOST:]PORT",
        help=f"serve the control panel while the run goes on (default {DEFAULT_PANEL}); its "
        "URL, with the run's token, is printed at start. Needs the [panel] extra. "
        "docs/PANEL.md",
    )
    panel.add_argument(
        "--panel-public",
        action="store_true",
        help="allow --panel on an address other than loopback (the token still guards it)",
    )
    panel.add_argument(
        "--panel-open", action="store_true", help="open the panel in the default browser"
    )
    d = LiveConfig()
    panel.add_argument(
        "--panel-photos",
        dest="add_style_photos",
        type=Path,
        default=_UNSET,
        metavar="DIR",
        help="a painting dropped on the panel trains on these photos (default: "
        f"{d.add_style_frames} frames of the camera, {d.add_style_frame_interval:g} s apart)",
    )
    panel.add_argument(
        "--panel-recipe",
        dest="add_style_recipe",
        type=Path,
        default=_UNSET,
        metavar="RECIPE.toml",
        help="the training recipe of a painting dropped on the panel (default: the packaged "
        "add-style-lite or add-style-full, for the network's kind)",
    )


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    d = CameraConfig()
    source = parser.add_argument_group("source")
    source.add_argument(
        "--camera",
        default=_UNSET,
        metavar="0|/dev/videoN|URL|FILE",
        help="camera index or device, a stream URL, or a video file played at its own rate "
        f"(once, then the run ends). Default: {d.camera}",
    )
    source.add_argument("--width", type=int, default=_UNSET, help="ask the camera for this width")
    source.add_argument("--height", type=int, default=_UNSET, help="ask the camera for this height")
    source.add_argument("--fps", type=float, default=_UNSET, help="ask the camera for this rate")
    source.add_argument(
        "--reconnect",
        type=float,
        default=_UNSET,
        metavar="SECONDS",
        help=f"retry a camera that stops delivering for this long (default: {d.reconnect:g})",
    )


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    d = LiveOutputsConfig()
    outputs = parser.add_argument_group("outputs (several at once are fine)")
    add = outputs.add_argument
    add(
        "--no-window",
        dest="window",
        action="store_false",
        default=_UNSET,
        help="no preview window (headless)",
    )
    add(
        "--vcam",
        action="store_true",
        default=_UNSET,
        help="send to a virtual camera (OBS Virtual Camera, v4l2loopback); needs "
        "pip install 'realtime-style-transfer[vcam]'",
    )
    add(
        "--vcam-backend",
        default=_UNSET,
        help="pyvirtualcam backend: obs, unitycapture, v4l2loopback (default: any available)",
    )
    add("--vcam-device", default=_UNSET, help="virtual camera device, e.g. /dev/video10")
    add(
        "--stream",
        default=_UNSET,
        metavar="udp://HOST:PORT",
        help="send H.264 in MPEG-TS, low latency, to udp://HOST:PORT or srt://HOST:PORT "
        "(OBS: Media Source)",
    )
    add(
        "--stream-bitrate",
        type=int,
        default=_UNSET,
        metavar="KBPS",
        help=f"stream bit rate cap in kbit/s (default: {d.stream_bitrate})",
    )
    add(
        "--stream-preset",
        choices=STREAM_PRESETS,
        default=_UNSET,
        help=f"x264 preset for the stream (default: {d.stream_preset}, the least CPU)",
    )
    add(
        "--record",
        type=Path,
        default=_UNSET,
        metavar="FILE",
        help="record the stylized stream (written as NAME.incomplete.EXT until stopped)",
    )
    add(
        "--record-crf",
        type=int,
        default=_UNSET,
        help=f"recording quality, 0..51 (default: {d.record_crf})",
    )
    add(
        "--record-preset",
        default=_UNSET,
        help=f"x264 preset for the recording (default: {d.record_preset}, to keep up live)",
    )
    add(
        "--snapshot-dir",
        type=Path,
        default=_UNSET,
        help="where snapshots (the s key, the panel) and the panel's recordings go (default: the "
        "current folder)",
    )


def _add_live_options(parser: argparse.ArgumentParser) -> None:
    d = LiveConfig()
    mixing = parser.add_argument_group("mixing styles (a multi-style network)")
    mixing.add_argument(
        "--morph-seconds",
        type=float,
        default=_UNSET,
        metavar="S",
        help=f"how long the m key's morph to the next style takes (default {d.morph_seconds:g})",
    )
    mixing.add_argument(
        "--morph-to",
        default=_UNSET,
        metavar="STYLE",
        help="start by morphing from --style to STYLE over --morph-seconds",
    )
    live = parser.add_argument_group("live loop")
    live.add_argument("--max-fps", type=float, default=_UNSET, help="cap the output frame rate")
    live.add_argument(
        "--duration", type=float, default=_UNSET, metavar="SECONDS", help="stop after this long"
    )
    live.add_argument("--frames", type=int, default=_UNSET, help="stop after this many frames")
    add_quiet_option(live, "no statistics lines")


def live_spec(args: argparse.Namespace):  # -> realtime.app.live.LiveSpec
    from realtime.app.live import LiveSpec

    quiet = getattr(args, "quiet", False)
    return LiveSpec(
        run=run_config(args),
        camera=config_from_args(CameraConfig, args),
        outputs=config_from_args(LiveOutputsConfig, args),
        live=config_from_args(LiveConfig, args, log_stats=not quiet),
    )


def run(args: argparse.Namespace) -> int:
    from realtime.app.live import open_live_session
    from realtime.cli.wiring import TorchWiring

    address = _panel_address(args)  # a bad --panel fails before the camera opens
    session = open_live_session(live_spec(args), TorchWiring())
    keys = "" if not session.spec.outputs.window else f"; keys: {KEYS_HELP}"
    print(f"realtime: {session.describe()}{keys}", file=sys.stderr)
    panel = None
    try:
        if address is not None:
            panel = _start_panel(session, address, args)
        result = session.run()
    finally:
        if panel is not None:
            panel.stop()
    for notice in result.notices:
        print(f"realtime: note: {notice}", file=sys.stderr)
    for line in result.outputs:
        print(f"realtime: {line}", file=sys.stderr)
    state = session.state()
    print(
        f"{result.frames_out} frames out of {result.frames_in} captured ({result.dropped} "
        f"dropped) in {result.seconds:.1f} s ({result.fps:.2f} fps); latency p50 "
        f"{result.latency_p50_ms:.0f} ms, p95 {result.latency_p95_ms:.0f} ms; style "
        f"{state.style!r} on {state.provider}; {result.stop_reason}",
        file=sys.stderr,
    )
    return EXIT_OK


def _panel_address(args: argparse.Namespace) -> tuple[str, int] | None:
    if args.panel is None:
        given = [flag for flag, dest in _PANEL_ONLY if getattr(args, dest, False)]
        if given:
            raise UserError(f"{given[0]} goes with --panel [HOST:]PORT; add --panel or drop it")
        return None
    missing = missing_module("aiohttp")
    if missing is not None:
        raise UserError(missing_message("--panel", missing))
    from realtime.panel.server import check_panel_address, parse_address

    host, port = parse_address(args.panel)
    check_panel_address(host, args.panel_public)
    return host, port


def _start_panel(session, address: tuple[str, int], args: argparse.Namespace):
    from realtime.panel.security import is_loopback
    from realtime.panel.server import PanelServer

    panel = PanelServer(session, *address)
    panel.start()
    if not is_loopback(address[0]):
        print(
            f"realtime: warning: the panel listens on {address[0]}: anyone who can reach it "
            "and has the URL's token can drive this run",
            file=sys.stderr,
        )
    print(f"realtime: panel: {panel.url}", file=sys.stderr, flush=True)
    if args.panel_open:
        panel.open_in_browser()
    return panel
