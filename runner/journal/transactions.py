"""One SQLite transaction of the journal: begun, committed, or rolled back without hiding why it failed."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator


@contextlib.contextmanager
def transaction(connection: sqlite3.Connection, begin: str = "BEGIN") -> Iterator[sqlite3.Connection]:
    """Run the block's statements in one transaction (`begin`: "BEGIN" or "BEGIN IMMEDIATE")."""
    connection.execute(begin)
    try:
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        roll_back(connection)
        raise


def roll_back(connection: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already (it does on a full disk and some I/O errors);
    never hides the error that led here."""
    if connection.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
