"""Opening the server's journal: a damaged one is set aside and a fresh one started, and the user is told."""

from __future__ import annotations

import logging
from pathlib import Path

from runner.journal.faults import JournalDamaged
from runner.journal.salvage import set_aside, set_aside_notice
from runner.journal.store import Journal

log = logging.getLogger("jobdeck.journal")


def open_server_journal(path: Path) -> tuple[Journal, list[str]]:
    """The journal at `path`, and what clients must be told about how it was opened. A damaged journal is
    renamed aside (kept) and a fresh one made in its place; JournalError, with what to do, if the journal
    cannot be opened or written at all (a read-only folder, a full disk)."""
    try:
        return Journal.open(path, create_parent=True), []
    except JournalDamaged as damage:
        kept = set_aside(damage.path)
        notice = set_aside_notice(damage.path, kept, damage, while_running=False)
        log.warning("%s", notice)
        return Journal.open(path, create_parent=True), [notice]
