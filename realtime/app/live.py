"""``realtime webcam`` as a use case: a ``LiveSession`` opened from the configs, with a method
for every control (the window's keys and the panel drive the same ones), a state snapshot,
and ``run()``, the live loop until a stop.

Opening checks what is cheap first (options, outputs, the camera's name) so a typo does not
wait for a model or a camera; a failure after the camera or an output opened closes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from realtime.app.build import check_processing_size, choose_style, open_stylizer
from realtime.app.torch_side import TorchSide
from realtime.core.config import (
    CameraConfig,
    LiveConfig,
    LiveOutputsConfig,
    ProcessConfig,
    RunConfig,
)
from realtime.core.errors import UserError
from realtime.live.camera import open_camera, parse_camera
from realtime.live.controls import LiveControls, LiveState
from realtime.live.look import LiveLook, TemporalSlot
from realtime.live.loop import LiveResult, run_live
from realtime.live.mixing import Mixer
from realtime.live.opencv_camera import check_device_exists
from realtime.live.outputs import LiveOutput, close_all
from realtime.live.recording import RecordingOutput, check_record_path
from realtime.live.source import FrameSource
from realtime.live.stream import StreamOutput, check_stream_url
from realtime.live.switcher import StyleSwitcher
from realtime.live.vcam import VirtualCameraOutput, import_pyvirtualcam
from realtime.live.window import WindowOutput, check_window_support
from realtime.media.video_sink import check_encode_config
from realtime.media.video_source import probe_video
from realtime.runtime.engine import OnnxStylizer
from realtime.runtime.frames import FrameProcessor
from realtime.runtime.styles import list_styles, mixable_spec, same_kind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Field:
    """One settable field of ``LiveSession.update``: its type check and how it is applied."""

    kinds: tuple[type, ...]
    apply: Any  # (session, changes) -> None

    def check(self, value: object) -> None:
        if isinstance(value, bool) and bool not in self.kinds:
            ok = False  # JSON's true is not a number here
        else:
            ok = isinstance(value, self.kinds)
        if not ok:
            names = " or ".join(kind.__name__ for kind in self.kinds)
            raise UserError(f"expected {names}, got {type(value).__name__} {value!r}")


_NUMBER = (int, float)
# In the order they are applied: a style switch resets the mix, a morph starts from both.
SETTABLE: dict[str, _Field] = {
    "style": _Field((str,), lambda s, c: s.set_style(c["style"])),
    "mix": _Field((dict,), lambda s, c: s.set_mix(c["mix"])),
    "morph_seconds": _Field(_NUMBER, lambda s, c: None),  # read with morph_to
    "morph_to": _Field((str,), lambda s, c: s.morph_to(c["morph_to"], c.get("morph_seconds"))),
    "strength": _Field(_NUMBER, lambda s, c: s.set_strength(c["strength"])),
    "temporal": _Field(
        (bool,), lambda s, c: s.set_temporal(c["temporal"], c.get("temporal_strength"))
    ),
    "temporal_strength": _Field(
        _NUMBER,
        lambda s, c: (
            None if "temporal" in c else s.set_temporal(s.state().temporal, c["temporal_strength"])
        ),
    ),
    "preserve_color": _Field((bool,), lambda s, c: s.set_preserve_color(c["preserve_color"])),
    "paused": _Field((bool,), lambda s, c: s.set_paused(c["paused"])),
}


@dataclass(frozen=True)
class LiveSpec:
    """Everything a live run is opened from."""

    run: RunConfig = field(default_factory=RunConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    outputs: LiveOutputsConfig = field(default_factory=LiveOutputsConfig)
    live: LiveConfig = field(default_factory=LiveConfig)


class LiveSession:
    """One live run: its source, processor, outputs and controls."""

    def __init__(
        self,
        spec: LiveSpec,
        source: FrameSource,
        outputs: list[LiveOutput],
        controls: LiveControls,
        output_size: tuple[int, int],
    ) -> None:
        self.spec, self.source, self.outputs = spec, source, outputs
        self.controls, self.output_size = controls, output_size

    # -- the controls (thread-safe: see realtime.live.controls) --------------------------------

    def set_style(self, name: str) -> None:
        self.controls.set_style(name)

    def set_mix(self, weights: dict[str, float]) -> None:
        self.controls.set_mix(weights)

    def morph_to(self, name: str, seconds: float | None = None) -> None:
        self.controls.morph_to(name, seconds)

    def set_strength(self, amount: float) -> None:
        self.controls.set_strength(amount)

    def set_temporal(self, on: bool, strength: float | None = None) -> None:
        self.controls.set_temporal(on, strength)

    def set_preserve_color(self, on: bool) -> None:
        self.controls.set_preserve_color(on)

    def set_paused(self, paused: bool) -> None:
        self.controls.set_paused(paused)

    def snapshot(self) -> Path:
        return self.controls.snapshot()

    def start_recording(self, path: Path) -> None:
        self.controls.start_recording(path)

    def stop_recording(self) -> str:
        return self.controls.stop_recording()

    def stop(self) -> None:
        self.controls.request_quit()

    def state(self) -> LiveState:
        return self.controls.state()

    def latest_frame(self) -> tuple[int, np.ndarray | None]:
        """(its number, the last frame sent to the outputs) for the panel's preview; None
        before the first. The loop sets the frame before the number, so a number never runs
        ahead of its frame."""
        controls = self.controls
        return controls.outputs_done, controls.last_output

    def latest_input(self) -> np.ndarray | None:
        """The newest camera frame, as it came (None before the first)."""
        return self.controls.last_input

    @property
    def network_path(self) -> Path | None:
        """The multi-style network file the run paints with; None for a single-style run."""
        mixer = self.controls.mixer
        return Path(mixer.stylizer.model_path) if mixer is not None else None

    def load_network(self, path: Path) -> OnnxStylizer:
        """A network loaded and warmed up at this run's processing size, on the calling
        thread (not the loop's: the live picture goes on meanwhile)."""
        stylizer = OnnxStylizer(path, self.spec.run.engine, announce=False)
        process = replace(self.spec.run.process, output_size=self.output_size)
        check_processing_size(stylizer, process, (self.source.width, self.source.height))
        return stylizer

    def replace_network(self, stylizer: OnnxStylizer, select: str) -> None:
        """Paint with ``stylizer``, the running network with more styles, and ``select``."""
        self.controls.replace_network(stylizer, select)

    def update(self, changes: dict[str, Any]) -> LiveState:
        """Apply any subset of the state's settable fields (``POST /api/state``) in a fixed
        order (the style before the mix, a morph after both). A bad field changes nothing:
        types are checked first, and a value a control refuses puts back what was applied."""
        unknown = sorted(set(changes) - set(SETTABLE))
        if unknown:
            raise UserError(f"cannot set {', '.join(unknown)}; settable: {', '.join(SETTABLE)}")
        if "morph_seconds" in changes and "morph_to" not in changes:
            # Alone it would change nothing: say so rather than answer as if it had.
            raise UserError("morph_seconds goes with morph_to (the style to morph to)")
        for name, value in changes.items():
            try:
                SETTABLE[name].check(value)
            except UserError as exc:
                raise UserError(f"{name}: {exc}") from None
        before = self.state()
        for name in SETTABLE:
            if name in changes:
                try:
                    SETTABLE[name].apply(self, changes)
                except UserError as exc:
                    self._restore(before)
                    raise UserError(f"{name}: {exc}") from None
        return self.state()

    def _restore(self, state: LiveState) -> None:
        if state.mix is not None:
            self.set_mix(state.mix)
        elif state.style:
            self.set_style(state.style)
        self.set_strength(state.strength)
        self.set_temporal(state.temporal, state.temporal_strength)
        self.set_preserve_color(state.preserve_color)
        self.set_paused(state.paused)

    # -- the run -----------------------------------------------------------------------------

    def describe(self) -> str:
        """One line: from where, to where, at what size."""
        source, (width, height) = self.source, self.output_size
        names = ", ".join(o.name for o in self.outputs) or "nothing"
        return (
            f"live from {source.label} ({source.width}x{source.height}, {source.fps:g} fps) "
            f"-> {names}; output {width}x{height}"
        )

    def run(self, stats_stream: TextIO | None = None) -> LiveResult:
        """The live loop until a stop (``LiveConfig``, a key, ``stop()``, Ctrl-C, the end of a
        file); every output is finalised."""
        if self.spec.live.morph_to is not None and self.controls.mixer is not None:
            self.controls.morph_to(self.spec.live.morph_to)
        return run_live(
            self.source,
            self.controls.processor,
            self.outputs,
            self.spec.live,
            self.controls,
            stats_stream=stats_stream,
        )


def open_live_session(spec: LiveSpec, torch: TorchSide) -> LiveSession:
    """Check, load the style, open the camera and the outputs: a session ready to ``run``."""
    spec.live.check()
    camera = parse_camera(spec.camera.camera)
    # A camera that is not there, or a file that is no video, fails before the network loads
    # and its notes are printed.
    if camera.kind == "file":
        probe_video(Path(camera.value))
    check_device_exists(camera)
    check_outputs(spec.outputs)
    stylizer, mixer, lite = _open_style(spec, torch)
    source = open_camera(
        camera, spec.camera.width, spec.camera.height, spec.camera.fps, spec.camera.reconnect
    )
    outputs: list[LiveOutput] = []
    try:
        for notice in source.notices:
            log.info("note: %s", notice)
        source.notices.clear()
        # The output size is fixed for the whole run: every output is opened with it.
        size = spec.run.process.output_size or (source.width, source.height)
        process = replace(spec.run.process, output_size=size)
        check_processing_size(stylizer, process, (source.width, source.height))
        # Nominal rate for the encoders and the virtual camera: what frames can at most come at.
        fps = min(source.fps, spec.live.max_fps) if spec.live.max_fps else source.fps
        opener = _OutputOpener(spec.outputs, size, fps)
        outputs.extend(opener.open_all(f"realtime - {source.label}"))
    except BaseException:
        close_all(outputs, complete=False)
        source.close()
        raise
    source_size = (source.width, source.height)
    controls = _controls(spec, stylizer, mixer, lite, process, source_size, outputs, opener, torch)
    return LiveSession(spec, source, outputs, controls, size)


def _open_style(spec: LiveSpec, torch: TorchSide) -> tuple[OnnxStylizer, Mixer | None, bool]:
    """The run's network; a style a multi-style network paints is run by that network, so
    switching, mixing and morphing need no reload (the single-style file is the same row)."""
    name, lite = choose_style(spec.run, live=True)
    stylizer, _ = open_stylizer(mixable_spec(name, lite) or name, spec.run.engine, torch.exporter,
                                lite=lite)  # fmt: skip
    mixer = Mixer(stylizer, spec.live.morph_seconds) if stylizer.styles else None
    morph_to = spec.live.morph_to
    if morph_to is not None:
        if mixer is None:
            raise UserError(_cannot_morph(name, lite))
        mixer.index(morph_to)  # a style it cannot morph to fails now, in one line
    return stylizer, mixer, lite


def _cannot_morph(name: str, lite: bool) -> str:
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


def _controls(
    spec: LiveSpec,
    stylizer: OnnxStylizer,
    mixer: Mixer | None,
    lite: bool,
    process: ProcessConfig,
    source_size: tuple[int, int],
    outputs: list[LiveOutput],
    opener: _OutputOpener,
    torch: TorchSide,
) -> LiveControls:
    """The processor with its two named live stages, and the controls around it."""
    run = spec.run.process
    look = LiveLook(run.strength, run.preserve_color)
    temporal = TemporalSlot.for_process(run)
    processor = FrameProcessor(stylizer, process, at_process_size=[temporal], at_output_size=[look])
    switcher = None
    if mixer is None:
        name = stylizer.style_name

        def load(style: str) -> OnnxStylizer:
            loaded = open_stylizer(style, spec.run.engine, torch.exporter, announce=False,
                                   lite=lite)[0]  # fmt: skip
            # Checked and warmed up here, in the loader's thread: the first frame the loop
            # gives it must not pay for cuDNN's search or a TensorRT engine.
            check_processing_size(loaded, process, source_size)
            return loaded

        switcher = StyleSwitcher(same_kind([e.name for e in list_styles()], name), name,
                                 stylizer, load)  # fmt: skip
    recording = next((o for o in outputs if isinstance(o, RecordingOutput)), None)
    return LiveControls(
        processor, look, temporal, mixer=mixer, switcher=switcher,
        snapshot_dir=spec.outputs.snapshot_dir.resolve(), outputs=outputs,
        open_recording=opener.recording, recording=recording,
        provider=stylizer.provider, arch="lite" if lite else "full",
    )  # fmt: skip


def check_outputs(outputs: LiveOutputsConfig) -> None:
    """Each output asked for can work here, before a model or a camera is opened."""
    if not outputs.window and not (outputs.vcam or outputs.stream or outputs.record):
        log.info(
            "note: --no-window without --vcam, --stream or --record: frames are stylized and "
            "measured, then discarded"
        )
    if outputs.window:
        check_window_support()
    if outputs.vcam:
        import_pyvirtualcam()
    if outputs.stream:
        check_stream_url(outputs.stream)
    if outputs.record:
        check_record_path(outputs.record)
        check_encode_config(outputs.record_encode)
    if not outputs.snapshot_dir.is_dir():
        raise UserError(f"--snapshot-dir {outputs.snapshot_dir} is not a folder; create it first")


@dataclass
class _OutputOpener:
    """Opens the outputs of one run at its output size and nominal rate."""

    config: LiveOutputsConfig
    size: tuple[int, int]
    fps: float

    def open_all(self, title: str) -> list[LiveOutput]:
        """The outputs asked for; those already open are closed when a later one fails."""
        config, (width, height) = self.config, self.size
        opened: list[LiveOutput] = []
        try:
            if config.window:
                opened.append(WindowOutput(title, width, height))
            if config.vcam:
                opened.append(VirtualCameraOutput(
                    width, height, self.fps, config.vcam_backend, config.vcam_device
                ))  # fmt: skip
            if config.stream:
                opened.append(StreamOutput(
                    config.stream, width, height, self.fps, config.stream_bitrate,
                    config.stream_preset,
                ))  # fmt: skip
            if config.record:
                opened.append(self.recording(config.record))
        except BaseException:
            close_all(opened, complete=False)
            raise
        return opened

    def recording(self, path: Path) -> RecordingOutput:
        check_record_path(path)
        recording = RecordingOutput(path, *self.size, self.fps, self.config.record_encode)
        for notice in recording.notices:
            log.info("note: %s", notice)
        return recording
