"""What a batch remembers between runs, under ``OUT_DIR/.realtime-batch``: which outputs and
segments are finished, and what exactly was written.

A record holds the output's size, modification time and SHA-256 as written, its frames, and
the damage of its input. A rerun counts an output as done only when the file is still the one
written: the same size and time, or, where the time changed (a copy, a touch), the same
hash. An output truncated, replaced (8 bytes of junk) or deleted since is stylized again.
Content changed in place with its size and time kept (bit rot) is not caught: hashing every
output on every rerun would cost a read of the whole batch.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realtime.app.batch.inputs import Item
from realtime.core.files import sha256_file, write_bytes_atomic

log = logging.getLogger(__name__)

STATE_DIR = ".realtime-batch"


@dataclass(frozen=True)
class Written:
    """A finished output or segment, as the record says it was written."""

    frames: int
    damaged: str | None = None  # what was wrong with the input (every decodable frame kept)


class BatchState:
    """Where a batch keeps its work and remembers what is finished (OUT_DIR/.realtime-batch)."""

    def __init__(self, out_dir: Path) -> None:
        self.root = out_dir / STATE_DIR

    def _marker(self, item: Item) -> Path:
        return self.root / "done" / f"{item.relative}.json"

    def finished(self, item: Item, key: str, output: Path) -> Written | None:
        """The record of ``output`` when it is finished for ``key`` and still as written."""
        record = _read(self._marker(item))
        if record is None or record.get("key") != key or not output.is_file():
            return None
        changed = _changed(output, record)
        if changed:
            log.warning("%s %s; stylizing it again", output, changed)
            return None
        return Written(int(record.get("frames", 0)), record.get("damaged"))

    def mark(self, item: Item, key: str, output: Path, done: Written) -> None:
        record = {"key": key, "input": str(item.source), **_describe(output, done)}
        _write(self._marker(item), record)

    def segments_dir(self, item: Item, key: str) -> Path:
        return self.root / "segments" / f"{item.relative}.{key[:16]}"

    def segment_finished(self, path: Path) -> Written | None:
        """A segment of an earlier run, when its file is still the one written; a segment that
        decoded nothing has a record and no file."""
        record = _read(path.with_suffix(".json"))
        if record is None:
            return None
        if int(record.get("frames", 0)) and (not path.is_file() or _changed(path, record)):
            return None
        return Written(int(record["frames"]), record.get("damaged"))

    def mark_segment(self, path: Path, done: Written) -> None:
        _write(path.with_suffix(".json"), _describe(path, done) if done.frames else vars(done))


def _describe(path: Path, done: Written) -> dict[str, Any]:
    stat = path.stat()
    return {
        "frames": done.frames,
        "damaged": done.damaged,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256": sha256_file(path),
    }


def _changed(path: Path, record: dict[str, Any]) -> str | None:
    """How ``path`` differs from its record, in words; None when it is the file written."""
    stat = path.stat()
    size = record.get("size")
    if size is None:
        return "was written by an older batch, which kept no record of what it wrote"
    if stat.st_size != size:
        return f"has changed since a batch wrote it ({stat.st_size} bytes, {size} were written)"
    if stat.st_mtime_ns == record.get("mtime_ns"):
        return None
    # Touched or copied: only the content can tell.
    same = sha256_file(path) == record.get("sha256")
    return None if same else "has changed since a batch wrote it (its content)"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _write(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, json.dumps(record).encode("utf-8"))
