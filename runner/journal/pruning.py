"""Keeping the journal within an age and a size: the oldest finished runs are deleted, with their jobs and the
state changes nobody else refers to.

A run is pruned when its last change is older than the age limit, or, oldest first, while the journal's pages in
use exceed the size limit. Runs named in `keep` (the decks a live engine still holds) are never pruned, and a run
with unfinished jobs (work a restarted server would take up again) only by age. SQLite reuses the freed pages:
the file stops growing but does not shrink.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass

from runner.journal.schema import UNFINISHED_SQL
from runner.journal.transactions import transaction

DAY_S = 24 * 3600.0


@dataclass(frozen=True)
class JournalLimits:
    """How much history the journal keeps; None: no limit of that kind."""

    max_age_s: float | None = 90 * DAY_S
    max_bytes: int | None = 1024**3


_RUNS_OLDEST_FIRST = (
    "SELECT id, COALESCE((SELECT max(updated_at) FROM jobs WHERE jobs.deck_id = decks.id), loaded_at) AS last, "
    f"EXISTS (SELECT 1 FROM jobs WHERE jobs.deck_id = decks.id AND {UNFINISHED_SQL}) "
    "OR job_count > (SELECT count(*) FROM jobs WHERE jobs.deck_id = decks.id) "
    "FROM decks ORDER BY last, rowid"
)
_DELETE_RUN = (
    "DELETE FROM jobs WHERE deck_id = ?",
    "DELETE FROM group_specs WHERE deck_id = ?",
    "DELETE FROM deck_names WHERE deck_id = ?",
    "DELETE FROM decks WHERE id = ?",
)


def used_bytes(connection: sqlite3.Connection) -> int:
    """The bytes of the journal's pages in use (the file keeps freed pages for reuse)."""
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    free = connection.execute("PRAGMA freelist_count").fetchone()[0]
    size: int = (pages - free) * connection.execute("PRAGMA page_size").fetchone()[0]
    return size


def prune_runs(
    connection: sqlite3.Connection,
    lock: threading.Lock,
    limits: JournalLimits,
    keep: Collection[str],
    *,
    now: float | None = None,
) -> list[str]:
    """Delete the runs over the limits, oldest first, each with its state changes, a short transaction at a time
    (the recorder's writes go on in between); returns their ids."""
    now = time.time() if now is None else now
    with lock:
        runs = connection.execute(_RUNS_OLDEST_FIRST).fetchall()
    pruned: list[str] = []
    for run_id, last, unfinished in runs:
        if run_id in keep:
            continue
        too_old = limits.max_age_s is not None and last < now - limits.max_age_s
        if not too_old:
            if unfinished or limits.max_bytes is None:
                continue
            with lock:
                if used_bytes(connection) <= limits.max_bytes:
                    break  # the rest are newer: kept
        _delete_run(connection, lock, run_id, last)
        pruned.append(run_id)
    if pruned:
        with lock:
            _in_transaction(
                connection,
                [("DELETE FROM attempt_offsets WHERE recording NOT IN (SELECT recording FROM deck_names)", ())],
            )
    return pruned


_KEPT_CHANGES = (
    "UPDATE change_batches SET changes = (SELECT json_group_array(json(c.value)) FROM json_each(changes) AS c "
    "WHERE CASE WHEN change_batches.recording IS NULL "
    "THEN EXISTS (SELECT 1 FROM jobs WHERE jobs.id = c.value ->> 0) "
    "ELSE EXISTS (SELECT 1 FROM deck_names AS d WHERE d.recording = change_batches.recording "
    "AND substr(c.value ->> 0, 1, length(d.engine_name) + 1) = d.engine_name || '/') END) "
    "WHERE id BETWEEN ? AND ?"
)
BATCHES_PER_STEP = 500
"""Change batches rewritten per transaction: the recorder's writes wait only that long."""
CHANGE_TIME_MARGIN_S = 60.0
"""A run's changes are looked for this much before its load and after its last row update: a deck's first
changes are made before the recorder notices the deck, its last row is written after its last change."""


def _delete_run(connection: sqlite3.Connection, lock: threading.Lock, run_id: str, last: float) -> None:
    """Delete one run's rows, then take its changes out of the change batches of its time (dropping the batches
    left empty), a step of batches at a time."""
    with lock:
        loaded_at = connection.execute("SELECT loaded_at FROM decks WHERE id = ?", (run_id,)).fetchone()[0]
        _in_transaction(connection, [(sql, (run_id,)) for sql in _DELETE_RUN])
        first = _first_batch_ending_after(connection, loaded_at - CHANGE_TIME_MARGIN_S)
        after = _first_batch_ending_after(connection, last + CHANGE_TIME_MARGIN_S)
        if after is None:
            after = connection.execute("SELECT max(id) + 1 FROM change_batches").fetchone()[0]
    if first is None or after is None:
        return
    for low in range(first, after + 1, BATCHES_PER_STEP):
        high = min(low + BATCHES_PER_STEP - 1, after)
        with lock:
            _in_transaction(
                connection,
                [
                    (_KEPT_CHANGES, (low, high)),
                    ("DELETE FROM change_batches WHERE id BETWEEN ? AND ? AND changes = '[]'", (low, high)),
                ],
            )


def _first_batch_ending_after(connection: sqlite3.Connection, moment: float) -> int | None:
    """The id of the first change batch whose last change is at or after `moment` (batches are written in time
    order), found by bisecting the ids; None when there is none."""
    bounds = connection.execute("SELECT min(id), max(id) FROM change_batches").fetchone()
    if bounds[0] is None:
        return None
    low, high = bounds
    found: int | None = None
    while low <= high:
        middle = (low + high) // 2
        row = connection.execute(
            "SELECT id, changes ->> '$[#-1][5]' FROM change_batches WHERE id >= ? ORDER BY id LIMIT 1", (middle,)
        ).fetchone()
        if row is None:
            high = middle - 1
        elif row[1] is not None and row[1] >= moment:
            found, high = row[0], middle - 1
        else:
            low = row[0] + 1
    return found


def _in_transaction(connection: sqlite3.Connection, statements: list[tuple[str, tuple[object, ...]]]) -> None:
    with transaction(connection, "BEGIN IMMEDIATE"):
        for sql, parameters in statements:
            connection.execute(sql, parameters)
