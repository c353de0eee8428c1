"""The attempts a server started since its journal's last commit, kept where a killed server leaves them.

The journal commits every 50-250 ms, so a job that starts (and perhaps ends) in the last moments before a
`kill -9` has no trace in it: the next server would run it again as if for the first time. So each attempt's
start is also appended, as it happens, to one of two small files beside the journal (`<journal>.starts-a`,
`.starts-b`): one `write` each, no sync, so it is in the operating system's page cache and survives the process.
At each flush the recorder switches files and empties the other once the flush has committed, so the files hold
only the starts the journal may lack. The next server reads them before anything else and records those attempts
(`Journal.record_unrecorded_starts`), so that a job that runs again says so.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import NamedTuple

import orjson


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

    def note(self, run_id: str, job: str, number: int, at: float) -> None:
        """Append one start; a failed write (a full disk) is let go: the journal itself says why it lags."""
        if self._broken:
            return
        try:  # noqa: SIM105 (once per attempt: a plain try costs less than contextlib.suppress)
            os.write(self._fds[self._current], orjson.dumps((run_id, job, number, at)) + b"\n")
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
