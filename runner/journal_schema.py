"""The journal's tables, and bringing an older journal file up to date."""

from __future__ import annotations

import sqlite3

from runner.model import JobState

SCHEMA_VERSION = 2
INTERRUPTED = "interrupted"
"""The journal's state for a job whose work a dead jobdeck left undone (it was running, paused or waiting to
retry): not an engine JobState. A restarted server queues such jobs again."""
CUT_SHORT_STATES = (JobState.RUNNING.value, JobState.PAUSED.value, JobState.RETRYING.value)
"""States a job can be left in only by a jobdeck that stopped without settling it."""
UNFINISHED_STATES = (JobState.QUEUED.value, *CUT_SHORT_STATES, INTERRUPTED)
FINISHED_STATES = tuple(state.value for state in JobState if state.finished)
ALL_STATES = (*(state.value for state in JobState), INTERRUPTED)

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
CREATE INDEX IF NOT EXISTS decks_by_time ON decks (loaded_at);
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
CREATE INDEX IF NOT EXISTS unfinished_jobs ON jobs (deck_id) WHERE {unfinished};
CREATE TABLE IF NOT EXISTS group_specs (
    deck_id TEXT NOT NULL,
    grp TEXT NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (deck_id, grp)
) WITHOUT ROWID;
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
UNFINISHED_SQL = f"state IN ({', '.join(repr(state) for state in UNFINISHED_STATES)})"
"""The unfinished states as literals: a query must say exactly this for SQLite to use the partial index."""
SCHEMA = SCHEMA.replace("{unfinished}", UNFINISHED_SQL)
# Version 1 had no group_specs (every job carried its whole spec) and indexed every job by state: only the
# unfinished ones are looked up by state, and a finished job no longer costs an index entry.
OBSOLETE = ("DROP INDEX IF EXISTS jobs_by_state", "DROP INDEX IF EXISTS jobs_by_state_and_deck")


def migrate(connection: sqlite3.Connection) -> None:
    """Create the tables, or bring a version 1 journal up to this version (its rows stay as they are: a job's
    spec of version 1 is a whole spec, which version 2 still reads). sqlite3.DatabaseError if the file was
    written by a newer jobdeck."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                connection.execute(statement)
        for statement in OBSOLETE[1:]:  # an index of this version while it was being written
            connection.execute(statement)
        row = connection.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif row[0] > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"written by a newer jobdeck (schema {row[0]}; this one knows {SCHEMA_VERSION})"
            )
        elif row[0] < SCHEMA_VERSION:
            for statement in OBSOLETE:
                connection.execute(statement)
            connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
