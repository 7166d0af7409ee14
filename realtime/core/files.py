"""Writing outputs safely: atomic replacement, folder checks, and a full disk as one line.

Every output of the program (images, videos, recordings, exported models, checkpoints, cards)
is written under a temporary name and gets its final name only when complete, so a crash or a
full disk never leaves a half-written file under a name that looks finished.

A full disk is an expected fault, not a bug: it becomes ``DiskFullError`` (one line naming the
disk, how much was written and how much is free). Video outputs keep a small reserve of disk
space (``SpaceReserve``) so that, when the disk fills, the frames already encoded can still be
finalised into a playable file: the container's index (an MP4's moov) is written at the end
and needs room of its own.

Each run holds its output while writing it, and temporary names fit the file system's limit
on name length (``realtime.core.in_progress``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from realtime.core.errors import DiskFullError, UserError

# The in-progress file's name and the run's hold on it live in realtime.core.in_progress;
# imported here under their own names, so that callers find every output helper here.
from realtime.core.in_progress import OutputHold as OutputHold
from realtime.core.in_progress import check_name_length as check_name_length
from realtime.core.in_progress import check_output_free as check_output_free
from realtime.core.in_progress import discard_unheld as discard_unheld
from realtime.core.in_progress import partial_path as partial_path
from realtime.core.in_progress import reserve_path as reserve_path
from realtime.core.in_progress import temporary_path as temporary_path

# Errors that mean "the disk (or the user's quota, or the file size limit) is full".
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks so large checkpoints don't fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _FULL


def mount_point(path: Path) -> Path:
    """The mount point of the file system holding ``path`` (or its nearest existing parent)."""
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    """Bytes available to this user on the file system holding ``path``; -1 if unknown."""
    try:
        stat = os.statvfs(mount_point(path))
    except (OSError, AttributeError):  # statvfs does not exist on Windows
        return -1
    return stat.f_bavail * stat.f_frsize


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # unreachable; keeps type checkers content


def disk_full_error(path: Path, written: str, detail: str = "") -> DiskFullError:
    """The one line for a full disk: which disk, what was written, how much is free."""
    free = free_bytes(path)
    free_text = f", {human_bytes(free)} free" if free >= 0 else ""
    return DiskFullError(
        f"no space left on {mount_point(path)}{free_text} while writing {output_name(path)}: "
        f"{written}{detail}; free some space or write to another disk"
    )


def check_output_folder(path: Path, what: str = "output") -> None:
    """Fail before any work when ``path`` cannot be created in its folder, or when another run
    is writing it now."""
    path = Path(path)
    check_output_place(path, what)
    parent = path.resolve().parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(
            f"{what} folder {parent} is not writable; choose another {what} path or fix "
            "its permissions"
        )
    check_output_free(path)


def check_output_place(path: Path, what: str = "output") -> None:
    """``path`` names a file that can exist: not an existing folder, in a folder that exists
    (a file on the way, ``notes.txt/out.mp4``, is said as such, not as a missing folder).
    Checked before the name's suffix, whose message would only mislead about a folder."""
    path = Path(path)
    check_name_length(path, what)  # first: is_dir() itself fails on a name too long
    if path.is_dir():
        raise UserError(
            f"{what} {path} is a directory, not a file name; name the file to write, "
            f"e.g. {path / 'NAME'}.EXT"
        )
    parent = path.resolve().parent
    _check_no_file_above(parent, what, path)
    if not parent.is_dir():
        raise UserError(f"{what} folder {parent} does not exist; create it or choose another")


def check_output_dir(path: Path, what: str) -> None:
    """``path`` is a folder, or one that can be created (no file in its place or above it)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path} is a file, not a folder; give a folder")
    _check_no_file_above(path.resolve(), what, path)


def _check_no_file_above(folder: Path, what: str, path: Path) -> None:
    for above in (folder, *folder.parents):
        if above.exists():  # the nearest that exists decides
            if not above.is_dir():
                raise UserError(
                    f"{what} {path} cannot be created: {above} is a file, not a folder; "
                    "choose another path"
                )
            return


def output_name(path: Path) -> str:
    """The name the user gave, also for the temporary file written in its place."""
    path = Path(path)
    stem = path.stem.removesuffix(".incomplete")
    return f"{stem}{path.suffix}"


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` to; it becomes ``path`` only on success.

    The temporary file is held (``OutputHold``) while it is written. On any failure it is
    removed; a full disk is reported as DiskFullError.
    """
    path = Path(path)
    hold = OutputHold(path)
    try:
        temp = hold.acquire()
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM between the in-progress file's creation and its use (a batch
        # stopped while it records a finished item): nothing of ours is in it yet.
        hold.abandon()
        raise
    try:
        yield temp
        os.replace(temp, path)
    except OSError as exc:
        written = temp.stat().st_size if temp.exists() else 0
        temp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise disk_full_error(
                path, f"{human_bytes(written)} written before it filled, nothing kept"
            ) from exc
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        hold.release()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_output(path) as temp:
        temp.write_bytes(data)


class SpaceReserve:
    """Disk space held back beside an output, released to finalise it when the disk fills.

    ``ensure(frames)`` grows the reserve with the output (an MP4 index takes about 20 bytes per
    frame, more with audio); growing it fails when the disk is nearly full, which is then
    treated as full while there is still room to finish cleanly.
    """

    BASE = 256 * 1024
    PER_FRAME = 64
    # Grow ahead by this many frames' worth, so the reserve is not reallocated on every frame.
    AHEAD_FRAMES = 4096

    def __init__(self, beside: Path, frames: int = 0) -> None:
        self.path = reserve_path(beside)
        self.size = 0
        self.released = False
        self.ensure(frames)

    def needed(self, frames: int) -> int:
        return self.BASE + self.PER_FRAME * frames

    def ensure(self, frames: int) -> bool:
        """Grow to cover ``frames``; False (and nothing held) when the disk has no room."""
        if self.released:
            return False
        if self.needed(frames) <= self.size:
            return True
        target = self.needed(frames + self.AHEAD_FRAMES)
        try:
            _allocate(self.path, target)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            return False
        self.size = target
        return True

    def release(self) -> None:
        self.released = True
        self.path.unlink(missing_ok=True)


def _allocate(path: Path, size: int) -> None:
    """Make ``path`` hold ``size`` bytes of real disk blocks (not a sparse file)."""
    with open(path, "ab") as handle:
        current = handle.seek(0, os.SEEK_END)
        if hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(handle.fileno(), 0, size)
                return
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
        handle.write(b"\0" * (size - current))
        handle.flush()
        os.fsync(handle.fileno())


class ReservedFile:
    """A binary file for PyAV to write a container to, which survives a full disk once.

    When a write hits a full disk the reserve is released and the write retried, so the
    muxer never sees an error; ``disk_full`` then tells the caller to stop adding frames
    and finalise, which the released reserve leaves room for.
    """

    def __init__(self, path: Path, reserve: SpaceReserve) -> None:
        self.path = Path(path)
        self.reserve = reserve
        self.disk_full = False
        # Unbuffered: each write is one or more os.write calls whose failure is exact, so a
        # full disk cannot lose bytes in a buffer between us and the file.
        self._file = open(self.path, "w+b", buffering=0)  # noqa: SIM115 - closed by close()

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        done = 0
        while done < len(view):
            try:
                done += self._file.write(view[done:]) or 0
            except OSError as exc:
                if not is_disk_full(exc) or self.reserve.released:
                    raise
                self.disk_full = True
                self.reserve.release()
        return done

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed
