"""A call job runs in its job file's folder, as a shell job does, wherever it runs.

- A process worker runs one call at a time: it changes its folder for the call and goes back afterwards.
- A thread running a job (a thread job's worker thread, a Dask worker's executor thread) first takes a
  current folder of its own (Linux: unshare(CLONE_FS)), so that jobdeck itself and the jobs on other threads
  keep theirs; the threads the job starts share the job's. When the job ends, the thread takes a folder of
  its own again before it goes back, so that threads the job left running stay in the job's folder and
  the next job on this thread does not move them. (unshare copies only what is shared: without such
  threads it changes nothing, and costs a system call.)
- Where a thread cannot have a folder of its own (not Linux, or unshare refused), a thread that is the only
  one running jobs in its process (a single-threaded Dask worker) changes the process's folder, and any
  other stays in the process's folder: `job_folder` then yields a note saying so, for the job's output.

unshare(CLONE_FS) also gives the thread its own umask, a copy of the process's at that moment.
Imports stay light: process workers use this module too (ctypes is loaded only where a thread needs it).

A thread changes folder while holding the GIL where the folder is on a local file system
(runner.procs.local_folders): os.chdir hands the GIL to the busy event loop and waits to get it back, twice per
job, which cost 10,000 thread jobs a quarter of their time. On a network or FUSE file system a path lookup can
hang, so there the GIL is let go as os.chdir does.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from runner.procs.libc_calls import libc_function
from runner.procs.local_folders import on_local_file_system

CLONE_FS = 0x200
"""unshare(2)'s flag for the current folder, root and umask (os.CLONE_FS from Python 3.12 on)."""

_unshare_call: Callable[[], bool] | None = None
"""The system call, once looked up; None before. It answers False where it is missing or refused."""
_libc_chdir: Any = None
"""libc's chdir once looked up, False where there is none; None before."""
_thread = threading.local()
"""`home`: where a thread with a folder of its own was before its first job, and goes back to after each."""


class FolderError(Exception):
    """The job file's folder cannot be entered (removed, or not searchable); the message says which and why."""

    def __init__(self, folder: str, reason: str) -> None:
        super().__init__(f"cannot run in the job file's folder {folder}: {reason}")
        self.reason = reason


def _unshare() -> bool:
    """Give the calling thread a current folder (and umask) of its own, no longer shared with any other
    thread; True when it has one."""
    global _unshare_call
    if _unshare_call is None:
        _unshare_call = _find_unshare()
    return _unshare_call()


def _find_unshare() -> Callable[[], bool]:
    if not sys.platform.startswith("linux"):
        return _cannot
    native = getattr(os, "unshare", None)  # Python 3.12+
    if native is not None:

        def unshare_natively() -> bool:
            try:
                native(CLONE_FS)
            except OSError:
                return False
            return True

        return unshare_natively
    import ctypes

    unshare = libc_function("unshare", (ctypes.c_int,), ctypes.c_int)
    if unshare is None:
        return _cannot
    return lambda: bool(unshare(CLONE_FS) == 0)


def _chdir(folder: str) -> None:
    """os.chdir, keeping the GIL where `folder` is on a local file system (see the module's docstring)."""
    global _libc_chdir
    if _libc_chdir is None:
        import ctypes

        _libc_chdir = libc_function("chdir", (ctypes.c_char_p,), ctypes.c_int) or False
    if _libc_chdir is False or not on_local_file_system(folder):
        os.chdir(folder)
        return
    if _libc_chdir(os.fsencode(folder)) != 0:
        import ctypes

        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number), folder)


def _cannot() -> bool:
    return False


def _own_folder() -> bool:
    """Give the calling thread a folder of its own; True when it has one (and a `home` to go back to)."""
    if not _unshare():
        return False
    if not hasattr(_thread, "home"):
        _thread.home = _current_folder()
    return True


def _current_folder() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None  # removed: going back goes to /


@contextmanager
def job_folder(folder: str, *, alone: bool, isolate: bool = True) -> Iterator[str | None]:
    """Run the block in `folder` and come back afterwards; yields None, or a note when it had to stay in the
    process's folder (see the module's docstring).

    `isolate`: give the thread a folder of its own first (a process worker, whose process is the job's, need
    not); `alone`: the calling thread is the only one running jobs in this process, so it may change the
    process's folder if it cannot have its own. Raises FolderError, before the block runs, when `folder`
    cannot be entered."""
    own = isolate and _own_folder()
    if not own and not alone:
        yield _stay_note(folder)
        return
    back = _thread.home if own else _here()
    try:
        try:
            _chdir(folder)
        except OSError as error:
            raise FolderError(folder, error.strerror or str(error)) from None
        try:
            yield None
        finally:
            if own:
                _unshare()  # leaves the folder to any thread the job started, which goes on sharing it
            _go_back(back)
    finally:
        if isinstance(back, int):
            os.close(back)


def _stay_note(folder: str) -> str | None:
    try:
        here = os.getcwd()
    except OSError:
        here = "a removed folder"
    if here == folder:
        return None
    return (
        f"runs in {here}, not in the job file's folder {folder}: threads cannot have a folder of their own here "
        '(use on = "process" for that)'
    )


def _here() -> int | str | None:
    """Where to come back to: the current folder held open (it may be renamed meanwhile), or its path."""
    try:
        return os.open(".", getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY)
    except OSError:
        return _current_folder()


def _go_back(back: int | str | None) -> None:
    try:
        if isinstance(back, int):
            os.fchdir(back)
        else:
            _chdir(back if back is not None else "/")
    except OSError:
        os.chdir("/")  # never stay in the job's folder
