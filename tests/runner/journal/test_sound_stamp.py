"""A journal closed cleanly by its last connection opens next time without SQLite reading it whole; one changed
since, left with its write-ahead log, or only read, is checked as before, and damage is still found."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.journal import store
from runner.journal.faults import JournalDamaged
from runner.journal.reading import open_read_only
from runner.journal.store import Journal


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many integrity checks the journal's openings have run so far."""
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*arguments: object, **keywords: object) -> sqlite3.Connection:
        connection = connect(*arguments, **keywords)  # type: ignore[arg-type]
        connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(store.sqlite3, "connect", traced)
    return lambda: sum("quick_check" in statement for statement in statements)


def test_a_journal_closed_cleanly_opens_without_a_check(tmp_path: Path, checks: Callable[[], int]) -> None:
    path = tmp_path / "journal.db"
    Journal.open(path).close()
    assert checks() == 1
    Journal.open(path).close()
    Journal.open(path).close()
    assert checks() == 1


def test_a_journal_changed_since_it_was_closed_is_checked_and_its_damage_found(
    tmp_path: Path, checks: Callable[[], int]
) -> None:
    path = tmp_path / "journal.db"
    Journal.open(path).close()
    with path.open("r+b") as file:  # a page in the middle of the file, overwritten
        file.seek(path.stat().st_size // 2)
        file.write(b"\xff" * 512)
    with pytest.raises(JournalDamaged):
        Journal.open(path)
    assert checks() == 2


def test_a_journal_another_connection_holds_is_checked(tmp_path: Path, checks: Callable[[], int]) -> None:
    path = tmp_path / "journal.db"
    Journal.open(path).close()
    with Journal.open(path) as first:
        first.connection.execute("UPDATE schema_version SET version = version")  # its log exists now
        Journal.open(path).close()
    assert checks() == 2


def test_a_reader_that_never_checked_the_file_does_not_stamp_it(tmp_path: Path, checks: Callable[[], int]) -> None:
    path = tmp_path / "journal.db"
    Journal.open(path).close()
    path.with_name("journal.db.sound").unlink()
    open_read_only(path).close()
    assert not path.with_name("journal.db.sound").exists()
    Journal.open(path).close()
    assert checks() == 2
