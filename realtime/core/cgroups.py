"""How much memory this process's control groups still allow (Linux containers, systemd).

A container's memory limit is a cgroup's: ``memory.max`` under cgroup v2,
``memory.limit_in_bytes`` under v1. Past it the kernel's OOM killer ends the process (exit
137, no message) however much memory the machine has free, so the memory guard must take the
cgroup's word over ``/proc/meminfo``'s.

The process's own cgroup is read from ``/proc/self/cgroup`` and found under its hierarchy's
mount point (``/proc/self/mountinfo``), which also covers a container whose cgroup is mounted
at ``/sys/fs/cgroup`` without a cgroup namespace. Every ancestor up to the mount counts: a
limit on a parent (a Docker container, a systemd slice) binds its children too. What a cgroup
can still take is its limit less its usage, where usage leaves out the inactive page cache,
which the kernel reclaims before it kills anything (as ``docker stats`` counts it).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

# Files of a cgroup directory, by version: (limit, usage, the inactive page cache's key in
# memory.stat). v1 reports "no limit" as a huge number, v2 as "max".
_FILES = {
    2: ("memory.max", "memory.current", "inactive_file"),
    1: ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
}
_NO_LIMIT = 1 << 60


def _unescape(field: str) -> str:
    """mountinfo writes spaces, tabs, newlines and backslashes in paths as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _memory_mounts(mountinfo: str) -> list[tuple[int, Path, str]]:
    """(version, mount point, the hierarchy path mounted there) of each memory hierarchy."""
    mounts = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        if len(fields) < dash + 4 or len(fields) < 5:
            continue
        fstype, options = fields[dash + 1], fields[dash + 3].split(",")
        root, point = _unescape(fields[3]), Path(_unescape(fields[4]))
        if fstype == "cgroup2":
            mounts.append((2, point, root))
        elif fstype == "cgroup" and "memory" in options:
            mounts.append((1, point, root))
    return mounts


def _own_paths(cgroup: str) -> dict[int, str]:
    """This process's cgroup path in the v2 hierarchy and in v1's memory hierarchy."""
    paths: dict[int, str] = {}
    for line in cgroup.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            paths[2] = path
        elif "memory" in controllers.split(","):
            paths[1] = path
    return paths


def _read_int(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        text = path.read_text().strip()
        return None if text == "max" else int(text)
    return None


def _inactive_file(folder: Path, key: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in (folder / "memory.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return 0


def _levels(point: Path, root: str, own: str) -> list[Path]:
    """The process's cgroup folder and its ancestors, down from it to the mount point."""
    relative = Path(own).relative_to(root) if Path(own).is_relative_to(root) else Path()
    folder = point / relative
    if not folder.is_dir():  # mounted elsewhere than our path says: the mount is ours
        folder = point
    levels = [folder]
    while levels[-1] != point and point in levels[-1].parents:
        levels.append(levels[-1].parent)
    return levels


def cgroup_headroom(proc: Path = Path("/proc")) -> tuple[int, int] | None:
    """(bytes the tightest memory cgroup of this process can still take, its limit), or None
    where no cgroup sets a limit (or none can be read). ``proc`` is for tests."""
    try:
        mounts = _memory_mounts((proc / "self" / "mountinfo").read_text())
        own = _own_paths((proc / "self" / "cgroup").read_text())
    except OSError:
        return None
    tightest: tuple[int, int] | None = None
    for version, point, root in mounts:
        if version not in own:
            continue
        limit_file, usage_file, inactive_key = _FILES[version]
        for folder in _levels(point, root, own[version]):
            limit = _read_int(folder / limit_file)
            if limit is None or limit >= _NO_LIMIT:
                continue
            usage = _read_int(folder / usage_file) or 0
            used = max(0, usage - _inactive_file(folder, inactive_key))
            headroom = max(0, limit - used)
            if tightest is None or headroom < tightest[0]:
                tightest = (headroom, limit)
    return tightest
