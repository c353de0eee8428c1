"""What can go wrong with the journal's file, told apart: damaged, not writable, or on a full disk.

sqlite3 raises one exception type for all of them; the SQLite result code (`sqlite_errorcode`, whose low byte is
the primary code) says which. Each kind gets a message that says what happened and what to do.
"""

from __future__ import annotations

import errno
from pathlib import Path

SQLITE_PERM = 3
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class JournalError(Exception):
    """The journal cannot be opened or used; the message says which file and why."""


class JournalDamaged(JournalError):
    """The journal's file is not a sound SQLite database (or was emptied or replaced under jobdeck): it is to be
    set aside and a fresh journal started. `reason` says what is wrong with it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot open the journal {path}: {reason}")
        self.path = path
        self.reason = reason


def primary_code(error: BaseException) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_damage(error: BaseException) -> bool:
    return primary_code(error) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def is_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno in DISK_FULL_ERRNOS
    return primary_code(error) == SQLITE_FULL


def is_write_failure(error: BaseException) -> bool:
    """A write the disk or the file's permissions refused: worth trying again later, when they may allow it."""
    if isinstance(error, OSError):
        return True
    return primary_code(error) in (SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_PERM)


def write_failure_message(path: Path, error: BaseException) -> str:
    """What a client is told while the journal cannot be written."""
    if is_disk_full(error):
        why = f"disk full at {path}"
    elif primary_code(error) in (SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN):
        why = f"{path} or its folder is read-only ({error})"
    else:
        why = f"{path}: {error}"
    return f"journal cannot be written: {why}; jobs keep running, but would not survive a crash"


def cannot_use_message(path: Path, error: BaseException) -> str:
    """Why a journal cannot be opened for writing, and what to do: for a server that refuses to start."""
    elsewhere = "or choose another journal (JOBDECK_DB=PATH, or --db PATH)"
    if is_disk_full(error):
        return f"cannot open the journal {path}: the disk is full ({error}); free some space, {elsewhere}"
    if primary_code(error) in (SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN):
        return (
            f"cannot open the journal {path}: it cannot be written, the file or its folder is read-only ({error}); "
            f"make {path.parent} and the files in it writable, {elsewhere}"
        )
    return f"cannot open the journal {path}: {error}"
