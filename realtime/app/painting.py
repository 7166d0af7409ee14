"""A painting given to a live run (``realtime.app.add_style``), checked before anything is
written: an image by its content (never its file name), of a size a style can be learnt from,
and a free style name for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

import cv2
import numpy as np

from realtime.core.errors import UserError
from realtime.runtime.styles import LITE_SUFFIX, is_known, list_styles

MIN_SIDE = 64  # smaller has no brush strokes for VGG to see
MAX_SIDE = 8192  # larger is no better (the trainer matches it at 512) and costs memory
NAME_CHARS = "lower-case letters, digits and '-'"
MAX_NAME = 40
_NAME = re.compile(rf"^[a-z0-9][a-z0-9-]{{0,{MAX_NAME - 1}}}$")
THUMBNAIL_WIDTH = 160  # the panel gallery's thumbnails (realtime.panel.thumbnails)


class NotAnImage(UserError):
    """The upload is no image this can read (HTTP 415)."""


class BadPainting(UserError):
    """An image, but not one to add, or a bad name (HTTP 400)."""


class StyleConflict(UserError):
    """The painting cannot be added now or under that name (HTTP 409)."""


@dataclass(frozen=True)
class Painting:
    data: bytes  # the file as given
    ext: str  # by its content: .jpg, .png or .webp
    width: int
    height: int
    thumbnail: bytes  # a JPEG, THUMBNAIL_WIDTH wide, for the gallery


def read_painting(data: bytes) -> Painting:
    """``data`` checked to be a JPEG, PNG or WebP image of a usable size, decoded whole (a
    damaged file fails here, not in the trainer). Its size is read from its header first,
    so a small file claiming a huge picture is refused before it is decoded."""
    kind = _kind(data)
    size = _header_size(kind, data) if kind else None
    if kind is None or size is None:
        raise NotAnImage(
            "the file is not a JPEG, PNG or WebP image (read by its content, whatever its "
            "name); give a painting in one of those"
        )
    _check_size(*size)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[1::-1] != size:
        raise NotAnImage(f"the {kind[1:].upper()} image cannot be decoded (damaged?); give another")
    height = round(image.shape[0] * THUMBNAIL_WIDTH / image.shape[1]) or 1
    small = cv2.resize(image, (THUMBNAIL_WIDTH, height), interpolation=cv2.INTER_AREA)
    ok, thumbnail = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise NotAnImage("the image cannot be re-encoded; give another")
    return Painting(data, kind, size[0], size[1], thumbnail.tobytes())


def _check_size(width: int, height: int) -> None:
    if min(width, height) < MIN_SIDE:
        raise BadPainting(
            f"the painting is {width}x{height}; give one at least {MIN_SIDE} px on each side"
        )
    if max(width, height) > MAX_SIDE:
        raise BadPainting(
            f"the painting is {width}x{height}; give one at most {MAX_SIDE} px on each side "
            "(scale it down: the style is learnt at 512 px)"
        )


def _kind(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return None


def _header_size(kind: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) as the file's header says, None when it has none."""
    if kind == ".png":
        if data[12:16] != b"IHDR":
            return None
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if kind == ".webp":
        return _webp_size(data)
    return _jpeg_size(data)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The frame header's size: markers are walked from the start to the first SOFn."""
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length follows these
            at += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            return int.from_bytes(data[at + 7 : at + 9], "big"), height
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk, body = data[12:16], data[20:]
    if chunk == b"VP8X" and len(body) >= 10:
        return 1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little")
    if chunk == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width = int.from_bytes(body[6:8], "little") & 0x3FFF
        return width, int.from_bytes(body[8:10], "little") & 0x3FFF
    if chunk == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def style_name(given: str | None, filename: str | None) -> str:
    """The new style's name: ``given`` (lower-cased), else made from the upload's file name;
    1 to MAX_NAME of NAME_CHARS, starting with a letter or digit."""
    if given is not None and given.strip():
        name = given.strip().lower()
        if not _NAME.match(name):
            raise BadPainting(
                f"name {given!r}: use 1 to {MAX_NAME} {NAME_CHARS}, starting with a letter or "
                "digit, e.g. great-wave"
            )
    else:
        stem = PurePath((filename or "").replace("\\", "/")).stem.lower()
        name = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:MAX_NAME].strip("-")
        if not name:
            raise BadPainting("the painting has no usable file name; give a name, e.g. great-wave")
    if name.endswith(LITE_SUFFIX):
        raise BadPainting(
            f"name {name!r}: a name may not end in {LITE_SUFFIX} (it marks lite networks); "
            "choose another"
        )
    return name


def check_name_free(name: str, running: list[str]) -> None:
    """``name`` is no style of this run nor of ``realtime styles`` (names, mixes, lite ones)."""
    taken = name in running or is_known(name)
    taken = taken or any(e.name == name + LITE_SUFFIX for e in list_styles())
    if taken:
        raise StyleConflict(
            f"a style named {name!r} exists ('realtime styles' lists them); choose another name"
        )
