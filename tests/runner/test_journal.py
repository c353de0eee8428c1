"""The journal: a run recorded in SQLite, what survives kill -9, and `jobdeck run --resume` / `--db`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.deck import load_deck
from runner.engine import Engine
from runner.journal import INTERRUPTED, Journal, Recorder

WriteDeck = Callable[..., Path]

JOBDECK = [sys.executable, "-m", "runner.cli"]
RUN_TIMEOUT_S = 30


def jobdeck(*arguments: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*JOBDECK, *map(str, arguments)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env
    )


def record_run(deck_path: Path, db: Path) -> None:
    async def main() -> None:
        with Journal.open(db) as journal:
            engine = Engine()
            async with Recorder(engine, journal), engine:
                await engine.add_deck(load_deck(deck_path))
                await engine.wait_until_settled()

    anyio.run(main)


def rows(db: Path, sql: str, *parameters: object) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(db)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def test_a_run_is_recorded(write_deck: WriteDeck, tmp_path: Path) -> None:
    deck = write_deck(
        """
[deck]
name = "rec"
retries = 1
backoff = 0

[[job]]
name = "hello"
shell = "echo one; echo two >&2"

[[job]]
name = "flaky"
shell = "exit 4"
after = ["hello"]

[[job]]
name = "never"
shell = "echo never"
after = ["flaky"]

[[job]]
name = "add"
call = "tasks:add"
on = "thread"
args = [2, 3]
"""
    )
    db = tmp_path / "journal.db"
    record_run(deck, db)

    assert rows(db, "SELECT version FROM schema_version") == [(1,)]
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    [(deck_id, name, path)] = rows(db, "SELECT id, name, path FROM decks")
    assert (name, path) == ("rec", str(deck.resolve()))
    with Journal.open(db) as journal:
        jobs = journal.jobs(str(deck_id))
        assert journal.succeeded_jobs(deck) == {"hello", "add"}
        assert journal.interrupted() == []
    assert {name: job["state"] for name, job in jobs.items()} == {
        "hello": "succeeded",
        "flaky": "failed",
        "never": "skipped",
        "add": "succeeded",
    }
    assert jobs["hello"]["output_tail"] == [["stdout", "one"], ["stderr", "two"]]
    assert jobs["hello"]["spec"]["summary"]["command"] == "echo one; echo two >&2"
    assert jobs["add"]["result"] == 5
    assert jobs["flaky"]["attempts"] == 2
    assert jobs["flaky"]["error"] == "exited with status 4"
    assert jobs["never"]["error"] == "not run: flaky failed"

    attempts = rows(db, "SELECT number, outcome, error, ended_at >= started_at FROM attempts WHERE job = 'flaky'")
    assert sorted(attempts) == [(1, "failed", "exited with status 4", 1), (2, "failed", "exited with status 4", 1)]
    changes = rows(db, "SELECT old, new, attempt FROM state_changes WHERE job = 'flaky' ORDER BY rowid")
    assert changes == [
        ("queued", "running", 1),
        ("running", "retrying", 1),
        ("retrying", "queued", 1),
        ("queued", "running", 2),
        ("running", "failed", 2),
    ]
    assert rows(db, "SELECT old, new FROM state_changes WHERE job = 'never'") == [("queued", "skipped")]


def test_a_success_is_committed_while_the_run_goes_on(write_deck: WriteDeck, tmp_path: Path) -> None:
    """What the engine reports as succeeded is in the database within a flush interval, not at the end."""
    deck = write_deck('[deck]\nname = "soon"\n\n[[job]]\nname = "quick"\nshell = "true"\n')
    db = tmp_path / "journal.db"

    async def main() -> float:
        with Journal.open(db) as journal:
            engine = Engine()
            async with Recorder(engine, journal), engine:
                await engine.add_deck(load_deck(deck))
                await engine.wait_until_settled()
                settled = time.monotonic()
                while not rows(db, "SELECT 1 FROM jobs WHERE name = 'quick' AND state = 'succeeded'"):
                    await anyio.sleep(0.005)
                    assert time.monotonic() - settled < 1.0
                return time.monotonic() - settled

    assert anyio.run(main) < 0.5


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_kill_9_then_resume(write_deck: WriteDeck, tmp_path: Path) -> None:
    marker = tmp_path / "a-ran"
    b_pid = tmp_path / "b.pid"
    deck = write_deck(
        f"""
[deck]
name = "crash"

[[job]]
name = "a"
shell = "echo ran >> '{marker}'"

[[job]]
name = "b"
shell = "echo $$ > '{b_pid}'; exec sleep 60"

[[job]]
name = "c"
shell = "echo c"
after = ["a", "b"]
"""
    )
    db = tmp_path / "journal.db"
    process = subprocess.Popen(
        [*JOBDECK, "run", str(deck), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def shown() -> bool:
            if not db.exists():
                return False
            try:
                states = dict(rows(db, "SELECT name, state FROM jobs"))
            except sqlite3.OperationalError:  # the schema is being created
                return False
            return states.get("a") == "succeeded" and states.get("b") == "running"

        wait_for(shown)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        # b's shell runs in its own process group, which a kill -9 of jobdeck leaves behind: end it here.
        if b_pid.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(int(b_pid.read_text()), signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL

    with Journal.open(db) as journal:
        assert journal.succeeded_jobs(deck) == {"a"}
        stuck = journal.interrupted()
        assert [(job.deck, job.name, job.state) for job in stuck] == [("crash", "b", "running")]
        assert journal.mark_interrupted() == 1
        assert journal.interrupted() == []
    assert rows(db, "SELECT state FROM jobs WHERE name = 'b'") == [(INTERRUPTED,)]
    assert rows(db, "SELECT outcome FROM attempts WHERE job = 'b'") == [(INTERRUPTED,)]
    assert rows(db, "SELECT state FROM jobs WHERE name = 'c'") == [("queued",)]

    # Resume, with b made quick: only b and c run; a's command does not run again.
    deck.write_text(deck.read_text().replace("sleep 60", "true"))
    result = jobdeck("run", deck, "--resume", "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    assert "resuming crash: 1 of 3 jobs already succeeded" in result.stderr
    [report] = [json.loads(line) for line in result.stdout.splitlines()]
    assert {job["name"]: job["state"] for job in report["jobs"]} == {"b": "succeeded", "c": "succeeded"}
    assert marker.read_text() == "ran\n"

    # The resumed run carries a over, so resuming once more runs nothing.
    with Journal.open(db) as journal:
        assert journal.succeeded_jobs(deck) == {"a", "b", "c"}
    again = jobdeck("run", deck, "--resume", "--db", db, "--json")
    assert again.returncode == 0, again.stderr
    assert "resuming crash: 3 of 3 jobs already succeeded" in again.stderr
    assert marker.read_text() == "ran\n"


def test_db_from_the_environment(write_deck: WriteDeck, tmp_path: Path) -> None:
    deck = write_deck('[deck]\nname = "env"\n\n[[job]]\nname = "x"\nshell = "true"\n')
    db = tmp_path / "from-env.db"
    result = jobdeck("run", deck, env={**os.environ, "JOBDECK_DB": str(db)})
    assert result.returncode == 0, result.stderr
    assert rows(db, "SELECT name, state FROM jobs") == [("x", "succeeded")]


def test_without_resume_everything_runs_again(write_deck: WriteDeck, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    deck = write_deck(f'[deck]\nname = "again"\n\n[[job]]\nname = "x"\nshell = "echo x >> \'{marker}\'"\n')
    db = tmp_path / "journal.db"
    for _ in range(2):
        assert jobdeck("run", deck, "--db", db).returncode == 0
    assert marker.read_text() == "x\nx\n"
    assert rows(db, "SELECT count(*) FROM decks") == [(2,)]


@pytest.mark.parametrize("bad", ["directory", "not-a-database", "missing-folder"])
def test_a_bad_db_is_refused_clearly(write_deck: WriteDeck, tmp_path: Path, bad: str) -> None:
    marker = tmp_path / "ran"
    deck = write_deck(f'[deck]\nname = "bad"\n\n[[job]]\nname = "x"\nshell = "touch \'{marker}\'"\n')
    if bad == "directory":
        db = tmp_path
    elif bad == "not-a-database":
        db = tmp_path / "garbage.db"
        db.write_bytes(b"this is not sqlite at all" * 100)
    else:
        db = tmp_path / "no" / "such" / "folder" / "journal.db"
    result = jobdeck("run", deck, "--db", db)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"cannot open the journal {db}" in result.stderr
    assert "nothing was run" in result.stderr
    assert not marker.exists()
