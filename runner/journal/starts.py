"""The attempts a server started since its journal's last commit, kept where a killed server leaves them.

The journal commits every 50-250 ms, so a job that starts (and perhaps ends) in the last moments before a
`kill -9` has no trace in it: the next server would run it again as if for the first time. So each attempt's
start is also appended, as it happens, to one of two small files beside the journal (`<journal>.starts-a`,
`.starts-b`): one `write` each, no sync, so it is in the operating system's page cache and survives the process.
At each flush the recorder switches files and empties the other once the flush has committed, so the files hold
only the starts the journal may lack. The next server reads them before anything else and records those attempts
(`Journal.record_unrecorded_starts`), so that a job that runs again says so.

The `write` is made on the event loop, so after the first WRITES_BEFORE_KEEPING_GIL starts it is libc's, which
keeps the GIL (runner.procs.libc_calls): `os.write` lets the GIL go, and with thread jobs running, the busy event
loop then waited for one of them to hand it back, at every start (10,000 tiny thread jobs: a fifth of the loop's
time). A short run does not pay for importing ctypes; a journal on
a network or FUSE file system, where a write can hang, keeps `os.write`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import orjson

WRITES_BEFORE_KEEPING_GIL = 64


class UnrecordedStart(NamedTuple):
    run_id: str
    job: str
    number: int
    at: float


class StartsLog:
    """Two append-only files beside the journal at `journal_path`; what they held when opened is in `left`."""

    def __init__(self, journal_path: Path) -> None:
        self.paths = (Path(f"{journal_path}.starts-a"), Path(f"{journal_path}.starts-b"))
        self.left: list[UnrecordedStart] = read_starts(self.paths)
        """The starts a previous server noted and perhaps did not commit: for recovery. (They stay in the files
        until the first flush empties them, so a crash before then keeps them; starts already in the journal
        are told apart by their number.)"""
        self._fds = [os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) for path in self.paths]
        self._current = 0
        self._broken = False
        self._write: Callable[[int, bytes], object] | None = None
        """The write that keeps the GIL (or os.write where there is none), once past the first starts."""
        self._writes = 0

    def note(self, run_id: str, job: str, number: int, at: float) -> None:
        """Append one start; a failed write (a full disk) is let go: the journal itself says why it lags."""
        if self._broken:
            return
        write = self._write
        if write is None:
            self._writes += 1
            if self._writes >= WRITES_BEFORE_KEEPING_GIL:
                self._write = write_keeping_gil(str(self.paths[0].parent))
            write = os.write
        try:  # noqa: SIM105 (once per attempt: a plain try costs less than contextlib.suppress)
            write(self._fds[self._current], orjson.dumps((run_id, job, number, at)) + b"\n")
        except OSError:
            pass

    def switch(self) -> int:
        """Go on in the other file; returns the one left, to be emptied once what it lists is committed."""
        left = self._current
        self._current = 1 - left
        return left

    def committed(self, which: int) -> None:
        """Everything noted in file `which` is in the journal now."""
        if which != self._current:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fds[which], 0)

    def close(self, *, remove: bool) -> None:
        for fd in self._fds:
            os.close(fd)
        self._broken = True
        if remove:
            for path in self.paths:
                path.unlink(missing_ok=True)


def write_keeping_gil(folder: str) -> Callable[[int, bytes], object]:
    """A `write(fd, data)` for files in `folder` that keeps the GIL: libc's, where there is one and `folder` is on
    a local file system; else os.write. Like os.write's, its count of bytes written is not looked at here; unlike
    it, a failed write returns -1 instead of raising."""
    import ctypes

    from runner.procs.libc_calls import libc_function  # here: a short run never needs them
    from runner.procs.local_folders import on_local_file_system

    libc_write = libc_function("write", (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t), ctypes.c_ssize_t)
    if libc_write is None or not on_local_file_system(folder):
        return os.write

    def write(fd: int, data: bytes) -> object:
        return libc_write(fd, data, len(data))

    return write


def read_starts(paths: tuple[Path, ...]) -> list[UnrecordedStart]:
    """The starts listed in these files; a line cut short by the kill is skipped."""
    starts: list[UnrecordedStart] = []
    for path in paths:
        try:
            text = path.read_bytes()
        except OSError:
            continue
        for line in text.splitlines():
            try:
                run_id, job, number, at = orjson.loads(line)
                starts.append(UnrecordedStart(str(run_id), str(job), int(number), float(at)))
            except (orjson.JSONDecodeError, TypeError, ValueError):
                continue
    return starts
