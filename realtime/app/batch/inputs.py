"""What a batch works on: files, folders (searched recursively) and globs, each mapped to its
output ``OUT_DIR/<path relative to what was given>`` with the same extension."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from realtime.media.images import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm", ".ts", ".flv", ".mpg", ".mpeg")
_MAGIC = set("*?[")


@dataclass(frozen=True)
class Item:
    source: Path
    relative: Path  # where its output goes under the output folder
    kind: str  # "video" or "image"

    def output(self, out_dir: Path) -> Path:
        return out_dir / self.relative


def kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def _base_of_glob(pattern: str) -> Path:
    """The folder a glob's matches are relative to: its part before the first wildcard."""
    parts = []
    for part in Path(pattern).parts:
        if _MAGIC & set(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def find_inputs(specs: list[str], out_dir: Path) -> tuple[list[Item], list[str]]:
    """The items to process and one-line problems (a missing path, a glob matching nothing,
    two inputs that would write the same output). Files under ``out_dir`` are never inputs."""
    items: dict[Path, Item] = {}
    problems: list[str] = []
    out = out_dir.resolve()

    def add(source: Path, relative: Path, explicit: bool) -> None:
        kind = kind_of(source)
        if kind is None and not explicit:
            return  # folders and globs take what looks like media
        if out in source.resolve().parents:
            return
        if relative in items and items[relative].source.resolve() != source.resolve():
            problems.append(
                f"{source}: its output {out_dir / relative} is also {items[relative].source}'s; "
                "give them in different folders"
            )
            return
        # An explicitly named file of unknown type is tried as a video (its error says why).
        items[relative] = Item(source, relative, kind or "video")

    for spec in specs:
        path = Path(spec)
        if _MAGIC & set(spec):
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                problems.append(f"{spec}: no file matches; check the pattern")
            base = _base_of_glob(spec)
            for match in files:
                add(match, match.relative_to(base), explicit=False)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file())
            if not any(kind_of(p) for p in found):
                problems.append(f"{spec}: no videos or images in this folder")
            for file in found:
                add(file, file.relative_to(path), explicit=False)
        elif path.is_file():
            add(path, Path(path.name), explicit=True)
        else:
            problems.append(f"{spec}: input not found")
    return list(items.values()), problems
