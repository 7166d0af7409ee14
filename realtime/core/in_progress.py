"""An output's in-progress file: its name, fitted to the file system, and the run's hold on it.

While a run writes ``NAME.EXT`` it writes ``NAME.incomplete.EXT`` (``temporary_path``), which
gets the final name only when complete, or ``NAME.partial.EXT`` (``partial_path``) when the
run was stopped early. Two things can go wrong with that, both fixed here:

- **Two runs, one output.** A run holds its in-progress file with an advisory lock
  (``flock``) from before the first byte until the file has its final name (``OutputHold``).
  A second run on the same output refuses in one line, touching nothing; what a dead run left
  (its lock died with it) is taken over. Where there are no advisory locks (Windows, a file
  system without them) the stale file is replaced, unheld, as before.
- **Long names.** A legal 254-byte name overflows the file system's 255-byte limit once
  ``.incomplete`` is added. Our names are shortened where needed (the stem cut, a hash of all
  of it added), and a name that is itself too long is refused in one line.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

from realtime.core.errors import UserError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; outputs are not held (see OutputHold)
    fcntl = None  # type: ignore[assignment]

# Errors of flock that mean "another open file holds the lock".
_HELD = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES}
# The longest file name, in bytes, where the file system does not say (ext4, XFS, Btrfs, APFS).
_NAME_MAX = 255
# The longest path the kernel takes (Linux PATH_MAX, with its terminating NUL).
_PATH_MAX = 4095
# A temporary name leaves room for the disk reserve beside it: "." + name + ".reserve".
_RESERVE_PREFIX, _RESERVE_SUFFIX = ".", ".reserve"


def name_max(folder: Path) -> int:
    """The longest file name, in bytes, the file system holding ``folder`` takes."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # no such folder yet; no pathconf (Windows)
        return _NAME_MAX


def check_name_length(path: Path, what: str = "output") -> None:
    """One line for a name the file system cannot hold (before the open fails with a
    traceback); a name that fits is never refused for the suffixes we add to it."""
    path = Path(path)
    size, limit = len(os.fsencode(path.name)), name_max(path.parent)
    if size > limit:
        raise UserError(
            f"{what} name {path.name[:40]}... is {size} bytes long; this file system takes "
            f"names of up to {limit} bytes: choose a shorter name"
        )
    full = len(os.fsencode(os.path.abspath(path)))
    if full > _PATH_MAX:
        raise UserError(
            f"{what} path is {full} bytes long; the system takes paths of up to {_PATH_MAX} "
            "bytes: choose a shorter folder or name"
        )


def _fitted(stem: str, tail: str, limit: int) -> str:
    """``stem + tail`` in at most ``limit`` bytes: where it is longer, ``stem`` is cut and a
    hash of all of it added, so two long names that share a beginning never share a file."""
    if len(os.fsencode(stem + tail)) <= limit:
        return stem + tail
    mark = "~" + hashlib.sha256(os.fsencode(stem)).hexdigest()[:8]
    if len(os.fsencode(mark + tail)) > limit:
        raise UserError(
            f"the suffix of {stem[:40]}...{tail[-40:]} leaves no room in a {limit}-byte name; "
            "choose a shorter name"
        )
    short = stem
    while len(os.fsencode(short + mark + tail)) > limit:
        short = short[:-1]  # by characters, so a multi-byte character is never split
    return short + mark + tail


def temporary_path(output: Path) -> Path:
    """Where an output is written until it is complete (same suffix: same file type),
    shortened where needed so that it and its disk reserve fit the file system's names."""
    output = Path(output)
    room = name_max(output.parent) - len(_RESERVE_PREFIX) - len(_RESERVE_SUFFIX)
    return output.with_name(_fitted(output.stem, f".incomplete{output.suffix}", room))


def partial_path(output: Path) -> Path:
    """Where an interrupted or disk-full run leaves its finalised, playable part."""
    output = Path(output)
    return output.with_name(
        _fitted(output.stem, f".partial{output.suffix}", name_max(output.parent))
    )


def reserve_path(beside: Path) -> Path:
    """The hidden disk reserve kept beside a file being written (``SpaceReserve``)."""
    beside = Path(beside)
    name = _fitted(_RESERVE_PREFIX + beside.name, _RESERVE_SUFFIX, name_max(beside.parent))
    return beside.with_name(name)


def _busy_error(output: Path, temp: Path) -> UserError:
    return UserError(
        f"{output} is being written by another run now ({temp.name} is held); wait for it to "
        "finish or choose another output"
    )


def check_output_free(output: Path) -> None:
    """Refuse, touching nothing, an output that another live run is writing now."""
    if fcntl is None:
        return
    temp = temporary_path(output)
    try:
        fd = os.open(temp, os.O_RDONLY)  # never O_CREAT: a refused run leaves no trace
    except OSError:
        return  # nothing in progress (or unreadable: the real attempt will say so)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _HELD:
            raise _busy_error(Path(output), temp) from None
    finally:
        os.close(fd)  # also lets go of the lock, if we got it


class OutputHold:
    """This run's hold on an output: an advisory lock (``flock``) on its in-progress file, from
    before the first byte until the output has its final name (or is given up).

    The lock dies with its process, so what is left by a run that was killed (SIGKILL, a power
    cut) is free to take: ``acquire`` then empties it and removes its disk reserve. A file that
    a live run holds is refused in one line. Where there are no advisory locks (Windows, a file
    system without them) the stale file is replaced as before, unheld.
    """

    def __init__(self, output: Path) -> None:
        self.output = Path(output)
        self.temp = temporary_path(self.output)
        self.held = False  # acquired and not yet released (locked, where locks exist)
        self._fd: int | None = None

    def acquire(self) -> Path:
        """Take the in-progress file; UserError when another run holds it."""
        fd = self._locked_fd() if fcntl is not None else None
        if fd is None:
            try:
                self.temp.unlink(missing_ok=True)
            except PermissionError:  # Windows: another process has it open
                raise _busy_error(self.output, self.temp) from None
        else:
            os.ftruncate(fd, 0)  # what a dead run left
            self._fd = fd
        self.held = True
        reserve_path(self.temp).unlink(missing_ok=True)
        return self.temp

    def _locked_fd(self) -> int | None:
        """An open, locked descriptor of the file now at ``temp``; None without locking."""
        while True:
            fd = os.open(self.temp, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in _HELD:
                    raise _busy_error(self.output, self.temp) from None
                return None  # ENOLCK, EOPNOTSUPP: this file system has no locks
            # Between our open and our lock the run that held it may have renamed it to its
            # final name: then we hold that finished file, not the in-progress one. Retry.
            if _is_open_at(fd, self.temp):
                return fd
            os.close(fd)

    def abandon(self) -> None:
        """Remove the in-progress file if this hold took it, and let go: a stop came before
        anything was written to it."""
        if self.held or self._fd is not None:
            self.temp.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        """Let go (after the file got its final name or was removed)."""
        self.held = False
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:  # a run torn down by an unexpected error still lets go
        self.release()


def discard_unheld(output: Path) -> bool:
    """Remove what a stopped or killed run left while writing ``output`` (its in-progress file
    and disk reserve), unless a live run holds it; False when one does."""
    hold = OutputHold(output)
    if not hold.temp.exists() and not reserve_path(hold.temp).exists():
        return True
    try:
        hold.acquire()
    except UserError:  # held: a live run's, not ours to remove
        return False
    hold.temp.unlink(missing_ok=True)
    hold.release()
    return True


def _is_open_at(fd: int, path: Path) -> bool:
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    there = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
