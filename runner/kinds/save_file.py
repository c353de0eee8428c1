"""Where a fetch's body is saved: a file inside the deck's out_dir, reached without following links out of it.

`save` paths are checked when the deck loads, but the folders under out_dir may change after that (an earlier
job of the same deck can run `ln -s ../outside out/link`). So the file is reached the way it is written: from
a descriptor of out_dir, one folder at a time, each opened with O_NOFOLLOW relative to the one before (and made
when missing), so no link on the way is ever followed. The body goes to a partial file in the last folder,
renamed into place once it arrived whole; the rename replaces whatever has the file's name, even a link,
without writing through it.

Each file has one partial file, `.NAME.part`, whatever happens: an attempt holds an exclusive lock (flock) on it
while it writes, so a partial file nobody holds was left by an attempt that ended (`keep`, to be continued) or by
a jobdeck that was killed (the kernel lets go of a dead process's locks). The next attempt to save that file
either takes it over with its bytes (`open(..., keep=True)`: a download that can be resumed) or removes it and
starts a fresh one. An attempt that
finds another one writing the same file (the same deck loaded twice, say) waits for its turn. The partial file is
private (0600) until it is put in place with its proper mode.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import anyio
import anyio.to_thread

from runner.errors import JobError, disk_full_error
from runner.umask import current_umask, file_mode

_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PART_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TAKE_OVER_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_LOOK_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
PART_MODE = 0o600
BUSY_WAIT_S = 0.25
"""How often an attempt looks again whether the attempt writing the same file has finished."""
CLAIM_TRIES = 20
"""Attempts at taking the partial file while others take and remove it at the same moment."""


def part_name(name: str) -> str:
    """The partial file of the file called `name`, in the same folder."""
    return f".{name}.part"


class SaveFile:
    """A body being written to `path` (inside `out_dir`): `write` its chunks, then `commit` or `discard`."""

    def __init__(self, path: Path, folder: int, handle: BinaryIO, mode: int, size: int = 0) -> None:
        self.path = path
        self.size = size
        """The bytes the partial file held when it was taken (0 unless taken over with `keep`)."""
        self._folder = folder
        """A descriptor of the file's folder, reached without links."""
        self._part = part_name(path.name)
        self._mode = mode
        """The saved file's mode, given it once the body is whole."""
        self._file = anyio.AsyncFile(handle)

    @classmethod
    async def open(cls, path: Path, out_dir: Path, umask: int | None = None, *, keep: bool = False) -> SaveFile:
        """Reach the folder of `path` from `out_dir` and take its partial file there, to be given the mode `open()`
        gives under `umask` (the submitter's; None: this process's); JobError when `path` leads through a symbolic
        link or cannot be written. While another attempt writes the same file, this waits (cancellably). With
        `keep`, a partial file nobody holds is taken over with its bytes (`size`), written on at its end."""
        mode = file_mode(current_umask() if umask is None else umask)
        while True:
            opened = await anyio.to_thread.run_sync(cls._open, path, out_dir, mode, keep)
            if opened is not None:
                return opened
            await anyio.sleep(BUSY_WAIT_S)

    @classmethod
    def _open(cls, path: Path, out_dir: Path, mode: int, keep: bool = False) -> SaveFile | None:
        """The file opened for writing, or None while another attempt holds its partial file."""
        folder = _reach_folder(path, out_dir)
        try:
            claim = _take_over_part if keep else _claim_part
            descriptor = claim(part_name(path.name), folder)
            size = 0 if descriptor is None else os.lseek(descriptor, 0, os.SEEK_END)
        except OSError as error:
            os.close(folder)
            raise _write_error(error, path) from None
        if descriptor is None:
            os.close(folder)
            return None
        return cls(path, folder, os.fdopen(descriptor, "wb"), mode, size)

    async def write(self, chunk: bytes) -> None:
        try:
            await self._file.write(chunk)
        except OSError as error:
            raise _write_error(error, self.path) from None

    async def truncate(self) -> None:
        """Throw away what the partial file holds, to write it again from its first byte."""
        try:
            await self._file.flush()
            await self._file.seek(0)
            await self._file.truncate()
        except OSError as error:
            raise _write_error(error, self.path) from None
        self.size = 0

    async def flush(self) -> None:
        try:
            await self._file.flush()
        except OSError as error:
            raise _write_error(error, self.path) from None

    def read_back(self, block: int = 1 << 20) -> Iterator[bytes]:
        """The partial file's bytes, in blocks (blocking: call it on a worker thread)."""
        descriptor = os.open(self._part, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._folder)
        with os.fdopen(descriptor, "rb") as reader:
            while chunk := reader.read(block):
                yield chunk

    async def commit(self) -> None:
        """Put the whole body in place under its name, with its mode, and let go of the folder."""
        try:
            await self._file.flush()  # the disk may be found full only now
            os.fchmod(self._file.fileno(), self._mode)
            # Renamed while still locked, so that no other attempt takes it for one left behind.
            os.replace(self._part, self.path.name, src_dir_fd=self._folder, dst_dir_fd=self._folder)
            await self._file.aclose()
        except OSError as error:
            await self.discard()
            raise _write_error(error, self.path) from None
        except BaseException:
            await self.discard()
            raise
        os.close(self._folder)

    async def keep(self) -> None:
        """Let go of the partial file with what it holds, for a later attempt to continue (shielded), and of the
        folder. Whatever cannot be written is lost from its end, which is all a later attempt needs to know."""
        try:
            with anyio.CancelScope(shield=True), contextlib.suppress(OSError):
                await self._file.aclose()
        finally:
            os.close(self._folder)

    async def discard(self) -> None:
        """Remove the partial body (shielded from cancellation), and let go of the folder."""
        try:
            if not self._file.closed:  # removed while still locked (see commit)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._part, dir_fd=self._folder)
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(OSError):  # a full disk fails the flush again
                await self._file.aclose()
            os.close(self._folder)


def remove_left_part(path: Path, out_dir: Path) -> bool:
    """Remove the partial file of `path` (inside `out_dir`) if no attempt holds it (a jobdeck that died, or an
    attempt that kept it to be continued, left it); one an attempt holds stays. Links are not followed, folders not
    made; what cannot be reached is left alone. Returns whether no partial file is left."""
    try:
        folder = _reach_folder(path, out_dir, make=False)
    except (JobError, OSError):
        return True
    try:
        try:
            return _remove_if_left(part_name(path.name), folder)
        except OSError:
            return False
    finally:
        os.close(folder)


def _claim_part(name: str, folder: int) -> int | None:
    """A descriptor of a new, locked, empty partial file `name` in `folder`; None while another attempt holds
    the one there. One left by a dead jobdeck is removed first."""
    for _ in range(CLAIM_TRIES):
        try:
            descriptor = os.open(name, _PART_FLAGS, PART_MODE, dir_fd=folder)
        except FileExistsError:
            if _remove_if_left(name, folder):
                continue
            return None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Between its creation and the lock, another attempt took it for a left one: it removes it.
            os.close(descriptor)
            continue
        if _names(descriptor, name, folder):
            return descriptor
        os.close(descriptor)  # removed as a left one before it was locked
    raise OSError(errno.EBUSY, f"cannot take {name}: other attempts keep taking it")


def _take_over_part(name: str, folder: int) -> int | None:
    """A descriptor of the locked partial file `name` in `folder`, the one there with its bytes or a new one; None
    while another attempt holds it."""
    for _ in range(CLAIM_TRIES):
        try:
            descriptor = os.open(name, _TAKE_OVER_FLAGS, PART_MODE, dir_fd=folder)
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            os.unlink(name, dir_fd=folder)  # a link in its place is no partial file of ours
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        if _names(descriptor, name, folder) and stat.S_ISREG(os.fstat(descriptor).st_mode):
            return descriptor
        os.close(descriptor)  # removed (as a left one) between the open and the lock: take the next one
    raise OSError(errno.EBUSY, f"cannot take {name}: other attempts keep taking it")


def _remove_if_left(name: str, folder: int) -> bool:
    """Remove the partial file `name` if no attempt holds it (a dead jobdeck left it); False while one does."""
    try:
        descriptor = os.open(name, _LOOK_FLAGS, dir_fd=folder)
    except FileNotFoundError:
        return True
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        os.unlink(name, dir_fd=folder)  # a link in its place is no partial file of ours
        return True
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if _names(descriptor, name, folder):
            os.unlink(name, dir_fd=folder)
        return True
    finally:
        os.close(descriptor)


def _names(descriptor: int, name: str, folder: int) -> bool:
    """Whether `name` in `folder` is still the file open as `descriptor`."""
    try:
        named = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _reach_folder(path: Path, out_dir: Path, *, make: bool = True) -> int:
    """A descriptor of `path`'s folder, opened from `out_dir` one folder at a time without following links (and
    made where missing, unless `make` is false)."""
    try:
        parts = path.relative_to(out_dir).parts
    except ValueError:
        raise JobError(f"save path {path} is outside out_dir ({out_dir}); refused") from None
    if make:
        out_dir.mkdir(parents=True, exist_ok=True)  # out_dir itself was resolved, links and all, when the deck loaded
    try:
        folder = os.open(out_dir, _FOLDER_FLAGS)
    except OSError as error:
        raise _refusal(path, out_dir, error, out_dir.is_symlink()) from None
    reached = out_dir
    for name in parts[:-1]:
        reached = reached / name
        try:
            if make:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=folder)
            inner = os.open(name, _FOLDER_FLAGS, dir_fd=folder)
        except OSError as error:
            refusal = _refusal(path, reached, error, _is_link(name, folder))
            os.close(folder)
            raise refusal from None
        os.close(folder)
        folder = inner
    return folder


def _is_link(name: str, folder: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _refusal(path: Path, reached: Path, error: OSError, is_link: bool = False) -> JobError:
    # O_NOFOLLOW with O_DIRECTORY refuses a link with ENOTDIR on Linux, ELOOP elsewhere: look at what is there.
    if is_link or error.errno == errno.ELOOP:
        return JobError(f"save path {path} goes through a symbolic link ({reached}); refused")
    if error.errno == errno.ENOTDIR:
        return JobError(f"cannot write {path}: {reached} is not a folder")
    return JobError(f"cannot write {path}: {error.strerror} ({reached})")


def _write_error(error: OSError, path: Path) -> JobError:
    """A failed write of the body: retryable when the disk was full (space may be freed), else not."""
    return disk_full_error(error, path) or JobError(f"cannot write {path}: {error.strerror or error}")
