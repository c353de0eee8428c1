"""The journal's TransferBook: each download's records (runner.kinds.transfer_book) in the `transfers` table.

It has a connection of its own to the journal's file, used on worker threads a call at a time: the Recorder's
writes and these take turns through SQLite's lock (WAL mode, so readers never wait). A record that cannot be
read or written is left out (logged once): the download then starts from the first byte, as without a book.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from runner.kinds.transfer_book import PartRecord, SavedRecord

log = logging.getLogger("jobdeck.journal")
BUSY_TIMEOUT_S = 10.0


class JournalBook:
    def __init__(self, journal_path: Path) -> None:
        self.path = Path(journal_path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._failed = False

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def part(self, save: Path) -> PartRecord | None:
        value = self._read(save, "part")
        return None if value is None else PartRecord.from_json(value)

    def keep_part(self, save: Path, record: PartRecord) -> None:
        self._write(save, "part", record.to_json())

    def drop_part(self, save: Path) -> None:
        self._write(save, "part", None)

    def saved(self, save: Path) -> SavedRecord | None:
        value = self._read(save, "saved")
        return None if value is None else SavedRecord.from_json(value)

    def keep_saved(self, save: Path, record: SavedRecord) -> None:
        self._write(save, "saved", record.to_json())

    def _read(self, save: Path, column: str) -> dict[str, Any] | None:
        try:
            with self._lock:
                row = self._connect().execute(f"SELECT {column} FROM transfers WHERE save = ?", (str(save),)).fetchone()
            value = None if row is None or row[0] is None else json.loads(row[0])
        except (sqlite3.Error, ValueError) as error:
            self._report(error)
            return None
        return value if isinstance(value, dict) else None

    def _write(self, save: Path, column: str, value: dict[str, Any] | None) -> None:
        text = None if value is None else json.dumps(value)
        try:
            with self._lock:
                connection = self._connect()
                if text is None:
                    # Nothing left to keep of a path: its row goes when both records are gone.
                    connection.execute(
                        f"UPDATE transfers SET {column} = NULL, updated_at = ? WHERE save = ?", (time.time(), str(save))
                    )
                    connection.execute(
                        "DELETE FROM transfers WHERE save = ? AND part IS NULL AND saved IS NULL", (str(save),)
                    )
                else:
                    connection.execute(
                        f"INSERT INTO transfers (save, {column}, updated_at) VALUES (?, ?, ?) ON CONFLICT (save) "
                        f"DO UPDATE SET {column} = excluded.{column}, updated_at = excluded.updated_at",
                        (str(save), text, time.time()),
                    )
        except sqlite3.Error as error:
            self._report(error)

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # Autocommit: each statement is its own short transaction. The table exists: the journal was opened
            # (and brought up to date) before any book of it.
            self._connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
            )
        return self._connection

    def _report(self, error: Exception) -> None:
        if not self._failed:
            self._failed = True
            log.warning("downloads cannot be resumed from the journal %s: %s", self.path, error)
