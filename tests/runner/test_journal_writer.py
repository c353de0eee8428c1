"""The journal's writer process: transactions run there, errors come back, and it never outlives the journal."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from runner.journal import Journal, JournalError

INSERT_DECK = "INSERT INTO decks (id, name, path, loaded_at, pid, job_count) VALUES (?, ?, ?, ?, ?, ?)"


def deck_names(db: Path) -> list[str]:
    connection = sqlite3.connect(db)
    try:
        return [name for (name,) in connection.execute("SELECT name FROM decks ORDER BY name")]
    finally:
        connection.close()


def test_writes_run_in_an_idle_priority_process_of_its_own_session(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    with Journal.open(db) as journal:
        assert journal._writer is None, "a journal only read starts no writer"
        journal.write_statements([(INSERT_DECK, ("a", "first", "/x", 1.0, 1, 0))])
        assert deck_names(db) == ["first"], "committed once write_statements returns"
        writer = journal._writer
        assert writer is not None
        pid = writer.process.pid
        assert os.getsid(pid) != os.getsid(0), "no terminal's Ctrl-C or hang-up reaches it"
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
    assert writer.process.returncode == 0, "closing the journal ends the writer"


def test_a_failed_transaction_is_rolled_back_and_the_writer_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    with Journal.open(db) as journal:
        with pytest.raises(sqlite3.OperationalError, match="no such table: nowhere"):
            journal.write_statements([(INSERT_DECK, ("a", "gone", "/x", 1.0, 1, 0)), ("DELETE FROM nowhere", ())])
        journal.write_statements([(INSERT_DECK, ("b", "kept", "/x", 1.0, 1, 0))])
    assert deck_names(db) == ["kept"]


def test_a_writer_that_was_killed_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    with Journal.open(db) as journal:
        journal.write_statements([(INSERT_DECK, ("a", "first", "/x", 1.0, 1, 0))])
        assert journal._writer is not None
        os.kill(journal._writer.process.pid, signal.SIGKILL)
        journal._writer.process.wait()
        with pytest.raises(JournalError, match=r"cannot write the journal .*journal\.db: the journal writer has gone"):
            journal.write_statements([(INSERT_DECK, ("b", "second", "/x", 1.0, 1, 0))])
    assert deck_names(db) == ["first"]
