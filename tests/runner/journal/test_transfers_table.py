"""The journal's `transfers` table (schema version 5): what downloads keep to be resumed and asked `if_changed`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runner.journal.store import SCHEMA_VERSION, Journal
from runner.journal.transfers import JournalBook
from runner.kinds.transfer_book import PartRecord, SavedRecord, Validators


def test_a_version_4_journal_gains_the_table_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    Journal.open(db).close()
    connection = sqlite3.connect(db)
    connection.executescript(
        "DROP TABLE transfers; UPDATE schema_version SET version = 4;"
        "INSERT INTO decks VALUES ('d1', 'old', '/x/old.toml', 1.0, 7, NULL);"
    )
    connection.close()
    with Journal.open(db) as journal:
        assert [run.name for run in journal.history()] == ["old"]
    connection = sqlite3.connect(db)
    assert connection.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)] == [(5,)]
    assert connection.execute("SELECT count(*) FROM transfers").fetchall() == [(0,)]
    connection.close()


def test_a_book_keeps_its_records_across_connections_and_drops_a_path_once_empty(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    Journal.open(db).close()
    save = tmp_path / "out" / "big.bin"
    part = PartRecord("https://x.org/big", Validators('"e1"', "Tue, 01 Dec 2026 10:00:00 GMT"), 300, 120)
    saved = SavedRecord("https://x.org/big", Validators(None, "Tue, 01 Dec 2026 09:00:00 GMT"))
    first = JournalBook(db)
    first.keep_part(save, part)
    first.keep_saved(save, saved)
    first.close()
    second = JournalBook(db)  # as a restarted server reads them
    assert second.part(save) == part and second.saved(save) == saved
    second.drop_part(save)
    assert second.part(save) is None and second.saved(save) == saved
    second.drop_part(save)
    assert second.part(tmp_path / "other") is None
    connection = sqlite3.connect(db)
    assert connection.execute("SELECT count(*) FROM transfers").fetchall() == [(1,)]
    second.keep_part(save, part)
    second.drop_part(save)
    assert connection.execute("SELECT part IS NULL FROM transfers").fetchall() == [(1,)]
    connection.close()
    second.close()


def test_a_book_whose_journal_cannot_be_read_answers_nothing(tmp_path: Path) -> None:
    book = JournalBook(tmp_path / "missing-folder" / "journal.db")
    assert book.part(tmp_path / "x") is None
    book.keep_part(tmp_path / "x", PartRecord("u", Validators(), None, 0))  # logged, not raised
