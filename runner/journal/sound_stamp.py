"""Remember that a journal file was sound when jobdeck last let go of it, so the next opening can skip the check.

Every opening ran SQLite's quick_check, which reads the whole file: 0.2-0.6 s for a journal of 25 MB on this
machine, paid by each `jobdeck run`, `status` and `logs`, and growing with the history kept. When the last
connection closes cleanly, SQLite folds the write-ahead log into the file and removes it; the file is then as
sound as the check last found it plus what SQLite itself wrote. So at that moment a stamp beside it records the
file's identity (inode, size, modification and change times). An opening whose file has no write-ahead log and
matches its stamp exactly skips the check; any other (a crash left the log, another process has it open, a
byte changed since, the stamp is missing or unreadable) runs it as before. The change time cannot be set back
by hand, so a file altered after the stamp never matches it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

STAMP_SUFFIX = ".sound"


def _stamp_path(journal: Path) -> Path:
    return journal.with_name(journal.name + STAMP_SUFFIX)


def _identity(journal: Path) -> str | None:
    """The file's identity as the stamp holds it, or None while its write-ahead log exists (or it is not there)."""
    if journal.with_name(journal.name + "-wal").exists():
        return None
    try:
        status = journal.stat()
    except OSError:
        return None
    return f"{status.st_dev} {status.st_ino} {status.st_size} {status.st_mtime_ns} {status.st_ctime_ns}\n"


def known_sound(journal: Path) -> bool:
    """Whether the file is exactly as it was when it was last closed cleanly (so it needs no check)."""
    identity = _identity(journal)
    if identity is None:
        return False
    try:
        return _stamp_path(journal).read_text() == identity
    except (OSError, UnicodeDecodeError):
        return False


def remember_sound(journal: Path) -> None:
    """After closing the journal: stamp it if that was its last connection (its write-ahead log is gone)."""
    identity = _identity(journal)
    if identity is None:
        return
    stamp = _stamp_path(journal)
    with contextlib.suppress(OSError):  # no stamp only means the next opening checks the file
        partial = stamp.with_name(f"{stamp.name}.{os.getpid()}")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(identity)
        os.replace(partial, stamp)
