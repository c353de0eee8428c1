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

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.journal.faults import JournalDamaged, JournalError, cannot_use_message, is_damage, is_write_failure
from runner.journal.pruning import JournalLimits, prune_runs
from runner.journal.salvage import emptied_with_a_log, set_aside
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
from runner.journal.sound_stamp import known_sound, remember_sound
from runner.journal.starts import UnrecordedStart
from runner.journal.transactions import roll_back, transaction
from runner.journal.writes import Batch, encode, json_text, member_spec, spec_json, spec_value
from runner.model import JobState

__all__ = [
    "INTERRUPTED",
    "SCHEMA_VERSION",
    "Batch",
    "DeckRun",
    "Journal",
    "JournalDamaged",
    "JournalError",
    "JournalJob",
    "spec_json",
    "spec_value",
]

INTERRUPTED_ERROR = "interrupted: jobdeck stopped"
CUT_SHORT_ATTEMPT = (
    "interrupted while running: the jobdeck server ended (a signal, a crash, kill -9) before its end was recorded"
)
"""The error of an attempt the journal shows running when a server starts: it ran when the last one died."""
UNRECORDED_ATTEMPT = (
    "started just before the jobdeck server ended (a signal, a crash, kill -9), which recorded neither its start "
    "nor its end"
)
"""The error of an attempt the journal lacked, known only from the starts a killed server noted beside it."""
QUEUED = JobState.QUEUED.value


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

    def __init__(self, connection: sqlite3.Connection, path: Path, *, checked: bool = False) -> None:
        """`checked`: the file was found sound when this connection opened it (Journal.open), so it may be
        stamped sound when this, its last connection, closes (runner.journal.sound_stamp)."""
        self.connection = connection
        self.path = path
        self._checked = checked
        self._lock = threading.Lock()
        self._identity = _file_identity(path)
        """The file opened (device, inode): another one at the path means ours was replaced or removed."""

    @classmethod
    def open(cls, path: str | Path, *, create_parent: bool = False) -> Journal:
        """Open (creating if needed) the journal at `path`; JournalError with a clear reason if it cannot be, and
        JournalDamaged (a JournalError) if its file is damaged (see runner.journal.salvage). A journal of an older
        schema is brought up to date; one of a newer jobdeck is refused."""
        path = Path(path).expanduser()
        try:
            if create_parent:
                path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                raise JournalError(f"cannot open the journal {path}: it is a directory")
        except OSError as error:
            raise JournalError(f"cannot open the journal {path}: {error.strerror or error}") from None
        return cls(_connect(path), path, checked=True)

    def close(self) -> None:
        with self._lock:
            self.connection.close()
            if self._checked:
                remember_sound(self.path)

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
            self._check_file()
            with transaction(connection):
                for sql, parameters in statements:
                    connection.execute(sql, parameters)

    def _check_file(self) -> None:
        """JournalDamaged if the file this journal writes to was emptied, replaced or removed since it was
        opened: committing would then only feed a log that SQLite drops at the next open."""
        try:
            info = os.stat(self.path)
        except OSError:
            raise JournalDamaged(self.path, "it was removed while in use") from None
        if (info.st_dev, info.st_ino) != self._identity:
            raise JournalDamaged(self.path, "it was replaced by another file while in use")
        if info.st_size == 0:  # SQLite wrote its first page when the journal was made
            raise JournalDamaged(self.path, "it was emptied while in use")

    def start_afresh(self) -> Path:
        """Set the damaged journal's files aside and go on in a fresh, empty journal at the same path; returns
        where the damaged one was kept. JournalError if the fresh one cannot be made."""
        with self._lock:
            kept = set_aside(self.path)  # renamed first: closing may write to the open files, never to new ones
            with contextlib.suppress(sqlite3.Error):
                self.connection.close()
            self.connection = _connect(self.path)
            self._identity = _file_identity(self.path)
        return kept

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
                    (now, INTERRUPTED, CUT_SHORT_ATTEMPT),
                )
                marked = connection.execute(
                    f"UPDATE jobs SET state = ?, error = {_INTERRUPTED_ERROR_SQL}, updated_at = ? WHERE {_CUT_SHORT}",
                    (INTERRUPTED, now),
                ).rowcount
                connection.execute("COMMIT")
            except BaseException:
                roll_back(connection)
                raise
        return marked

    def record_unrecorded_starts(self, starts: Iterable[UnrecordedStart]) -> int:
        """Record, as interrupted attempts, the starts a killed server noted (runner.journal.starts) that its
        journal lacks: jobs it shows unfinished with fewer attempts. A big fan-out's member without a row gets
        one. Returns how many jobs were given an attempt. Call it after `mark_interrupted`."""
        entries = json_text([list(start) for start in starts])
        if entries == "[]":
            return 0
        now = time.time()
        with self._lock:
            connection = self.connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(
                    "INSERT INTO jobs (deck_id, name, kind, spec, state, updated_at) SELECT g.deck_id, m.value ->> 0, "
                    "COALESCE(g.kind, ''), json_object('group', g.grp, 'item', json(m.value -> 1)), ?1, ?2 "
                    "FROM group_specs AS g CROSS JOIN json_each(g.members) AS m "
                    "WHERE g.deck_id IN (SELECT value ->> 0 FROM json_each(?3)) "
                    "AND (g.deck_id, m.value ->> 0) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?3)) "
                    "ON CONFLICT (deck_id, name) DO NOTHING",
                    (QUEUED, now, entries),
                )
                given = connection.execute(
                    "UPDATE jobs SET attempts = e.number, state = ?, error = ?, updated_at = ?, "
                    "attempt_list = json_insert(attempt_list, '$[#]', json_array(e.number, e.at, e.at, ?, ?, NULL)) "
                    "FROM (SELECT value ->> 0 AS deck_id, value ->> 1 AS name, max(value ->> 2) AS number, "
                    "max(value ->> 3) AS at FROM json_each(?) GROUP BY 1, 2) AS e "
                    "WHERE jobs.deck_id = e.deck_id AND jobs.name = e.name AND jobs.attempts < e.number "
                    f"AND {UNFINISHED_SQL}",
                    (INTERRUPTED, INTERRUPTED_ERROR, now, INTERRUPTED, UNRECORDED_ATTEMPT, entries),
                ).rowcount
                connection.execute("COMMIT")
            except BaseException:
                roll_back(connection)
                raise
        return given

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

    def run_ids(self) -> set[str]:
        """The id of every run the journal has."""
        return {run_id for (run_id,) in self._query("SELECT id FROM decks")}

    def latest_job(self, name: str, deck: str | None = None) -> PastJobRow | None:
        """The job `name` of the newest run that has a row for it; with `deck`, of the newest run an engine
        called so (`nightly#2`), else of the newest run of a deck of that name. For reading its logs."""
        # Runs newest first (by their time index), each looked up by (run, name): the first hit ends the query.
        sql = (
            "SELECT decks.id, decks.name, jobs.state, jobs.attempt_list, jobs.output_tail FROM decks "
            "CROSS JOIN jobs ON jobs.deck_id = decks.id AND jobs.name = ?{} "
            "ORDER BY decks.loaded_at DESC, decks.rowid DESC LIMIT 1"
        )
        if deck is None:
            rows = self._query(sql.format(""), (name,))
        else:
            by_engine_name = " WHERE decks.id IN (SELECT deck_id FROM deck_names WHERE engine_name = ?)"
            rows = self._query(sql.format(by_engine_name), (name, deck))
            rows = rows or self._query(sql.format(" WHERE decks.name = ?"), (name, deck))
        if not rows:
            return None
        run_id, deck_name, state, attempt_list, tail = rows[0]
        attempts = [dict(zip(ATTEMPT_FIELDS, attempt, strict=True)) for attempt in json.loads(attempt_list)]
        return PastJobRow(run_id, deck_name, name, state, attempts, json.loads(tail) if tail else [])


@dataclass(frozen=True)
class PastJobRow:
    """One job of a run as the journal last recorded it, with what its logs need: its attempts (dicts of
    ATTEMPT_FIELDS, oldest first) and the last lines of output the journal keeps ([stream, text] pairs)."""

    run_id: str
    deck: str
    name: str
    state: str
    attempts: list[dict[str, Any]]
    tail: list[list[str]]


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to the journal at `path`, its tables up to date, checked sound and writable."""
    if emptied_with_a_log(path):
        raise JournalDamaged(path, "it is empty but its write-ahead log is not: it was emptied while in use")
    try:
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
    except sqlite3.Error as error:
        raise JournalError(f"cannot open the journal {path}: {error}") from None
    try:
        if not known_sound(path):  # unchanged since it was last closed cleanly (runner.journal.sound_stamp)
            problems = [row[0] for row in connection.execute("PRAGMA quick_check(3)")]  # before anything is written
            if problems != ["ok"]:
                raise JournalDamaged(path, f"it failed its integrity check: {'; '.join(problems)}")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # see the module docstring
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute("PRAGMA temp_store=MEMORY")  # the writer's temporary map must not need the disk
        migrate(connection)
        # A journal that cannot be written is found now, not at the first change of a job.
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("UPDATE schema_version SET version = version")
        connection.execute("COMMIT")
    except JournalDamaged:
        connection.close()
        raise
    except sqlite3.Error as error:
        roll_back(connection)
        connection.close()
        if is_damage(error):
            raise JournalDamaged(path, str(error)) from None
        if is_write_failure(error):
            raise JournalError(cannot_use_message(path, error)) from None
        raise JournalError(f"cannot open the journal {path}: {error}") from None
    return connection


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


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
