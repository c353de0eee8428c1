"""The journal: every deck, job, attempt and change of state, recorded in SQLite so a killed jobdeck loses
nothing it had committed.

`Journal` owns the database and answers the questions asked of it (`--resume`, recovery after a crash,
history). `Recorder` (runner.journal.recorder) follows an engine and writes what it does in short transactions
on a worker thread, so the event loop never waits on the disk; `runner.journal.writes` holds the SQL it writes
with, `runner.journal.schema` the tables.

Durability: the database is in WAL mode with `synchronous=NORMAL`. A transaction is in the WAL file, that is
in the operating system's page cache, the moment COMMIT returns, so it survives the process being killed
(`kill -9`, a crash); only a power loss or an operating-system crash can lose the last transactions before a
checkpoint syncs them. That is what the journal promises ("once shown as succeeded, it survives kill -9 of the
server"), at a fraction of the cost of `synchronous=FULL`'s fsync per commit. What has been committed, and how
far it lags the engine, is for the Recorder to say (`Recorder.committed_revision`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.journal.pruning import JournalLimits, prune_runs
from runner.journal.schema import (
    ATTEMPT_FIELDS,
    CUT_SHORT_STATES,
    FINISHED_STATES,
    INTERRUPTED,
    SCHEMA_VERSION,
    UNFINISHED_SQL,
    deck_path_key,
    migrate,
)
from runner.journal.writes import Batch, encode, member_spec, spec_json, spec_value
from runner.model import JobState

__all__ = [
    "INTERRUPTED",
    "SCHEMA_VERSION",
    "Batch",
    "DeckRun",
    "Journal",
    "JournalError",
    "JournalJob",
    "spec_json",
    "spec_value",
]

INTERRUPTED_ERROR = "interrupted: jobdeck stopped"
QUEUED = JobState.QUEUED.value


class JournalError(Exception):
    """The journal cannot be opened or used; the message says which file and why."""


@dataclass(frozen=True)
class JournalJob:
    run_id: str
    deck: str
    path: str
    name: str
    state: str


@dataclass(frozen=True)
class DeckRun:
    """One run of a deck as the journal has it: a deck loaded once, with how many of its jobs are in each
    state (the engine's states, and INTERRUPTED)."""

    id: str
    name: str
    path: str
    loaded_at: float
    pid: int | None
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def unfinished(self) -> int:
        """Jobs not succeeded, failed, cancelled or skipped: work still to do (or that was cut short)."""
        return sum(count for state, count in self.counts.items() if state not in FINISHED_STATES)


_INTERRUPTED_ERROR_SQL = (
    f"CASE WHEN state = '{JobState.RETRYING.value}' AND error IS NOT NULL "
    f"THEN '{INTERRUPTED_ERROR} while it waited to retry (last attempt: ' || error || ')' "
    f"ELSE '{INTERRUPTED_ERROR}' END"
)
_CUT_SHORT = f"{UNFINISHED_SQL} AND state IN ({', '.join(repr(state) for state in CUT_SHORT_STATES)})"
"""Jobs left running, paused or retrying (found through the index of unfinished jobs)."""
_RUN_COLUMNS = "runs.id, runs.name, runs.path, runs.loaded_at, runs.pid"


class Journal:
    """One SQLite database of decks, jobs, attempts and state changes. Use `Journal.open(path)`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str | Path, *, create_parent: bool = False) -> Journal:
        """Open (creating if needed) the journal at `path`; JournalError with a clear reason if it cannot be.
        A journal of an older schema is brought up to date; one of a newer jobdeck is refused."""
        path = Path(path).expanduser()
        try:
            if create_parent:
                path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                raise JournalError(f"cannot open the journal {path}: it is a directory")
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        except OSError as error:
            raise JournalError(f"cannot open the journal {path}: {error.strerror or error}") from None
        except sqlite3.Error as error:
            raise JournalError(f"cannot open the journal {path}: {error}") from None
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # see the module docstring
            connection.execute("PRAGMA foreign_keys=OFF")
            migrate(connection)
        except sqlite3.Error as error:
            connection.close()
            raise JournalError(f"cannot open the journal {path}: {error}") from None
        return cls(connection, path)

    def close(self) -> None:
        with self._lock:
            self.connection.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- writing (called on a worker thread by the Recorder) ------------------------------------------

    def write(self, batch: Batch) -> None:
        """Write one batch in one transaction."""
        self.write_statements(encode(batch))

    def write_statements(self, statements: list[tuple[str, Any]]) -> None:
        """Run already encoded statements (see `journal_writes.encode`) in one transaction."""
        with self._lock:
            connection = self.connection
            connection.execute("BEGIN")
            try:
                for sql, parameters in statements:
                    connection.execute(sql, parameters)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    # --- recovery -------------------------------------------------------------------------------------------

    def _query(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.connection.execute(sql, tuple(parameters)).fetchall()

    def latest_run(self, path: str | Path) -> str | None:
        """The journal id of the last run of the deck at this (resolved) path, or None."""
        rows = self._query(
            "SELECT id FROM decks WHERE path = ? ORDER BY loaded_at DESC, rowid DESC LIMIT 1", (deck_path_key(path),)
        )
        return rows[0][0] if rows else None

    def succeeded_jobs(self, path: str | Path) -> set[str]:
        """Names of the jobs that succeeded in the latest run of the deck at this path (counting the jobs
        that run carried over, already succeeded, from the run it resumed)."""
        run_id = self.latest_run(path)
        if run_id is None:
            return set()
        rows = self._query("SELECT name FROM jobs WHERE deck_id = ? AND state = ?", (run_id, JobState.SUCCEEDED.value))
        return {name for (name,) in rows}

    def interrupted(self) -> list[JournalJob]:
        """Jobs the journal shows running, paused or waiting to retry: after a crash, the ones whose work was
        cut short. (Call it only when no jobdeck is writing to this journal, or it lists that one's jobs too.)"""
        rows = self._query(
            "SELECT jobs.deck_id, decks.name, decks.path, jobs.name, jobs.state FROM jobs "
            f"JOIN decks ON decks.id = jobs.deck_id WHERE {_CUT_SHORT} ORDER BY decks.loaded_at, jobs.name",
        )
        return [JournalJob(*row) for row in rows]

    def mark_interrupted(self) -> int:
        """Mark every job left running, paused or waiting to retry as INTERRUPTED (and close its open attempt
        as interrupted); returns how many. Their work is to be done again: a restarted server queues them anew
        (at-least-once). A job that was waiting to retry keeps its last attempt's error in its own. Queued jobs
        stay queued; finished ones stay finished."""
        now = time.time()
        with self._lock:
            connection = self.connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(
                    "INSERT INTO change_batches (changes) SELECT json_group_array(json_array(id, state, ?, attempts, "
                    f"{_INTERRUPTED_ERROR_SQL}, ?)) FROM (SELECT * FROM jobs WHERE {_CUT_SHORT} "
                    "ORDER BY deck_id, name) "
                    "HAVING count(*) > 0",
                    (INTERRUPTED, now),
                )
                connection.execute(
                    "UPDATE jobs SET attempt_list = json_replace(attempt_list, '$[#-1][2]', ?, '$[#-1][3]', ?, "
                    f"'$[#-1][4]', ?) WHERE {_CUT_SHORT} AND attempt_list ->> '$[#-1][0]' IS NOT NULL "
                    "AND attempt_list ->> '$[#-1][2]' IS NULL",
                    (now, INTERRUPTED, INTERRUPTED_ERROR),
                )
                marked = connection.execute(
                    f"UPDATE jobs SET state = ?, error = {_INTERRUPTED_ERROR_SQL}, updated_at = ? WHERE {_CUT_SHORT}",
                    (INTERRUPTED, now),
                ).rowcount
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return marked

    # --- history ----------------------------------------------------------------------------------------------

    def _runs(self, chosen: str, parameters: Iterable[Any], order: str) -> list[DeckRun]:
        """The runs `chosen` (a SELECT of decks rows, with their rowid as `seq`) with their jobs counted by
        state, in one query."""
        rows = self._query(
            f"WITH runs AS ({chosen}) SELECT {_RUN_COLUMNS}, runs.job_count, jobs.state, count(jobs.state) "
            f"FROM runs LEFT JOIN jobs ON jobs.deck_id = runs.id GROUP BY runs.seq, jobs.state ORDER BY {order}",
            parameters,
        )
        runs: dict[str, DeckRun] = {}
        for deck_id, name, path, loaded_at, pid, job_count, state, count in rows:
            run = runs.get(deck_id)
            if run is None:
                run = runs[deck_id] = DeckRun(deck_id, name, path, loaded_at, pid, {})
                run.counts[QUEUED] = job_count or 0  # those without a row yet; the others are taken off below
            if state is not None:
                run.counts[state] = run.counts.get(state, 0) + count
                if job_count is not None:
                    run.counts[QUEUED] -= count
        for run in runs.values():
            if run.counts[QUEUED] <= 0:
                del run.counts[QUEUED]
        return list(runs.values())

    def history(self, limit: int = 200) -> list[DeckRun]:
        """The last `limit` runs, newest first."""
        return self._runs(
            "SELECT rowid AS seq, * FROM decks ORDER BY loaded_at DESC, rowid DESC LIMIT ?",
            (limit,),
            "runs.loaded_at DESC, runs.seq DESC",
        )

    def unfinished_runs(self) -> list[DeckRun]:
        """Runs with a job queued, running, paused, retrying or interrupted, oldest first: after
        `mark_interrupted`, the runs a restarted server has to restore. (Runs a live jobdeck is writing to this
        journal are among them too.)"""
        return self._runs(
            f"SELECT rowid AS seq, * FROM decks WHERE id IN (SELECT deck_id FROM jobs WHERE {UNFINISHED_SQL}) "
            "OR job_count > (SELECT count(*) FROM jobs WHERE jobs.deck_id = decks.id)",
            (),
            "runs.loaded_at, runs.seq",
        )

    def run(self, run_id: str) -> DeckRun | None:
        """One run, by its journal id."""
        runs = self._runs("SELECT rowid AS seq, * FROM decks WHERE id = ?", (run_id,), "runs.seq")
        return runs[0] if runs else None

    def jobs(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Every job row of one deck run, by name (spec, result and output tail decoded), with its attempts as
        `attempt_list`: dicts of ATTEMPT_FIELDS (number, started_at, ended_at, outcome, error, worker), oldest
        first; an outcome is an engine state's value, or INTERRUPTED for an attempt a dead jobdeck left open."""
        with self._lock:
            cursor = self.connection.execute("SELECT * FROM jobs WHERE deck_id = ?", (run_id,))
            columns = [column[0] for column in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            group_rows = self.connection.execute(
                "SELECT grp, spec, kind, members, decks.loaded_at FROM group_specs "
                "JOIN decks ON decks.id = group_specs.deck_id WHERE deck_id = ?",
                (run_id,),
            ).fetchall()
        groups = {group: json.loads(spec) for group, spec, *_ in group_rows}
        for row in rows:
            for key in ("spec", "result", "output_tail"):
                if row[key] is not None:
                    row[key] = json.loads(row[key])
            row["attempt_list"] = [
                dict(zip(ATTEMPT_FIELDS, attempt, strict=True)) for attempt in json.loads(row["attempt_list"])
            ]
            spec = row["spec"]
            if "summary" not in spec and spec.get("group") in groups:
                row["spec"] = member_spec(groups[spec["group"]], spec.get("item"))
        jobs = {row["name"]: row for row in rows}
        for group, _, kind, members, loaded_at in group_rows:
            for name, item in json.loads(members or "[]"):
                if name not in jobs:
                    jobs[name] = _unwritten_member(run_id, name, kind, groups[group], item, loaded_at)
        return jobs


def _unwritten_member(
    deck_id: str, name: str, kind: str, group: dict[str, Any], item: Any, loaded_at: float
) -> dict[str, Any]:
    """The row of a big fan-out's member that has not changed since its run was loaded: queued."""
    return {
        "id": None,
        "deck_id": deck_id,
        "name": name,
        "kind": kind,
        "spec": member_spec(group, item),
        "state": QUEUED,
        "attempts": 0,
        "attempt_list": [],
        "error": None,
        "result": None,
        "output_tail": None,
        "updated_at": loaded_at,
        "carried_over": 0,
    }


def prune(journal: Journal, limits: JournalLimits, keep: Collection[str]) -> list[str]:
    """Delete the runs over the journal's limits, except those in `keep` (runner.journal.pruning); returns their
    ids. Call it on a worker thread: it writes."""
    return prune_runs(journal.connection, journal._lock, limits, keep)
