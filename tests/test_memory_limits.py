"""The memory guard under a container's limit: the cgroup's word, not /proc/meminfo's.

Issue 35: inside a 3 GB memory cgroup a 4000x3000 ``realtime image`` was OOM-killed (137, no
message) while the guard believed 21.6 GB was available. Here a real cgroup is made where the
machine allows it (root, a writable cgroup v2 or v1 memory hierarchy), the command runs inside
it, and it must refuse in one line naming the ``--size`` that fits, which then really fits. The
reading of both cgroup versions is also checked on made-up ``/proc`` and ``/sys`` trees.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.core.cgroups import cgroup_headroom
from realtime.core.errors import EXIT_USAGE
from realtime.core.memory import available_bytes, headroom_now, network_bytes

GB = 1000**3


def _fake_proc(tmp_path: Path, mountinfo: str, cgroup: str) -> Path:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "mountinfo").write_text(mountinfo)
    (proc / "self" / "cgroup").write_text(cgroup)
    return proc


def _cgroup_dir(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_v2_limit_of_an_ancestor_binds_and_inactive_cache_is_reclaimable(tmp_path: Path) -> None:
    mount = tmp_path / "sys" / "fs" / "cgroup"
    proc = _fake_proc(
        tmp_path,
        f"30 23 0:26 / {mount} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        "0::/system.slice/app.service\n",
    )
    # The service has no limit of its own; its slice has 3 GB, of which 1 GB is used, 0.25 GB
    # of that inactive page cache (reclaimed before anything is killed).
    _cgroup_dir(mount / "system.slice" / "app.service", {"memory.max": "max\n"})
    _cgroup_dir(
        mount / "system.slice",
        {
            "memory.max": f"{3 * GB}\n",
            "memory.current": f"{GB}\n",
            "memory.stat": f"anon 1\ninactive_file {GB // 4}\nactive_file 5\n",
        },
    )
    assert cgroup_headroom(proc) == (3 * GB - GB + GB // 4, 3 * GB)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal: 100 kB\nMemAvailable: {21_600_000_000 // 1024} kB\n")
    headroom = headroom_now(proc, meminfo)
    assert headroom is not None and headroom.cgroup_limit == 3 * GB
    assert headroom.available == 3 * GB - GB + GB // 4


def test_v1_memory_hierarchy_and_no_limit(tmp_path: Path) -> None:
    mount = tmp_path / "memory"
    proc = _fake_proc(
        tmp_path,
        f"35 31 0:32 / {mount} rw,relatime - cgroup cgroup rw,memory\n"
        f"41 31 0:38 / {tmp_path / 'unified'} rw,relatime - cgroup2 cgroup2 rw\n",
        "4:memory:/docker/abc\n1:cpu:/\n0::/\n",
    )
    unlimited = str(9223372036854771712)
    _cgroup_dir(mount, {"memory.limit_in_bytes": unlimited})
    _cgroup_dir(
        mount / "docker" / "abc",
        {
            "memory.limit_in_bytes": f"{2 * GB}\n",
            "memory.usage_in_bytes": f"{GB // 2}\n",
            "memory.stat": "cache 9\ntotal_inactive_file 0\n",
        },
    )
    (tmp_path / "unified").mkdir()  # v2 mounted, but without the memory controller
    assert cgroup_headroom(proc) == (2 * GB - GB // 2, 2 * GB)
    _cgroup_dir(mount / "docker" / "abc", {"memory.limit_in_bytes": unlimited})
    assert cgroup_headroom(proc) is None


def test_a_container_mounted_at_its_own_cgroup_is_read_from_the_mount(tmp_path: Path) -> None:
    """Docker without a cgroup namespace: /proc/self/cgroup names /docker/ID, and that very
    cgroup is what is mounted at /sys/fs/cgroup."""
    mount = tmp_path / "cgroup"
    proc = _fake_proc(
        tmp_path,
        f"30 23 0:26 /docker/abc {mount} ro - cgroup2 cgroup2 rw\n",
        "0::/docker/abc\n",
    )
    _cgroup_dir(mount, {"memory.max": f"{GB}\n", "memory.current": "0\n"})
    assert cgroup_headroom(proc) == (GB, GB)


# -- a real cgroup ---------------------------------------------------------------------------


def _v2_parent() -> Path | None:
    """A cgroup v2 folder where a child with a memory limit can be made: the root, whose
    children get the controllers its subtree_control lists (and the root may hold processes)."""
    root = Path("/sys/fs/cgroup")
    with contextlib.suppress(OSError):
        if "memory" in (root / "cgroup.controllers").read_text().split():
            if "memory" not in (root / "cgroup.subtree_control").read_text().split():
                (root / "cgroup.subtree_control").write_text("+memory")
            return root
    return None


def _v1_parent() -> Path | None:
    """This process's own cgroup in the v1 memory hierarchy (children there get limits)."""
    with contextlib.suppress(OSError):
        own = next(
            line.split(":", 2)[2]
            for line in Path("/proc/self/cgroup").read_text().splitlines()
            if "memory" in line.split(":", 2)[1].split(",")
        )
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            dash = fields.index("-")
            if fields[dash + 1] == "cgroup" and "memory" in fields[dash + 3].split(","):
                folder = Path(fields[4]) / Path(own).relative_to(fields[3])
                return folder if folder.is_dir() else Path(fields[4])
    return None


@contextlib.contextmanager
def memory_cgroup(limit: int) -> Iterator[Path]:
    """A new memory cgroup limited to ``limit`` bytes; yields its ``cgroup.procs``."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("a real memory cgroup needs Linux and root")
    parent, limit_file = _v2_parent(), "memory.max"
    if parent is None:
        parent, limit_file = _v1_parent(), "memory.limit_in_bytes"
    if parent is None:
        pytest.skip("no cgroup v2 memory controller and no v1 memory hierarchy here")
    folder = parent / f"realtime-test-{uuid.uuid4().hex[:8]}"
    try:
        folder.mkdir()
        (folder / limit_file).write_text(str(limit))
    except OSError as exc:
        with contextlib.suppress(OSError):
            folder.rmdir()
        pytest.skip(f"cannot make a memory cgroup under {parent} ({exc.strerror})")
    try:
        yield folder / "cgroup.procs"
    finally:
        with contextlib.suppress(OSError):
            folder.rmdir()  # empty again: its processes have ended


def _run_inside(procs: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    def join() -> None:  # in the child, before exec: all it allocates counts in the cgroup
        procs.write_text(str(os.getpid()))

    return subprocess.run(
        [sys.executable, "-m", "realtime", "-q", *args],
        cwd=cwd, capture_output=True, text=True, preexec_fn=join, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_inside_a_memory_cgroup_the_guard_refuses_and_its_size_fits(tmp_path: Path) -> None:
    width, height = 1600, 1200
    needed = network_bytes("transformer-net", width, height)
    machine = available_bytes()
    if machine is None or needed > machine * 0.85:
        pytest.skip("this machine itself lacks the memory the contrast needs")
    photo = tmp_path / "photo.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    cv2.imwrite(str(photo), cv2.GaussianBlur(noise, (0, 0), 3))
    command = ["image", "photo.jpg", "out.jpg", "--style", "mosaic", "--device", "cpu"]
    with memory_cgroup(GB) as procs:
        refused = _run_inside(procs, *command, cwd=tmp_path)
        assert refused.returncode == EXIT_USAGE, refused.stderr  # not 137: not OOM-killed
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "memory limit" in lines[0], lines
        assert lines[0].startswith("realtime: error: the style network (transformer-net) at")
        size = int(lines[0].split("--size ")[1].split()[0])
        assert 16 <= size < width
        assert sorted(os.listdir(tmp_path)) == ["photo.jpg"]
        # The size it names runs to the end in the same cgroup.
        fits = _run_inside(procs, *command, "--size", str(size), cwd=tmp_path)
        assert fits.returncode == 0, fits.stderr
    assert cv2.imread(str(tmp_path / "out.jpg")).shape[:2] == (height, width)
