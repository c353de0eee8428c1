"""Where a fetch's body is saved: a file inside the deck's out_dir, reached without following links out of it.

`save` paths are checked when the deck loads, but the folders under out_dir may change after that (an earlier
job of the same deck can run `ln -s ../outside out/link`). So the file is reached the way it is written: from
a descriptor of out_dir, one folder at a time, each opened with O_NOFOLLOW relative to the one before (and made
when missing), so no link on the way is ever followed. The body goes to a temporary file in the last folder,
renamed into place once it arrived whole; the rename replaces whatever has the file's name, even a link,
without writing through it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

import anyio
import anyio.to_thread

from runner.errors import JobError, disk_full_error
from runner.umask import file_mode

_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMPORARY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class SaveFile:
    """A body being written to `path` (inside `out_dir`): `write` its chunks, then `commit` or `discard`."""

    def __init__(self, path: Path, folder: int, temporary: str, handle: BinaryIO) -> None:
        self.path = path
        self._folder = folder
        """A descriptor of the file's folder, reached without links."""
        self._temporary = temporary
        self._file = anyio.AsyncFile(handle)

    @classmethod
    async def open(cls, path: Path, out_dir: Path, umask: int | None = None) -> SaveFile:
        """Reach the folder of `path` from `out_dir` and open a temporary file there, with the mode `open()` gives
        under `umask` (the submitter's; None: this process's); JobError when `path` leads through a symbolic link
        or cannot be written."""
        return await anyio.to_thread.run_sync(cls._open, path, out_dir, umask)

    @classmethod
    def _open(cls, path: Path, out_dir: Path, umask: int | None) -> SaveFile:
        folder = _reach_folder(path, out_dir)
        temporary = f".{path.name}.{secrets.token_hex(4)}.part"
        try:
            descriptor = os.open(temporary, _TEMPORARY_FLAGS, 0o666, dir_fd=folder)
            if umask is not None:  # the server's own umask is 077
                os.fchmod(descriptor, file_mode(umask))
        except OSError as error:
            os.close(folder)
            raise _write_error(error, path) from None
        return cls(path, folder, temporary, os.fdopen(descriptor, "wb"))

    async def write(self, chunk: bytes) -> None:
        try:
            await self._file.write(chunk)
        except OSError as error:
            raise _write_error(error, self.path) from None

    async def commit(self) -> None:
        """Put the whole body in place under its name, and let go of the folder."""
        try:
            await self._file.aclose()  # flushes what is buffered: the disk may be found full only now
            os.replace(self._temporary, self.path.name, src_dir_fd=self._folder, dst_dir_fd=self._folder)
        except OSError as error:
            await self.discard()
            raise _write_error(error, self.path) from None
        except BaseException:
            await self.discard()
            raise
        os.close(self._folder)

    async def discard(self) -> None:
        """Remove the partial body (shielded from cancellation), and let go of the folder."""
        with anyio.CancelScope(shield=True), contextlib.suppress(OSError):  # a full disk fails the last flush again
            await self._file.aclose()
        try:
            os.unlink(self._temporary, dir_fd=self._folder)
        except FileNotFoundError:
            pass
        finally:
            os.close(self._folder)


def _reach_folder(path: Path, out_dir: Path) -> int:
    """A descriptor of `path`'s folder, opened from `out_dir` one folder at a time without following links."""
    try:
        parts = path.relative_to(out_dir).parts
    except ValueError:
        raise JobError(f"save path {path} is outside out_dir ({out_dir}); refused") from None
    out_dir.mkdir(parents=True, exist_ok=True)  # out_dir itself was resolved, links and all, when the deck loaded
    try:
        folder = os.open(out_dir, _FOLDER_FLAGS)
    except OSError as error:
        raise _refusal(path, out_dir, error, out_dir.is_symlink()) from None
    reached = out_dir
    for name in parts[:-1]:
        reached = reached / name
        try:
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
