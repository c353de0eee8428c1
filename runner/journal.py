"""The journal: every deck, job, attempt and change of state, recorded in SQLite so a killed jobdeck loses
nothing it had reported.

`Journal` owns the database (WAL). `Recorder` follows an engine's events, keeps the rows to write in
memory, and writes them in short transactions on a worker thread (every FLUSH_INTERVAL_S), so the event
loop never waits on the disk. Queries for `--resume` and for
recovery after a crash live on `Journal`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.to_thread

from runner.model import Deck, JobSpec, JobState
from runner.redaction import spec_summary
from runner.report import json_safe

SCHEMA_VERSION = 1
DB_VARIABLE = "JOBDECK_DB"
DB_FILE_NAME = "journal.db"
FLUSH_INTERVAL_S = 0.05
"""A change of state is committed at most this long (plus one transaction) after the engine made it."""
OUTPUT_TAIL_LINES = 200
FINAL_FLUSH_TIMEOUT_S = 10.0
INTERRUPTED = "interrupted"
"""The journal's state for a job left running or paused by a jobdeck that died: not an engine JobState."""
UNFINISHED_STATES = (JobState.RUNNING.value, JobState.PAUSED.value)

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS decks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    loaded_at REAL NOT NULL,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS decks_by_path ON decks (path, loaded_at);
CREATE TABLE IF NOT EXISTS jobs (
    deck_id TEXT NOT NULL REFERENCES decks (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    result TEXT,
    output_tail TEXT,
    updated_at REAL NOT NULL,
    carried_over INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (deck_id, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS attempts (
    deck_id TEXT NOT NULL,
    job TEXT NOT NULL,
    number INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    outcome TEXT,
    error TEXT,
    PRIMARY KEY (deck_id, job, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state_changes (
    deck_id TEXT NOT NULL,
    job TEXT NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    error TEXT,
    at REAL NOT NULL
);
"""


class JournalError(Exception):
    """The journal cannot be opened or used; the message says which file and why."""


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """`JOBDECK_DB` if set, else journal.db in the user's state directory."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(DB_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    from platformdirs import user_state_dir

    return Path(user_state_dir("jobdeck")) / DB_FILE_NAME


@dataclass(frozen=True)
class JournalJob:
    deck_id: str
    deck: str
    path: str
    name: str
    state: str


class Journal:
    """One SQLite database of decks, jobs, attempts and state changes. Use `Journal.open(path)`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str | Path, *, create_parent: bool = False) -> Journal:
        """Open (creating if needed) the journal at `path`; JournalError with a clear reason if it cannot be."""
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
            # With WAL, synchronous=NORMAL syncs only at checkpoints, not at every commit. A committed
            # transaction is in the WAL file, i.e. in the operating system's page cache, the moment COMMIT
            # returns, so it survives the process being killed (kill -9, a crash): only a power loss or an OS
            # crash can lose the last transactions. That is the durability the journal promises ("what was
            # shown survives kill -9") at a fraction of the cost of FULL's fsync per commit.
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=OFF")
            cls._migrate(connection)
        except sqlite3.Error as error:
            connection.close()
            raise JournalError(f"cannot open the journal {path}: {error}") from None
        return cls(connection, path)

    @staticmethod
    def _migrate(connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            row = connection.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f"written by a newer jobdeck (schema {row[0]}; this one knows {SCHEMA_VERSION})"
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self.connection.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- writing (called on a worker thread by the Recorder) ------------------------------------------

    def write(self, batch: Batch) -> None:
        """Write one batch in one transaction (`encode` then `write_statements`)."""
        self.write_statements(encode(batch))

    def write_statements(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Run already encoded statements (see `encode`) in one transaction. Little Python runs here, so it
        suits a worker thread: SQLite does the work with the GIL released."""
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

    # --- queries -----------------------------------------------------------------------------------------

    def _query(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.connection.execute(sql, tuple(parameters)).fetchall()

    def latest_deck(self, path: str | Path) -> str | None:
        """The journal id of the last run of the deck at this (resolved) path, or None."""
        rows = self._query(
            "SELECT id FROM decks WHERE path = ? ORDER BY loaded_at DESC, rowid DESC LIMIT 1", (resolved(path),)
        )
        return rows[0][0] if rows else None

    def succeeded_jobs(self, path: str | Path) -> set[str]:
        """Names of the jobs that succeeded in the latest run of the deck at this path (counting the jobs
        that run carried over, already succeeded, from the run it resumed)."""
        deck_id = self.latest_deck(path)
        if deck_id is None:
            return set()
        rows = self._query("SELECT name FROM jobs WHERE deck_id = ? AND state = ?", (deck_id, JobState.SUCCEEDED.value))
        return {name for (name,) in rows}

    def interrupted(self) -> list[JournalJob]:
        """Jobs the journal shows running or paused: after a crash, the ones whose attempts were cut short.
        (Call it only when no jobdeck is writing to this journal, or it lists that one's running jobs too.)"""
        rows = self._query(
            "SELECT jobs.deck_id, decks.name, decks.path, jobs.name, jobs.state FROM jobs "
            "JOIN decks ON decks.id = jobs.deck_id WHERE jobs.state IN (?, ?) ORDER BY decks.loaded_at, jobs.name",
            UNFINISHED_STATES,
        )
        return [JournalJob(*row) for row in rows]

    def mark_interrupted(self) -> int:
        """Mark every job left running or paused as `interrupted` (and its open attempt too); returns how many.
        Their work is to be done again: a restarted server queues them anew (at-least-once)."""
        now = time.time()
        with self._lock:
            connection = self.connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                stuck = connection.execute(
                    "SELECT deck_id, name, state, attempts FROM jobs WHERE state IN (?, ?)", UNFINISHED_STATES
                ).fetchall()
                for deck_id, name, state, attempts in stuck:
                    connection.execute(
                        "INSERT INTO state_changes (deck_id, job, old, new, attempt, error, at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (deck_id, name, state, INTERRUPTED, attempts, "interrupted: jobdeck stopped", now),
                    )
                    connection.execute(
                        "UPDATE attempts SET ended_at = ?, outcome = ?, error = ? "
                        "WHERE deck_id = ? AND job = ? AND ended_at IS NULL",
                        (now, INTERRUPTED, "interrupted: jobdeck stopped", deck_id, name),
                    )
                    connection.execute(
                        "UPDATE jobs SET state = ?, error = ?, updated_at = ? WHERE deck_id = ? AND name = ?",
                        (INTERRUPTED, "interrupted: jobdeck stopped", now, deck_id, name),
                    )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return len(stuck)

    def jobs(self, deck_id: str) -> dict[str, dict[str, Any]]:
        """Every job row of one deck run, by name (spec, result and output tail decoded)."""
        with self._lock:
            cursor = self.connection.execute("SELECT * FROM jobs WHERE deck_id = ?", (deck_id,))
            columns = [column[0] for column in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        for row in rows:
            for key in ("spec", "result", "output_tail"):
                if row[key] is not None:
                    row[key] = json.loads(row[key])
        return {row["name"]: row for row in rows}


def result_json(value: Any) -> str:
    """The value as JSON when JSON can carry it unchanged, else its repr as a JSON string (as report.json_safe
    decides, with one encoding instead of two)."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(repr(value))


def _result_text(value: Any) -> str:
    """result_json, with a shortcut for the commonest results."""
    if type(value) is int:
        return str(value)
    if value is None:
        return "null"
    return result_json(value)


def _columns(count: int) -> str:
    """`value ->> 0, value ->> 1, ...`: the fields of each JSON array row from json_each."""
    return ", ".join(f"value ->> {index}" for index in range(count))


def encode(batch: Batch) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements that write one batch, in order, with their parameters.

    Each kind of row goes in as one JSON array, unpacked by SQLite (`json_each`): one statement per kind
    instead of one per row. That matters beyond SQLite's own speed: Python's sqlite3 releases the GIL around
    every step of a statement, and on a busy engine each of those hand-overs costs the event loop and the job
    threads a switch; a handful of long steps per batch leaves them alone.
    """
    statements: list[tuple[str, tuple[Any, ...]]] = []
    if batch.decks:
        statements.extend(
            ("INSERT INTO decks (id, name, path, loaded_at, pid) VALUES (?, ?, ?, ?, ?)", deck) for deck in batch.decks
        )
    if batch.new_jobs:
        statements.append(
            (
                "INSERT INTO jobs (deck_id, name, kind, spec, state, updated_at) "
                "SELECT value ->> 0, value ->> 1, value ->> 2, json(value -> 3), value ->> 4, value ->> 5 "
                "FROM json_each(?)",
                # One encoding for every row: each spec goes in as a JSON object, and `json()` gives back its
                # text (the same JSON as spec_json's, without the spaces).
                (json.dumps([(*row[:3], spec_value(spec), *row[4:]) for *row, spec in batch.new_jobs]),),
            )
        )
    for from_deck, to_deck, names in batch.carried:
        statements.append(
            (
                "INSERT OR REPLACE INTO jobs (deck_id, name, kind, spec, state, attempts, error, result, "
                "output_tail, updated_at, carried_over) SELECT ?, name, kind, spec, state, attempts, error, "
                "result, output_tail, updated_at, 1 FROM jobs "
                "WHERE deck_id = ? AND name IN (SELECT value FROM json_each(?))",
                (to_deck, from_deck, json.dumps(names)),
            )
        )
    if batch.changes:
        statements.append(
            (
                "INSERT INTO state_changes (deck_id, job, old, new, attempt, error, at) "
                f"SELECT {_columns(7)} FROM json_each(?)",
                (json.dumps(batch.changes),),
            )
        )
    if batch.attempts:
        statements.append(
            (
                "INSERT OR REPLACE INTO attempts (deck_id, job, number, started_at, ended_at, outcome, error) "
                f"SELECT {_columns(7)} FROM json_each(?)",
                (json.dumps(batch.attempts),),
            )
        )
    if batch.jobs:
        rows = json.dumps(batch.jobs)
        statements.append(
            (
                "UPDATE jobs SET state = u.value ->> 0, attempts = u.value ->> 1, error = u.value ->> 2, "
                "result = u.value ->> 3, output_tail = COALESCE(u.value ->> 4, output_tail), "
                "updated_at = u.value ->> 5 FROM json_each(?) AS u "
                "WHERE jobs.deck_id = u.value ->> 6 AND jobs.name = u.value ->> 7",
                (rows,),
            )
        )
        # A job row may carry its attempts' rows too (number, started_at, ended_at, outcome, error), as its
        # ninth field: one encoding of the job's keys for both tables.
        statements.append(
            (
                "INSERT OR REPLACE INTO attempts (deck_id, job, number, started_at, ended_at, outcome, error) "
                "SELECT u.value ->> 6, u.value ->> 7, a.value ->> 0, a.value ->> 1, a.value ->> 2, a.value ->> 3, "
                "a.value ->> 4 FROM json_each(?) AS u, json_each(u.value, '$[8]') AS a",
                (rows,),
            )
        )
    return statements


def resolved(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


# --- recording ----------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """Rows waiting to be written, in the order the transaction writes them."""

    decks: list[tuple[Any, ...]] = field(default_factory=list)
    new_jobs: list[tuple[Any, ...]] = field(default_factory=list)
    carried: list[tuple[str, str, list[str]]] = field(default_factory=list)
    changes: list[tuple[Any, ...]] = field(default_factory=list)
    attempts: list[tuple[Any, ...]] = field(default_factory=list)
    jobs: list[tuple[Any, ...]] = field(default_factory=list)
    """(state, attempts, error, result, output_tail, updated_at, deck_id, name[, attempt rows])."""


_PLAIN_TYPES = (str, int, bool, type(None))
"""Types JSON carries unchanged (a float may be NaN or infinite, so it is not among them)."""


def spec_value(spec: JobSpec) -> dict[str, Any]:
    """The job's spec as the dashboard shows it, secrets redacted, ready for JSON."""
    item = spec.item
    return {
        "summary": dict(spec_summary(spec)),
        "after": list(spec.after),
        "group": spec.group,
        # json_safe encodes the value to see whether it can: the common plain ones need no such test.
        "item": item if type(item) in _PLAIN_TYPES else json_safe(item),
        "line": spec.line,
    }


def spec_json(spec: JobSpec) -> str:
    """The job's spec as the dashboard shows it: secrets redacted."""
    return json.dumps(spec_value(spec))


class Recorder:
    """Follows an engine and journals what it does. Enter it around the engine's own block, so it sees the
    engine's last changes too:

        engine = Engine()
        async with Recorder(engine, journal), engine:
            ...

    It reads the engine's change log (`Engine.enable_change_log`), not its events: every FLUSH_INTERVAL_S it
    takes the changes of state made since the last flush, notices decks loaded meanwhile (`engine.decks`),
    and writes those changes plus the current rows of the jobs (and attempts) they touched, in one
    transaction on a worker thread. Decks loaded before the recorder was made are not recorded.

    `carry_over` maps a deck's resolved path to (journal id of the run it resumes, names of the jobs that
    succeeded there and are not run again): they are recorded as succeeded in the new run as well.
    """

    def __init__(
        self,
        engine: Any,
        journal: Journal,
        *,
        carry_over: Mapping[str, tuple[str, Iterable[str]]] | None = None,
        flush_interval: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.flush_interval = flush_interval
        self.deck_ids: dict[str, str] = {}
        """Engine deck name -> journal deck id."""
        self._carry_over = {path: (old, list(names)) for path, (old, names) in (carry_over or {}).items()}
        self._unrecorded_decks = set(engine.decks)
        """Decks loaded before the recorder: not journaled."""
        self._decks_seen = len(engine.decks)
        self._job_keys: dict[str, tuple[str, str]] = {}
        """Engine job id -> (journal deck id, job name), for the jobs of recorded decks."""
        engine.enable_change_log()
        engine.take_changes()  # changes made before the recorder concern unrecorded decks
        self._batch = Batch()
        self._task_group: anyio.abc.TaskGroup | None = None
        self.flushes = 0
        self.error: BaseException | None = None

    async def __aenter__(self) -> Recorder:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._flush_loop)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()
        try:
            return await self._task_group.__aexit__(exc_type, exc, traceback)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(FINAL_FLUSH_TIMEOUT_S):
                await self.flush()

    # --- following the engine ----------------------------------------------------------------------------

    def _new_decks(self) -> None:
        """Record the decks loaded since the last look (`engine.decks` only grows)."""
        decks = self.engine.decks
        if len(decks) == self._decks_seen:
            return
        self._decks_seen = len(decks)
        for name, deck in list(decks.items()):
            if name not in self.deck_ids and name not in self._unrecorded_decks:
                self._deck_loaded(name, deck)

    def _deck_loaded(self, name: str, deck: Deck) -> None:
        deck_id = uuid.uuid4().hex
        self.deck_ids[name] = deck_id
        now = time.time()
        path = resolved(deck.path)
        self._batch.decks.append((deck_id, name, path, now, os.getpid()))
        jobs = self.engine.jobs
        job_keys = self._job_keys
        for spec in deck.jobs:
            job_id = f"{name}/{spec.name}"
            job = jobs[job_id]
            job_keys[job_id] = (deck_id, job.name)
            # The state it was loaded in: any change since is in the change log, and is written after this.
            self._batch.new_jobs.append((deck_id, job.name, job.kind.value, None, JobState.QUEUED.value, now, job.spec))
        carried = self._carry_over.pop(path, None)
        if carried is not None:
            self._batch.carried.append((carried[0], deck_id, carried[1]))

    def _collect(self) -> tuple[Batch, list[tuple[Any, ...]]] | None:
        """The batch to write and the engine's raw changes, with the
        touched jobs' and attempts' rows as they are now; a fresh batch takes its place. None if nothing to write."""
        self._new_decks()
        changes = self.engine.take_changes()
        batch = self._batch
        if not changes and not batch.decks:
            return None
        self._batch = Batch()
        if not changes:
            return batch, changes
        jobs = self.engine.jobs
        job_keys = self._job_keys
        touched = {change[0] for change in changes}
        jobs_append = batch.jobs.append
        succeeded = JobState.SUCCEEDED
        now = time.time()
        for job_id in touched:
            keys = job_keys.get(job_id)
            if keys is None:  # a job of a deck loaded before the recorder
                continue
            job = jobs[job_id]
            state = job.state
            attempts = job.attempts
            result = _result_text(job.result) if state is succeeded else None
            tail = None
            if state.finished and job.output:
                lines = list(job.output)[-OUTPUT_TAIL_LINES:]
                tail = json.dumps([[line.stream, line.text] for line in lines])
            # Its attempts, all of them (a job has few): the changes in this batch may span several.
            jobs_append(
                (
                    state,
                    len(attempts),
                    job.error,
                    result,
                    tail,
                    now,
                    *keys,
                    [
                        (attempt.number, attempt.started_at, attempt.ended_at, attempt.outcome, attempt.error)
                        for attempt in attempts
                    ],
                )
            )
        return batch, changes

    async def flush(self) -> None:
        """Write what is waiting, now, on a worker thread."""
        collected = self._collect()
        if collected is None:
            return
        batch, changes = collected
        if changes:
            job_keys = self._job_keys
            batch.changes = [
                (*keys, old, new, attempt, error, at)
                for job_id, old, new, attempt, error, at in changes
                if (keys := job_keys.get(job_id)) is not None
            ]
        # Shielded: once taken from the engine, the rows must be written; a cancellation arriving before the
        # worker thread starts (the recorder closing) would otherwise drop them.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.journal.write, batch)
        self.flushes += 1

    async def _flush_loop(self) -> None:
        # The recorder wakes on a clock, not on each change: waking a task per change would cost the event
        # loop a task switch per state change. Changes wait meanwhile in the engine's change log; each tick
        # takes them all and writes them in one transaction, so a change is committed at most
        # FLUSH_INTERVAL_S (plus the previous write) after it.
        while True:
            await anyio.sleep(self.flush_interval)
            await self.flush()
