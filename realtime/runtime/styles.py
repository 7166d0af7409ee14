"""Where styles come from, and what ``--style NAME|FILE.onnx|FILE.pth`` means.

A style is an ONNX style network (realtime.core.model_io), optionally with a card ``NAME.json``
beside it (the training card written by ``realtime train``).

- Bundled styles: package data in ``realtime/bundled_styles/`` (``NAME.onnx`` + ``NAME.json``).
- User styles: ``$REALTIME_STYLES_DIR`` if set, else ``<user data dir>/styles`` (on Linux
  ``~/.local/share/realtime/styles``). Drop ``NAME.onnx`` (and optionally ``NAME.json``) there
  and ``--style NAME`` finds it. A user style with a bundled style's name shadows it.
- A path: an existing ``.onnx`` file is used as is; an existing ``.pth`` checkpoint is exported
  once (the same export and parity check as ``realtime export``) into
  ``<cache dir>/exported/<sha256 of the .pth>.onnx`` and reused from there afterwards.

A reference with a suffix or a path separator is a path; anything else is a name.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realtime.core.cards import card_styles, read_card
from realtime.core.config import EngineConfig
from realtime.core.errors import UserError
from realtime.core.files import sha256_file
from realtime.core.paths import user_cache_dir, user_data_dir

log = logging.getLogger(__name__)

# Exports a TransformerNet checkpoint (.pth) to an ONNX file and returns a one-line report.
# Torch-side code: the command line passes it in (realtime.cli.wiring); the runtime never
# imports export/ itself.
Exporter = Callable[[Path, Path], str]
# Lite networks (``realtime train --arch lite``) are named after their full style plus this.
LITE_SUFFIX = "-lite"
BUNDLED_PACKAGE = "realtime.bundled_styles"
STYLES_DIR_ENV = "REALTIME_STYLES_DIR"
ORIGINS = ("bundled", "user", "file", "exported")
PTH_SUFFIXES = (".pth", ".pt")


@dataclass(frozen=True)
class StyleEntry:
    name: str
    path: Path  # an .onnx file
    origin: str  # one of ORIGINS
    card: dict[str, Any] | None = None
    shadows_bundled: bool = False  # a user style hiding a bundled style of the same name
    # A mix asked for (--style a:0.7,b:0.3): style -> weight, painted by ``path``, a
    # multi-style network that has them all; {} for a plain style.
    mix: dict[str, float] = field(default_factory=dict)

    @property
    def mixes(self) -> list[str]:
        """The styles this network can mix ([] for a single-style network)."""
        return card_styles(self.card) if self.card else []


def parse_mix(ref: str) -> dict[str, float] | None:
    """``a:0.7,b:0.3`` as {style: weight} (normalised to sum 1); None when ``ref`` is no mix."""
    if ":" not in ref or _looks_like_path(ref.split(":")[0]):
        return None
    weights: dict[str, float] = {}
    for part in ref.split(","):
        name, _, value = part.strip().partition(":")
        if not name or name in weights:
            raise UserError(
                f"cannot read the mix {ref!r}: write it as NAME:WEIGHT,NAME:WEIGHT, e.g. "
                "mosaic:0.7,candy:0.3"
                + (f" ({name} is named twice)" if name else " (a style has no name)")
            )
        weights[name] = _mix_weight(ref, name, value)
    total = sum(weights.values())
    if total <= 0:
        raise UserError(f"the mix {ref!r} has no weight; give each style a weight above 0")
    return {name: weight / total for name, weight in weights.items()}


def _mix_weight(ref: str, name: str, value: str) -> float:
    """One weight of a mix, with a message that says what is wrong with it: normalising an
    infinite or NaN weight would otherwise surface later as the network's internal dict."""
    try:
        weight = float(value) if value else 1.0
    except ValueError:
        raise UserError(
            f"cannot read the mix {ref!r}: the weight of {name} is {value!r}, not a number; "
            "write it as NAME:WEIGHT,NAME:WEIGHT, e.g. mosaic:0.7,candy:0.3"
        ) from None
    if weight != weight or weight in (float("inf"), float("-inf")):
        raise UserError(
            f"the mix {ref!r}: the weight of {name} is {value}, not a finite number; give each "
            "style a weight of 0 or more, e.g. mosaic:0.7,candy:0.3"
        )
    if weight < 0:
        raise UserError(
            f"the mix {ref!r}: the weight of {name} is negative ({value}); weights are 0 or "
            "more, e.g. mosaic:0.7,candy:0.3"
        )
    return weight


def _mix_entry(ref: str, mix: dict[str, float], lite: bool) -> StyleEntry:
    """The multi-style network that paints every style of ``mix``, of the kind asked for
    (lite or full) when there is one."""
    wanted = set(mix)
    candidates = [e for e in list_styles() if wanted <= set(e.mixes)]
    if not candidates:
        mixable = sorted({s for e in list_styles() for s in e.mixes})
        raise UserError(
            f"no installed network mixes {', '.join(sorted(wanted))}; the styles that can be "
            f"mixed are {', '.join(mixable) or 'none'} ('realtime styles' lists them)"
        )
    # The kind asked for first, then by name: the same pick every time.
    network = sorted(candidates, key=lambda e: (is_lite(e.name) != lite, e.name))[0]
    return StyleEntry(ref, network.path, network.origin, network.card, mix=mix)


def user_styles_dir() -> Path:
    """``$REALTIME_STYLES_DIR``, else ``<user data dir>/styles`` (need not exist yet)."""
    override = os.environ.get(STYLES_DIR_ENV)
    return Path(override).expanduser() if override else user_data_dir() / "styles"


def exported_cache_dir(engine: EngineConfig) -> Path:
    return (engine.cache_dir or user_cache_dir()) / "exported"


def _onnx_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {p.stem: p for p in sorted(directory.glob("*.onnx")) if p.is_file()}


def _bundled_files() -> dict[str, Path]:
    try:
        root = importlib.resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError:
        return {}  # installed without the (empty) bundled_styles directory: nothing bundled
    files = {}
    for item in root.iterdir():
        if not item.name.endswith(".onnx"):
            continue
        if not isinstance(item, Path):
            # ONNX Runtime needs a real file; a zipped install would need extracting first.
            raise UserError(
                f"bundled style {item.name} is not on the file system (zipped install?); "
                "install realtime as a regular (unzipped) package"
            )
        files[item.stem] = item
    return dict(sorted(files.items()))


def list_styles() -> list[StyleEntry]:
    """Every style ``--style NAME`` can name, sorted by name; user styles win over bundled."""
    bundled = _bundled_files()
    user = _onnx_files(user_styles_dir())
    entries = [
        StyleEntry(name, path, "user", read_card(path), shadows_bundled=name in bundled)
        for name, path in user.items()
    ]
    entries += [
        StyleEntry(name, path, "bundled", read_card(path))
        for name, path in bundled.items()
        if name not in user
    ]
    return sorted(entries, key=lambda e: e.name)


def _looks_like_path(ref: str) -> bool:
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(s in ref for s in separators) or Path(ref).suffix != ""


def _unknown_style(ref: str) -> UserError:
    known = ", ".join(f"{e.name} ({e.origin})" for e in list_styles()) or "none installed"
    return UserError(
        f"unknown style '{ref}'; known styles: {known}; add {ref}.onnx to {user_styles_dir()} "
        f"(or set {STYLES_DIR_ENV}), or give a path to an .onnx or .pth file"
    )


def _exported_entry(pth_path: Path, engine: EngineConfig, exporter: Exporter | None) -> StyleEntry:
    """Export ``pth_path`` to the cache (once) and return the cached model."""
    from realtime.core.model_io import read_model_info

    cached = exported_cache_dir(engine) / f"{sha256_file(pth_path)}.onnx"
    if cached.is_file():
        log.info("using %s, exported earlier from %s", cached, pth_path)
    else:
        if exporter is None:
            raise UserError(
                f"--style {pth_path} is a checkpoint that needs exporting to ONNX first; run "
                f"'realtime export {pth_path} NAME.onnx' and give NAME.onnx"
            )
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"cannot create the export cache {cached.parent} ({exc.strerror}); "
                "give a writable --cache-dir"
            ) from exc
        log.info("exporting %s to ONNX once, cached as %s", pth_path, cached)
        log.info("%s", exporter(pth_path, cached))
    info = read_model_info(cached)
    return StyleEntry(info.style or pth_path.stem, cached, "exported", info.card)


def resolve_style(
    ref: str, engine: EngineConfig, exporter: Exporter | None = None, lite: bool = False
) -> StyleEntry:
    """Turn ``--style REF`` into a StyleEntry, or raise UserError saying what exists.

    ``exporter`` turns a ``.pth`` into ONNX (torch-side; None: a .pth is refused with the
    command that exports it). ``lite``: a name or mix takes its lite network where there is
    one (``NAME-lite``, a lite multi-style network)."""
    from realtime.core.model_io import read_model_info

    if not ref or not ref.strip():
        raise UserError("empty style name; give --style NAME, FILE.onnx or FILE.pth")
    mix = parse_mix(ref)
    if mix is not None:
        return _mix_entry(ref, mix, lite)
    if _looks_like_path(ref):
        path = Path(ref).expanduser()
        if not path.is_file():
            raise UserError(
                f"style file not found: {path}; give an existing .onnx or .pth file, or a "
                "style name (see 'realtime styles')"
            )
        suffix = path.suffix.lower()
        if suffix in PTH_SUFFIXES:
            return _exported_entry(path, engine, exporter)
        if suffix != ".onnx":
            raise UserError(
                f"style file {path} is neither .onnx nor .pth; give an ONNX style network or "
                "a TransformerNet checkpoint"
            )
        info = read_model_info(path)
        return StyleEntry(info.style or path.stem, path, "file", read_card(path) or info.card)
    entries = {entry.name: entry for entry in list_styles()}
    if lite and not is_lite(ref) and ref + LITE_SUFFIX in entries:
        return entries[ref + LITE_SUFFIX]
    if ref in entries:
        return entries[ref]
    raise _unknown_style(ref)


def mixable_spec(style: str, lite: bool = False) -> str | None:
    """The mix spec that paints ``style`` alone with a multi-style network of the kind asked
    for (lite or full), so it can then be mixed and morphed live; None when there is none."""
    if parse_mix(style) is not None:
        return style
    painting = style.removesuffix(LITE_SUFFIX)
    lite = lite or is_lite(style)
    if any(painting in e.mixes and is_lite(e.name) == lite for e in list_styles()):
        return f"{painting}:1"
    return None


def is_known(ref: str) -> bool:
    """Whether ``ref`` is an installed style's name or a mix of installed styles' names."""
    names = {name for entry in list_styles() for name in (entry.name, *entry.mixes)}
    mix = parse_mix(ref)
    return set(mix) <= names if mix is not None else ref in names


def is_style_file(ref: str) -> bool:
    """Whether ``--style REF`` names a file (used as it is) rather than a style or a mix."""
    return parse_mix(ref) is None and _looks_like_path(ref)


def is_lite(name: str) -> bool:
    return name.endswith(LITE_SUFFIX)


def same_kind(names: list[str], current: str) -> list[str]:
    """The names of the same kind (lite or full) as ``current``: what the n/p keys cycle
    through, so a CPU session on a lite style does not switch to a full one it cannot run
    in real time, and a GPU session does not drop to a lite one."""
    return [n for n in names if is_lite(n) == is_lite(current)]


def cpu_only_reason(engine: EngineConfig) -> str | None:
    """Why this run's network will certainly run on the CPU, or None when a GPU may be used.
    The check is the engine's own pre-flight one, so it cannot disagree with what
    ``--device auto`` then does."""
    from realtime.runtime.engine import gpu_unavailable_reason

    if engine.device in ("cpu", "openvino"):
        return f"--device {engine.device}"
    if engine.device != "auto":
        return None
    reason = gpu_unavailable_reason()
    return f"no usable NVIDIA GPU ({reason})" if reason else None


def has_lite(style: str) -> bool:
    """Whether a lite network paints ``style`` (a name, or a mix a lite network mixes): its
    own ``NAME-lite``, or a lite multi-style network with NAME among its styles (which the
    webcam then runs with NAME's weights, ``mixable_spec``)."""
    mix = parse_mix(style)
    entries = list_styles()
    if mix is not None:
        return any(set(mix) <= set(e.mixes) and is_lite(e.name) for e in entries)
    return any(
        e.name == style + LITE_SUFFIX or (style in e.mixes and is_lite(e.name)) for e in entries
    )
