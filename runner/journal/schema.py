"""The journal's tables, and bringing an older journal file up to date.

A row of `decks` is one run of a deck (a job file loaded once): its `id` is the run's id, `deck_id` in the other
tables, `run_id` in Python.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runner.model import JobState

SCHEMA_VERSION = 5
INTERRUPTED = "interrupted"
"""The journal's state for a job whose work a dead jobdeck left undone (it was running, paused or waiting to
retry): not an engine JobState. A restarted server queues such jobs again."""
CUT_SHORT_STATES = (JobState.RUNNING.value, JobState.PAUSED.value, JobState.RETRYING.value)
"""States a job can be left in only by a jobdeck that stopped without settling it."""
UNFINISHED_STATES = (JobState.QUEUED.value, *CUT_SHORT_STATES, INTERRUPTED)
FINISHED_STATES = tuple(state.value for state in JobState if state.finished)
ALL_STATES = (*(state.value for state in JobState), INTERRUPTED)
ATTEMPT_FIELDS = ("number", "started_at", "ended_at", "outcome", "error", "worker")
"""The fields of each attempt in `jobs.attempt_list`, a JSON array of arrays in this order."""


def deck_path_key(path: str | Path) -> str:
    """How the journal names a job file (`decks.path`): its absolute path, links resolved."""
    return str(Path(path).expanduser().resolve())


# Version 3 keeps a job's attempts in its own row (`attempt_list`; a job has few) and each flush's changes of
# state as one JSON array (`change_batches`): one row written per flush instead of one per change, and no second
# table to update per job. A flush's changes are stored as the engine logged them, keyed by engine job id
# (`deck/name`) and named by the recording (one Recorder) that wrote them: `deck_names` says which journal run
# each of its engine deck names is, `attempt_offsets` how far a continued run's attempt numbers are shifted
# where they are. Changes the journal makes itself (at a continued load, when marking jobs interrupted) have no
# recording and name jobs by `jobs.id`. The views `attempts` and `state_changes` show them all as rows.
# The members of a big fan-out in a new run get their job row when they first change: until then they are
# queued, listed (name, item) in their group's `members`, and counted in their run's `job_count` (NULL: every
# job of the run has its row).
TABLES = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS decks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    loaded_at REAL NOT NULL,
    pid INTEGER,
    job_count INTEGER
);
CREATE INDEX IF NOT EXISTS decks_by_path ON decks (path, loaded_at);
CREATE INDEX IF NOT EXISTS decks_by_time ON decks (loaded_at);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    deck_id TEXT NOT NULL REFERENCES decks (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    attempt_list TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    result TEXT,
    output_tail TEXT,
    updated_at REAL NOT NULL,
    carried_over INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_name ON jobs (deck_id, name);
CREATE INDEX IF NOT EXISTS unfinished_jobs ON jobs (deck_id) WHERE {unfinished};
CREATE TABLE IF NOT EXISTS group_specs (
    deck_id TEXT NOT NULL,
    grp TEXT NOT NULL,
    spec TEXT NOT NULL,
    kind TEXT,
    members TEXT,
    PRIMARY KEY (deck_id, grp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS change_batches (
    id INTEGER PRIMARY KEY,
    recording INTEGER,
    changes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deck_names (
    recording INTEGER NOT NULL,
    engine_name TEXT NOT NULL,
    deck_id TEXT NOT NULL,
    PRIMARY KEY (recording, engine_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attempt_offsets (
    recording INTEGER NOT NULL,
    engine_id TEXT NOT NULL,
    offset INTEGER NOT NULL,
    PRIMARY KEY (recording, engine_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transfers (
    save TEXT PRIMARY KEY,
    part TEXT,
    saved TEXT,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS attempts (deck_id, job, number, started_at, ended_at, outcome, error, worker) AS
    SELECT jobs.deck_id, jobs.name, a.value ->> 0, a.value ->> 1, a.value ->> 2, a.value ->> 3, a.value ->> 4,
    a.value ->> 5 FROM jobs, json_each(jobs.attempt_list) AS a;
CREATE VIEW IF NOT EXISTS state_changes (seq, deck_id, job, old, new, attempt, error, at) AS
    SELECT (b.id << 32) + c.key, jobs.deck_id, jobs.name, c.value ->> 1, c.value ->> 2,
    (c.value ->> 3) + COALESCE(o.offset, 0), c.value ->> 4, c.value ->> 5
    FROM change_batches AS b CROSS JOIN json_each(b.changes) AS c
    CROSS JOIN deck_names AS d ON d.recording = b.recording
        AND substr(c.value ->> 0, 1, length(d.engine_name) + 1) = d.engine_name || '/'
    CROSS JOIN jobs ON jobs.deck_id = d.deck_id AND jobs.name = substr(c.value ->> 0, length(d.engine_name) + 2)
    LEFT JOIN attempt_offsets AS o ON o.recording = b.recording AND o.engine_id = c.value ->> 0
    UNION ALL
    SELECT (b.id << 32) + c.key, jobs.deck_id, jobs.name, c.value ->> 1, c.value ->> 2, c.value ->> 3,
    c.value ->> 4, c.value ->> 5 FROM change_batches AS b CROSS JOIN json_each(b.changes) AS c
    CROSS JOIN jobs ON jobs.id = c.value ->> 0 WHERE b.recording IS NULL
"""
UNFINISHED_SQL = "(" + " OR ".join(f"state = '{state}'" for state in UNFINISHED_STATES) + ")"
"""The unfinished states as literals: a query must say exactly this for SQLite to use the partial index. An OR
of comparisons, not `state IN (...)`: SQLite tests every row written against the index's condition, and an IN
list cost about 2 µs a row (a third of writing a job's row), the comparisons next to nothing."""
TABLES = TABLES.replace("{unfinished}", UNFINISHED_SQL)

# Version 5 only added `transfers` (runner.journal.transfers): what each download's save path needs to be resumed
# or fetched conditionally. Made by TABLES like any table, so a journal of version 4 only gains it.
# Version 4 only changed the condition of the partial index `unfinished_jobs` (see UNFINISHED_SQL).
_NEW_INDEX = ("DROP INDEX IF EXISTS unfinished_jobs",)

# Versions 1 and 2 kept jobs keyed by (deck_id, name), attempts and state changes one row each; version 1 had no
# group_specs (every job carried its whole spec, which later versions still read) and indexed every job by state.
_SET_ASIDE = (
    "DROP INDEX IF EXISTS jobs_by_state",
    "DROP INDEX IF EXISTS jobs_by_state_and_deck",
    "DROP INDEX IF EXISTS unfinished_jobs",
    "ALTER TABLE jobs RENAME TO old_jobs",
    "ALTER TABLE attempts RENAME TO old_attempts",
    "ALTER TABLE state_changes RENAME TO old_state_changes",
)
_NEW_COLUMNS = (("decks", "job_count INTEGER"), ("group_specs", "kind TEXT"), ("group_specs", "members TEXT"))
_COPY = (
    "INSERT INTO jobs (deck_id, name, kind, spec, state, attempts, attempt_list, error, result, output_tail, "
    "updated_at, carried_over) SELECT j.deck_id, j.name, j.kind, j.spec, j.state, j.attempts, "
    "COALESCE((SELECT json_group_array(json_array(number, started_at, ended_at, outcome, error, NULL)) FROM "
    "(SELECT * FROM old_attempts AS a WHERE a.deck_id = j.deck_id AND a.job = j.name ORDER BY a.number)), '[]'), "
    "j.error, j.result, j.output_tail, j.updated_at, j.carried_over FROM old_jobs AS j ORDER BY j.deck_id, j.name",
    "INSERT INTO change_batches (changes) SELECT json_group_array(json_array(jobs.id, s.old, s.new, s.attempt, "
    "s.error, s.at)) FROM (SELECT * FROM old_state_changes ORDER BY rowid) AS s "
    "JOIN jobs ON jobs.deck_id = s.deck_id AND jobs.name = s.job GROUP BY s.deck_id ORDER BY min(s.rowid)",
    "DROP TABLE old_jobs",
    "DROP TABLE old_attempts",
    "DROP TABLE old_state_changes",
)


def migrate(connection: sqlite3.Connection) -> None:
    """Create the tables, or bring a journal of an older version up to this one (from version 1 or 2, its rows
    are copied into the new tables). sqlite3.DatabaseError if the file was written by a newer jobdeck."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = _version(connection)
        if version is not None and version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"written by a newer jobdeck (schema {version}; this one knows {SCHEMA_VERSION})"
            )
        older = version is not None and version < SCHEMA_VERSION
        copied = version is not None and version < 3
        for statement in _SET_ASIDE if copied else _NEW_INDEX if older and version < 4 else ():
            connection.execute(statement)
        for statement in TABLES.split(";"):
            if statement.strip():
                connection.execute(statement)
        if version is None:
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif copied:
            for table, column in _NEW_COLUMNS:
                if column.split()[0] not in {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}:
                    connection.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
            for statement in _COPY:
                connection.execute(statement)
        if older:
            connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _version(connection: sqlite3.Connection) -> int | None:
    """The file's schema version, None for a new file."""
    if connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone() is None:
        return None
    row = connection.execute("SELECT version FROM schema_version").fetchone()
    return None if row is None else row[0]
