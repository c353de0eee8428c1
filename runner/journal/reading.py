"""Reading a journal without writing to it: for `jobdeck history`, `export` and `wait`, with or without a server.

A reader opens the file read-only (SQLite's `mode=ro`), so it never migrates, checks by writing, or takes a lock
that a server writing the same journal would wait on: in WAL mode a reader sees the last committed transaction
and the writer goes on meanwhile. It never creates a journal either: a missing one is said so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from runner.journal.faults import JournalError

if TYPE_CHECKING:
    from runner.journal.store import DeckRun, Journal

BUSY_TIMEOUT_S = 5.0
SHORT_ID_CHARS = 8


def connect_read_only(path: Path, *, timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A read-only connection to the journal file at `path` (light: shell completion reads deck names with it);
    JournalError when there is no such file or SQLite cannot open it."""
    path = Path(path).expanduser()
    if not path.is_file():
        why = "it is not a file" if path.exists() else "it does not exist (nothing has been journaled there yet)"
        raise JournalError(f"cannot read the journal {path}: {why}")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None, timeout=timeout)
    except sqlite3.Error as error:
        raise JournalError(f"cannot read the journal {path}: {error}") from None


def open_read_only(path: Path) -> Journal:
    """The journal at `path`, opened for reading only; JournalError saying why when it cannot be read. Schema 3
    is read as it is (4 changed only an index); an older journal is brought up to date by the next server or
    `jobdeck run` that opens it."""
    from runner.journal.schema import SCHEMA_VERSION
    from runner.journal.store import Journal

    path = Path(path).expanduser()
    connection = connect_read_only(path)
    try:
        row = connection.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.Error as error:
        connection.close()
        raise JournalError(f"cannot read the journal {path}: {error}") from None
    version = None if row is None else row[0]
    if version not in (3, SCHEMA_VERSION):
        connection.close()
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        what = "a newer jobdeck" if newer else "an older jobdeck (a server or `jobdeck run` using it updates it)"
        raise JournalError(f"cannot read the journal {path}: it was written by {what}, schema {version}")
    return Journal(connection, path)


def find_run(journal: Journal, given: str) -> DeckRun | str:
    """The run `given` names: a run id, the start of one only one run's id begins with (at least 4 characters),
    or a deck name, meaning that deck's latest run. Otherwise why none is (a sentence naming the nearest)."""
    run = journal.run(given)
    if run is not None:
        return run
    rows = journal.connection.execute(
        "SELECT id FROM decks WHERE name = ? ORDER BY loaded_at DESC, rowid DESC LIMIT 1", (given,)
    ).fetchall()
    if rows:
        found = journal.run(rows[0][0])
        if found is not None:
            return found
    if len(given) >= 4 and all(char in "0123456789abcdef" for char in given):
        ids = [row[0] for row in journal.connection.execute("SELECT id FROM decks WHERE id LIKE ? || '%'", (given,))]
        if len(ids) == 1:
            found = journal.run(ids[0])
            if found is not None:
                return found
        if len(ids) > 1:
            listed = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
            return f"{given!r} is the start of {len(ids)} runs' ids ({listed}): give more of it"
    from runner.spelling import did_you_mean

    names = [row[0] for row in journal.connection.execute("SELECT DISTINCT name FROM decks")]
    hint = did_you_mean(given, names)
    return (
        f"no run {given!r} in the journal {journal.path}: give a run id from `jobdeck history`, or a deck's name "
        "(its latest run)" + (f"; {hint}" if hint else "")
    )


def short_run_ids(ids: Iterable[str]) -> dict[str, str]:
    """Each run id cut to SHORT_ID_CHARS, or longer where two of them would begin alike: what `jobdeck history`
    and the dashboard's history show, and `find_run` takes back."""
    listed = list(ids)
    length = SHORT_ID_CHARS
    while length < max(map(len, listed), default=0) and len({run_id[:length] for run_id in listed}) < len(listed):
        length += 2
    return {run_id: run_id[:length] for run_id in listed}
