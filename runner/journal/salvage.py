"""A damaged journal: how it is recognised, set aside (kept for the user) and what the user is told.

The journal is one SQLite file plus its write-ahead log (`-wal`) and shared-memory index (`-shm`). A file that
SQLite cannot read, or that fails `PRAGMA quick_check`, is damaged; so is one emptied or replaced while a server
had it open (`truncate -s 0 journal.db`): SQLite would quietly take an empty main file for a new database and
drop the log, which holds the latest changes. Damaged files are renamed, never deleted, so what they held can
still be recovered by hand (`sqlite3 FILE .recover`).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from runner.journal.faults import JournalDamaged

COMPANIONS = ("", "-wal", "-shm")
"""The suffixes of the files that make up one journal."""


def emptied_with_a_log(path: Path) -> bool:
    """Whether the journal's file is empty while its write-ahead log is not: it was emptied under a server
    (SQLite itself never leaves a database like that)."""
    try:
        return path.stat().st_size == 0 and Path(f"{path}-wal").stat().st_size > 0
    except FileNotFoundError:
        return False


def set_aside(path: Path) -> Path:
    """Rename the journal's files (those that exist) to `<name>.corrupt-<time>` (plus `-wal`, `-shm`); returns
    the new path of the main file. Nothing is deleted."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    number = 1
    while any(Path(f"{target}{suffix}").exists() for suffix in COMPANIONS):
        number += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
    for suffix in COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.rename(f"{path}{suffix}", f"{target}{suffix}")
    return target


def set_aside_notice(path: Path, kept: Path, damage: JournalDamaged, *, while_running: bool) -> str:
    """What clients are told once a damaged journal was set aside and a fresh one started."""
    if while_running:
        consequence = (
            "a fresh journal was started and everything this server holds was written to it again, so nothing is lost"
        )
    else:
        consequence = (
            "a fresh journal was started: the decks it held were not restored; submit again those you still "
            "need (jobdeck submit FILE)"
        )
    return (
        f"the journal {path} was damaged ({damage.reason}): it was moved to {kept}; {consequence}. "
        f"To look at what it held: sqlite3 {kept} .recover"
    )
