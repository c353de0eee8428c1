"""The journal: a run recorded in SQLite, what survives kill -9, and `jobdeck run --resume` / `--db`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.journal.recorder import Recorder
from runner.journal.recovery import restored_job
from runner.journal.schema import UNFINISHED_SQL
from runner.journal.store import CUT_SHORT_ATTEMPT, INTERRUPTED, SCHEMA_VERSION, Journal, JournalError
from runner.journal.writes import GROUP_SPEC_MIN_MEMBERS, json_text
from runner.model import Job, JobState, RestoredJob
from tests.helpers import JOBDECK, jobdeck, wait_until

WriteDeck = Callable[..., Path]


def record_run(deck_path: Path, db: Path) -> None:
    async def main() -> None:
        with Journal.open(db) as journal:
            engine = Engine()
            async with Recorder(engine, journal), engine:
                await engine.add_deck(load_deck(deck_path))
                await engine.wait_until_settled()

    anyio.run(main)


def record_in_one_flush(deck_path: Path, db: Path) -> dict[str, Job]:
    """Run the deck to the end under a Recorder that writes only when told, then write it all in one flush.
    Returns the engine's jobs."""

    async def main() -> dict[str, Job]:
        with Journal.open(db) as journal:
            engine = Engine()
            async with Recorder(engine, journal, flush_interval=60) as recorder, engine:
                await engine.add_deck(load_deck(deck_path))
                await engine.wait_until_settled()
                assert recorder.flushes == 0
                await recorder.flush()
                assert recorder.flushes == 1
        return engine.jobs

    return anyio.run(main)


def test_an_idle_recorder_flushes_nothing_until_the_engine_changes(
    write_deck: WriteDeck, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick with nothing new writes nothing, and costs next to nothing (an idle server's CPU)."""
    flushes: list[int] = []
    flush = Recorder.flush

    async def counted(recorder: Recorder, *, last: bool = False) -> None:
        flushes.append(recorder.engine.revision)
        await flush(recorder, last=last)

    monkeypatch.setattr(Recorder, "flush", counted)

    async def main() -> None:
        with Journal.open(tmp_path / "idle.db") as journal:
            engine = Engine()
            async with Recorder(engine, journal, flush_interval=0.01) as recorder, engine:
                await engine.add_deck(load_deck(write_deck('[[job]]\nname = "one"\nshell = "true"')))
                await engine.wait_until_settled()
                with anyio.fail_after(10):
                    while recorder.committed_revision < engine.revision:
                        await anyio.sleep(0.01)
                idle = len(flushes)
                await anyio.sleep(0.2)  # twenty flush intervals (the interval is what is tested)
                assert len(flushes) == idle
                await engine.pause_all()
                with anyio.fail_after(10):
                    while recorder.committed_revision < engine.revision:
                        await anyio.sleep(0.01)
                assert len(flushes) > idle

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

    assert rows(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    [(run_id, name, path)] = rows(db, "SELECT id, name, path FROM decks")
    assert (name, path) == ("rec", str(deck.resolve()))
    with Journal.open(db) as journal:
        jobs = journal.jobs(str(run_id))
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
    changes = rows(db, "SELECT old, new, attempt FROM state_changes WHERE job = 'flaky' ORDER BY seq")
    assert changes == [
        ("queued", "running", 1),
        ("running", "retrying", 1),
        ("retrying", "queued", 1),
        ("queued", "running", 2),
        ("running", "failed", 2),
    ]
    assert rows(db, "SELECT old, new FROM state_changes WHERE job = 'never'") == [("queued", "skipped")]
    [first, second] = jobs["flaky"]["attempt_list"]
    assert first.keys() == {"number", "started_at", "ended_at", "outcome", "error", "worker"}
    assert [(a["number"], a["outcome"], a["error"], a["worker"]) for a in (first, second)] == [
        (1, "failed", "exited with status 4", None),
        (2, "failed", "exited with status 4", None),
    ]
    assert first["started_at"] <= first["ended_at"] <= second["started_at"] <= second["ended_at"]
    assert jobs["never"]["attempt_list"] == []


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

        wait_until(shown, timeout=15, what="a succeeded and b running, in the journal")
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
    assert [(job["name"], job["state"]) for job in report["jobs"]] == [
        ("a", "succeeded"),
        ("b", "succeeded"),
        ("c", "succeeded"),
    ]
    assert [job["name"] for job in report["jobs"] if "earlier_run" in job] == ["a"], "a was not run again"
    assert marker.read_text() == "ran\n"

    # The resumed run carries a over, so resuming once more runs nothing.
    with Journal.open(db) as journal:
        assert journal.succeeded_jobs(deck) == {"a", "b", "c"}
        resumed = journal.run(journal.latest_run(deck) or "")
        assert resumed is not None and resumed.counts == {"succeeded": 3}, "the carried job counts, once"
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


# --- history, recovery and continuing a run ----------------------------------------------------------------------


def test_history_counts_each_run_by_state_newest_first(write_deck: WriteDeck, tmp_path: Path) -> None:
    good = write_deck('[deck]\nname = "good"\n\n[[job]]\nname = "a"\nshell = "true"\n', name="good.toml")
    mixed = write_deck(
        '[deck]\nname = "mixed"\n\n[[job]]\nname = "ok"\nshell = "true"\n\n'
        '[[job]]\nname = "bad"\nshell = "exit 1"\n\n[[job]]\nname = "after_bad"\nshell = "true"\nafter = ["bad"]\n',
        name="mixed.toml",
    )
    db = tmp_path / "journal.db"
    for deck in (good, mixed, good):
        record_run(deck, db)

    with Journal.open(db) as journal:
        runs = journal.history()
        assert [run.name for run in runs] == ["good", "mixed", "good"]
        assert runs[0].id == journal.latest_run(good) != runs[2].id
        assert runs[1].counts == {"succeeded": 1, "failed": 1, "skipped": 1}
        assert (runs[1].total, runs[1].unfinished) == (3, 0)
        assert runs[1].path == str(mixed.resolve()) and runs[1].pid == os.getpid()
        assert [run.name for run in journal.history(limit=2)] == ["good", "mixed"]
        assert journal.run(runs[1].id) == runs[1]
        assert journal.run("no-such-run") is None
        assert journal.unfinished_runs() == []


CRASHING = """
[deck]
name = "crashing"

[[job]]
name = "done"
shell = "true"

[[job]]
name = "long"
shell = "{long}"

[[job]]
name = "waiting"
shell = "true"
after = ["long"]

[[job]]
name = "flaky"
shell = "{flaky}"
retries = 1
backoff = 60
"""


def crashed_journal(write_deck: WriteDeck, tmp_path: Path) -> tuple[Path, Path]:
    """A journal as a jobdeck killed mid-run leaves it: `done` succeeded, `long` running, `waiting` queued,
    `flaky` waiting to retry. (A snapshot of the committed database, taken while the run goes on.)"""
    deck = write_deck(CRASHING.format(long="sleep 30", flaky="echo no >&2; exit 3"))
    live, snapshot = tmp_path / "live.db", tmp_path / "crashed.db"

    async def main() -> None:
        with Journal.open(live) as journal:
            engine = Engine()
            async with Recorder(engine, journal, flush_interval=0.01), engine:
                await engine.add_deck(load_deck(deck))
                wanted = {"done": "succeeded", "long": "running", "waiting": "queued", "flaky": "retrying"}
                with anyio.fail_after(10):
                    while dict(rows(live, "SELECT name, state FROM jobs")) != wanted:
                        await anyio.sleep(0.01)
                source, target = sqlite3.connect(live), sqlite3.connect(snapshot)
                source.backup(target)
                source.close(), target.close()
                await engine.cancel_all()

    anyio.run(main)
    return deck, snapshot


def test_mark_interrupted_then_the_unfinished_runs(write_deck: WriteDeck, tmp_path: Path) -> None:
    _, db = crashed_journal(write_deck, tmp_path)
    with Journal.open(db) as journal:
        [run] = journal.unfinished_runs()
        assert run.counts == {"succeeded": 1, "running": 1, "queued": 1, "retrying": 1}
        assert sorted(job.name for job in journal.interrupted()) == ["flaky", "long"]

        assert journal.mark_interrupted() == 2
        assert journal.interrupted() == []
        assert journal.mark_interrupted() == 0
        [after] = journal.unfinished_runs()
        assert after.id == run.id and after.unfinished == 3
        assert after.counts == {"succeeded": 1, INTERRUPTED: 2, "queued": 1}
        jobs = journal.jobs(run.id)
    assert jobs["long"]["error"] == "interrupted: jobdeck stopped"
    assert (
        jobs["flaky"]["error"]
        == "interrupted: jobdeck stopped while it waited to retry (last attempt: exited with status 3)"
    )
    assert rows(db, "SELECT outcome FROM attempts WHERE job = 'long'") == [(INTERRUPTED,)]
    assert rows(db, "SELECT outcome FROM attempts WHERE job = 'flaky'") == [("failed",)], "an ended attempt stays"
    assert rows(db, "SELECT old, new FROM state_changes WHERE job = 'flaky' ORDER BY seq DESC LIMIT 1") == [
        ("retrying", INTERRUPTED)
    ]


def test_a_continued_run_keeps_its_history(write_deck: WriteDeck, tmp_path: Path) -> None:
    deck, db = crashed_journal(write_deck, tmp_path)
    deck.write_text(CRASHING.format(long="true", flaky="true") + '\n[[job]]\nname = "new"\nshell = "true"\n')
    with Journal.open(db) as journal:
        journal.mark_interrupted()
        [run] = journal.unfinished_runs()

    async def main() -> None:
        with Journal.open(db) as journal:
            engine = Engine()
            async with Recorder(engine, journal) as recorder, engine:
                recorder.continue_run("crashing", run.id)
                restored = {"done": RestoredJob(JobState.SUCCEEDED)}
                await engine.add_deck(load_deck(deck), restored=restored)
                await engine.wait_until_settled()

    anyio.run(main)
    assert rows(db, "SELECT count(*) FROM decks") == [(1,)]
    with Journal.open(db) as journal:
        assert journal.unfinished_runs() == []
        assert journal.run(run.id).counts == {"succeeded": 5}  # type: ignore[union-attr]
        jobs = journal.jobs(run.id)
    assert {name: (job["attempts"], job["error"]) for name, job in jobs.items()} == {
        "done": (1, None),
        "long": (2, None),
        "waiting": (1, None),
        "flaky": (2, None),
        "new": (1, None),
    }
    assert rows(db, "SELECT number, outcome FROM attempts WHERE job = 'long' ORDER BY number") == [
        (1, INTERRUPTED),
        (2, "succeeded"),
    ]
    assert rows(db, "SELECT old, new, attempt FROM state_changes WHERE job = 'long' ORDER BY seq") == [
        ("queued", "running", 1),
        ("running", INTERRUPTED, 1),
        (INTERRUPTED, "queued", 1),
        ("queued", "running", 2),
        ("running", "succeeded", 2),
    ]
    assert rows(db, "SELECT count(*) FROM state_changes WHERE job = 'done'") == [(2,)], "done did not run again"


def test_restored_attempts_are_kept_and_new_ones_numbered_after_them(write_deck: WriteDeck, tmp_path: Path) -> None:
    deck, db = crashed_journal(write_deck, tmp_path)
    deck.write_text(CRASHING.format(long="true", flaky="true"))
    with Journal.open(db) as journal:
        journal.mark_interrupted()
        [run] = journal.unfinished_runs()
        rows_before = journal.jobs(run.id)
    [cut_short] = rows_before["long"]["attempt_list"]
    assert (cut_short["number"], cut_short["outcome"]) == (1, INTERRUPTED)
    assert cut_short["ended_at"] is not None
    restored = {name: restored_job(row) for name, row in rows_before.items()}
    [long_attempt] = restored["long"].attempts
    assert (long_attempt.outcome, long_attempt.error) == (None, CUT_SHORT_ATTEMPT)
    [flaky_attempt] = restored["flaky"].attempts
    assert (flaky_attempt.outcome, flaky_attempt.error) == (JobState.FAILED, "exited with status 3")
    assert restored["done"].attempts[0].outcome is JobState.SUCCEEDED

    async def main() -> dict[str, list[int]]:
        with Journal.open(db) as journal:
            engine = Engine()
            async with Recorder(engine, journal) as recorder, engine:
                recorder.continue_run("crashing", run.id)
                await engine.add_deck(load_deck(deck), restored=restored)
                await engine.wait_until_settled()
            return {job.name: [attempt.number for attempt in job.attempts] for job in engine.jobs.values()}

    numbers = anyio.run(main)
    assert numbers == {"done": [1], "long": [1, 2], "waiting": [1], "flaky": [1, 2]}
    with Journal.open(db) as journal:
        jobs = journal.jobs(run.id)
    assert {name: job["attempts"] for name, job in jobs.items()} == {"done": 1, "long": 2, "waiting": 1, "flaky": 2}
    assert [(a["number"], a["outcome"]) for a in jobs["long"]["attempt_list"]] == [
        (1, INTERRUPTED),
        (2, "succeeded"),
    ]
    assert rows(db, "SELECT old, new, attempt FROM state_changes WHERE job = 'long' ORDER BY seq")[-2:] == [
        ("queued", "running", 2),
        ("running", "succeeded", 2),
    ]


def test_a_big_fan_out_keeps_one_spec_for_its_group(write_deck: WriteDeck, tmp_path: Path) -> None:
    deck = write_deck(
        '[deck]\nname = "fan"\n\n[[job]]\nname = "big"\ncall = "tasks:identity"\non = "thread"\n'
        f'each = {list(range(GROUP_SPEC_MIN_MEMBERS))}\nargs = ["{{item}}"]\n\n'
        '[[job]]\nname = "small"\nshell = "echo {item}"\neach = ["x", "y"]\n'
    )
    db = tmp_path / "journal.db"
    record_run(deck, db)
    assert rows(db, "SELECT grp FROM group_specs") == [("big",)]
    with Journal.open(db) as journal:
        jobs = journal.jobs(journal.latest_run(deck) or "")
    assert len(jobs) == GROUP_SPEC_MIN_MEMBERS + 2
    assert jobs["big[7]"]["result"] == 7
    first, other = jobs["big[0]"]["spec"], jobs["big[7]"]["spec"]
    assert first["summary"]["args"] == "0"
    assert other["summary"]["args"] == "(varies with the item; for big[0]: 0)"
    assert other["summary"]["item"] == "7 (of big)"
    assert other["summary"]["target"] == first["summary"]["target"] == "tasks:identity"
    assert (other["item"], other["group"], other["line"]) == (7, "big", 4)
    assert jobs["small[y]"]["spec"]["summary"]["command"] == "echo y"


def test_a_big_fan_out_s_members_are_queued_until_they_change(write_deck: WriteDeck, tmp_path: Path) -> None:
    deck = write_deck(
        '[deck]\nname = "lazy"\n\n[[job]]\nname = "gate"\nshell = "sleep 30"\n\n'
        '[[job]]\nname = "big"\ncall = "tasks:identity"\non = "thread"\nafter = ["gate"]\n'
        f'each = {list(range(GROUP_SPEC_MIN_MEMBERS))}\nargs = ["{{item}}"]\n'
    )
    db = tmp_path / "journal.db"

    async def main() -> None:
        with Journal.open(db) as journal:
            engine = Engine()
            async with Recorder(engine, journal, flush_interval=60) as recorder, engine:
                await engine.add_deck(load_deck(deck))
                with anyio.fail_after(10):
                    while engine.jobs["lazy/gate"].state is not JobState.RUNNING:
                        await anyio.sleep(0.01)
                await recorder.flush()
                assert rows(db, "SELECT name, state FROM jobs") == [("gate", "running")], "members have no row yet"
                [run] = journal.unfinished_runs()
                assert run.counts == {"running": 1, "queued": GROUP_SPEC_MIN_MEMBERS}
                assert journal.history() == [run]
                jobs = journal.jobs(run.id)
                assert len(jobs) == GROUP_SPEC_MIN_MEMBERS + 1
                member = jobs["big[3]"]
                assert (member["state"], member["attempts"], member["attempt_list"]) == ("queued", 0, [])
                assert (member["spec"]["item"], member["kind"]) == (3, "call")
                await engine.cancel_all()

    anyio.run(main)
    with Journal.open(db) as journal:
        [run] = journal.history()
        assert run.counts == {"cancelled": GROUP_SPEC_MIN_MEMBERS + 1}
        assert journal.unfinished_runs() == []
        assert journal.jobs(run.id)["big[3]"]["spec"]["item"] == 3


def test_committed_revision_says_what_the_journal_has(write_deck: WriteDeck, tmp_path: Path) -> None:
    deck = write_deck('[deck]\nname = "rev"\n\n[[job]]\nname = "quick"\nshell = "true"\n')
    db = tmp_path / "journal.db"

    async def main() -> None:
        with Journal.open(db) as journal:
            engine = Engine()
            async with Recorder(engine, journal, flush_interval=60) as recorder, engine:
                await engine.add_deck(load_deck(deck))
                await engine.wait_until_settled()
                job = engine.jobs["rev/quick"]
                assert recorder.committed_revision < job.revision
                assert rows(db, "SELECT state FROM jobs") == []
                await recorder.flush()
                assert recorder.committed_revision >= job.revision
                assert rows(db, "SELECT state FROM jobs") == [("succeeded",)]

    anyio.run(main)


def test_a_version_1_journal_is_brought_up_to_date(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    connection = sqlite3.connect(db)
    connection.executescript(VERSION_1_SCHEMA)
    connection.executescript(
        "INSERT INTO schema_version VALUES (1);"
        "INSERT INTO decks VALUES ('d1', 'old', '/x/old.toml', 1.0, 7);"
        """INSERT INTO jobs (deck_id, name, kind, spec, state, updated_at) VALUES ('d1', 'a', 'shell', """
        """'{"summary": {"kind": "shell"}, "after": [], "group": null, "item": null, "line": 3}', 'running', 1.0);"""
    )
    connection.close()
    with Journal.open(db) as journal:
        assert journal.jobs("d1")["a"]["spec"]["line"] == 3
        assert journal.mark_interrupted() == 1
        [run] = journal.unfinished_runs()
        assert (run.name, run.counts) == ("old", {INTERRUPTED: 1})
    assert rows(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    assert rows(db, "SELECT name FROM sqlite_master WHERE name = 'jobs_by_state'") == []

    connection = sqlite3.connect(db)
    connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    connection.commit()
    connection.close()
    with pytest.raises(JournalError, match="written by a newer jobdeck"):
        Journal.open(db)


def test_a_version_2_journal_keeps_its_attempts_and_changes(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    connection = sqlite3.connect(db)
    connection.executescript(VERSION_1_SCHEMA.replace("CREATE INDEX jobs_by_state ON jobs (state);", ""))
    connection.executescript(
        "INSERT INTO schema_version VALUES (2);"
        "INSERT INTO decks VALUES ('d1', 'old', '/x/old.toml', 1.0, 7);"
        """INSERT INTO jobs (deck_id, name, kind, spec, state, attempts, updated_at) VALUES ('d1', 'a', 'shell', """
        """'{"summary": {"kind": "shell"}, "after": [], "group": null, "item": null, "line": 3}', 'running', 2, 1.0);"""
        "INSERT INTO attempts VALUES ('d1', 'a', 2, 3.0, NULL, NULL, NULL), ('d1', 'a', 1, 1.0, 2.0, 'failed', 'no');"
        "INSERT INTO state_changes VALUES ('d1', 'a', 'queued', 'running', 1, NULL, 1.0),"
        "('d1', 'a', 'running', 'retrying', 1, 'no', 2.0), ('d1', 'a', 'retrying', 'queued', 1, 'no', 2.5),"
        "('d1', 'a', 'queued', 'running', 2, NULL, 3.0);"
    )
    connection.close()
    with Journal.open(db) as journal:
        assert journal.mark_interrupted() == 1
        [job] = journal.jobs("d1").values()
    assert [(a["number"], a["outcome"], a["error"]) for a in job["attempt_list"]] == [
        (1, "failed", "no"),
        (2, INTERRUPTED, CUT_SHORT_ATTEMPT),
    ]
    assert rows(db, "SELECT new, attempt FROM state_changes ORDER BY seq") == [
        ("running", 1),
        ("retrying", 1),
        ("queued", 1),
        ("running", 2),
        (INTERRUPTED, 2),
    ]
    assert rows(db, "SELECT name FROM sqlite_master WHERE name LIKE 'old_%'") == []


def test_a_version_3_journal_gets_the_cheaper_unfinished_index(tmp_path: Path) -> None:
    """Version 4 tests a job's state against an OR of comparisons in the partial index: an IN list there cost
    every row written about 2 µs. A version 3 file keeps its rows and gets the new index, which queries use."""
    db = tmp_path / "v3.db"
    Journal.open(db).close()
    connection = sqlite3.connect(db)
    old_condition = "state IN ('queued', 'running', 'paused', 'retrying', 'interrupted')"
    connection.executescript(
        "DROP INDEX unfinished_jobs;"
        f"CREATE INDEX unfinished_jobs ON jobs (deck_id) WHERE {old_condition};"
        "UPDATE schema_version SET version = 3;"
        "INSERT INTO decks VALUES ('d1', 'old', '/x/old.toml', 1.0, 7, NULL);"
        "INSERT INTO jobs (deck_id, name, kind, spec, state, updated_at) "
        "VALUES ('d1', 'a', 'shell', '{}', 'running', 1.0);"
    )
    connection.close()
    with Journal.open(db) as journal:
        assert [(job.name, job.state) for job in journal.interrupted()] == [("a", "running")]
        plan = journal.connection.execute(f"EXPLAIN QUERY PLAN SELECT deck_id FROM jobs WHERE {UNFINISHED_SQL}")
        assert "USING INDEX unfinished_jobs" in plan.fetchall()[0][3]
    assert rows(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    [(index_sql,)] = rows(db, "SELECT sql FROM sqlite_master WHERE name = 'unfinished_jobs'")
    assert "IN (" not in index_sql and "state = 'interrupted'" in index_sql


VERSION_1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE decks (id TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL, loaded_at REAL NOT NULL, pid INTEGER);
CREATE INDEX decks_by_path ON decks (path, loaded_at);
CREATE TABLE jobs (
    deck_id TEXT NOT NULL REFERENCES decks (id), name TEXT NOT NULL, kind TEXT NOT NULL, spec TEXT NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT, result TEXT, output_tail TEXT,
    updated_at REAL NOT NULL, carried_over INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (deck_id, name)
) WITHOUT ROWID;
CREATE INDEX jobs_by_state ON jobs (state);
CREATE TABLE attempts (
    deck_id TEXT NOT NULL, job TEXT NOT NULL, number INTEGER NOT NULL, started_at REAL NOT NULL, ended_at REAL,
    outcome TEXT, error TEXT, PRIMARY KEY (deck_id, job, number)
) WITHOUT ROWID;
CREATE TABLE state_changes (
    deck_id TEXT NOT NULL, job TEXT NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL, attempt INTEGER NOT NULL,
    error TEXT, at REAL NOT NULL
);
"""


def test_decks_loaded_before_the_recorder_are_not_recorded(write_deck: WriteDeck, tmp_path: Path) -> None:
    before = write_deck('[deck]\nname = "before"\n\n[[job]]\nname = "x"\nshell = "sleep 0.2"\n', name="before.toml")
    after = write_deck('[deck]\nname = "after"\n\n[[job]]\nname = "y"\nshell = "true"\n', name="after.toml")
    db = tmp_path / "journal.db"

    async def main() -> None:
        with Journal.open(db) as journal:
            async with Engine() as engine:
                await engine.add_deck(load_deck(before))
                async with Recorder(engine, journal, flush_interval=0.01) as recorder:
                    await engine.wait_until_settled()
                    await recorder.flush()
                    await engine.add_deck(load_deck(after))
                    await engine.wait_until_settled()

    anyio.run(main)
    assert rows(db, "SELECT name FROM decks") == [("after",)]
    assert rows(db, "SELECT name, state FROM jobs") == [("y", "succeeded")]
    assert rows(db, "SELECT job, new FROM state_changes ORDER BY seq") == [("y", "running"), ("y", "succeeded")]


# --- the default journal of `jobdeck run` ------------------------------------------------------------------------


def default_journal_env(state_home: Path) -> dict[str, str]:
    environment = {**os.environ, "XDG_STATE_HOME": str(state_home)}
    environment.pop("JOBDECK_DB", None)
    return environment


def test_a_plain_run_is_journaled_so_a_later_resume_has_something_to_resume(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    deck = write_deck(
        f'[deck]\nname = "plain"\n\n[[job]]\nname = "ok"\nshell = "echo ok >> \'{marker}\'"\n\n'
        '[[job]]\nname = "broken"\nshell = "exit 3"\n'
    )
    environment = default_journal_env(tmp_path / "state")
    assert jobdeck("run", deck, env=environment).returncode == 1
    assert (tmp_path / "state" / "jobdeck" / "journal.db").exists()
    resumed = jobdeck("run", deck, "--resume", env=environment)
    assert "resuming plain: 1 of 2 jobs already succeeded" in resumed.stdout
    assert marker.read_text() == "ok\n"


def test_no_journal_records_nothing_and_an_unusable_default_only_warns(write_deck: WriteDeck, tmp_path: Path) -> None:
    deck = write_deck('[deck]\nname = "quiet"\n\n[[job]]\nname = "x"\nshell = "true"\n')
    environment = default_journal_env(tmp_path / "state")
    assert jobdeck("run", deck, "--no-journal", env=environment).returncode == 0
    assert not (tmp_path / "state").exists()
    (tmp_path / "blocked").write_text("a file where the state folder should be")
    result = jobdeck("run", deck, env=default_journal_env(tmp_path / "blocked"))
    assert result.returncode == 0, result.stderr
    assert "running without a journal" in result.stderr
    assert "Traceback" not in result.stderr


def test_rows_of_every_shape_in_one_batch_and_a_result_beyond_64_bits(write_deck: WriteDeck, tmp_path: Path) -> None:
    """Members of a big fan-out that succeed (the short row shape) and fail (the general shape, with an error),
    and a result beyond 64 bits, all written by one flush."""
    paths = [tmp_path / f"file-{number}" for number in range(60)]
    for path in paths[1::7]:
        path.write_text("")
    deck = write_deck(
        '[deck]\nname = "shapes"\nretries = 0\n\n'
        '[[job]]\nname = "look"\ncall = "tasks:fail_unless_exists"\non = "thread"\n'
        f"each = {json.dumps(list(map(str, paths)))}\n"
        'args = ["{item}"]\n\n'
        f'[[job]]\nname = "huge"\ncall = "tasks:add"\non = "thread"\nargs = [{2**62}, {2**62}]\n'
        "kwargs = { scale = 4 }\n"
    )
    db = tmp_path / "journal.db"
    record_in_one_flush(deck, db)
    with Journal.open(db) as journal:
        [run] = journal.history()
        jobs = journal.jobs(run.id)
    assert run.counts == {"succeeded": 10, "failed": 51}
    by_item = {job["spec"]["item"]: job for job in jobs.values() if job["name"] != "huge"}
    found, missing, huge = by_item[str(paths[1])], by_item[str(paths[2])], jobs["huge"]
    assert (found["state"], found["result"], found["attempts"], found["kind"]) == ("succeeded", "found", 1, "call")
    [attempt] = found["attempt_list"]
    assert (attempt["number"], attempt["outcome"], attempt["error"]) == (1, "succeeded", None)
    assert attempt["ended_at"] >= attempt["started_at"] > 0
    assert (missing["state"], missing["attempts"]) == ("failed", 1)
    assert "file-2 is not there yet" in missing["error"]
    assert [attempt["outcome"] for attempt in missing["attempt_list"]] == ["failed"]
    assert (huge["state"], huge["result"]) == ("succeeded", 2**65)
    changes = rows(db, "SELECT job, old, new FROM state_changes WHERE job IN (?, 'huge') ORDER BY seq", found["name"])
    assert sorted(changes) == [
        ("huge", "queued", "running"),
        ("huge", "running", "succeeded"),
        (found["name"], "queued", "running"),
        (found["name"], "running", "succeeded"),
    ]


def test_json_text_takes_what_orjson_refuses() -> None:
    assert json.loads(json_text([2**70, "é", None])) == [2**70, "é", None]
    assert json.loads(json_text([JobState.SUCCEEDED, 1.5])) == ["succeeded", 1.5]


def test_a_flush_of_many_common_rows_writes_each_of_them(write_deck: WriteDeck, tmp_path: Path) -> None:
    """The commonest rows go in through statements of a few fixed sizes (300 = 256 + 32 + 8 + 4): none is lost
    or written twice, and each keeps its own name, item, result and attempt."""
    members = 300
    deck = write_deck(
        '[deck]\nname = "many"\n\n'
        f'[[job]]\nname = "fan"\ncall = "tasks:identity"\non = "thread"\neach = {list(range(members))}\n'
        'args = ["{item}"]\n\n'
        + "".join(
            f'[[job]]\nname = "solo-{n}"\ncall = "tasks:identity"\non = "thread"\nargs = [{n}]\n\n' for n in (1, 2, 3)
        )
    )
    db = tmp_path / "journal.db"
    record_in_one_flush(deck, db)
    with Journal.open(db) as journal:
        [run] = journal.history()
        jobs = journal.jobs(run.id)
    assert run.counts == {"succeeded": members + 3}
    assert rows(db, "SELECT count(*), count(DISTINCT name) FROM jobs") == [(members + 3, members + 3)]
    for item in range(members):
        job = jobs[f"fan[{item}]"]
        assert (job["spec"]["item"], job["result"], job["kind"]) == (item, item, "call")
        assert [(a["number"], a["outcome"]) for a in job["attempt_list"]] == [(1, "succeeded")]
    assert [jobs[f"solo-{n}"]["result"] for n in (1, 2, 3)] == [1, 2, 3]
    assert jobs["solo-2"]["spec"]["line"] > 0


def test_common_rows_keep_each_item_result_and_attempt_time_exactly(write_deck: WriteDeck, tmp_path: Path) -> None:
    """Steps of common rows are made a whole step at a time, and SQLite builds part of each row; a step that
    mixes items a plain row cannot carry (a float, a bool) falls back to a row at a time. Every job
    keeps its own item and result, None results stay distinct from no result, and attempt times read back as
    the very floats the engine had. SQLite takes ints of up to 64 bits: a wider one (an item, a result) goes
    in as JSON."""
    mixed = [*range(55), 3.5, True, "text", -(2**63), 2**63 - 1]
    deck = write_deck(
        '[deck]\nname = "exact"\n\n'
        f'[[job]]\nname = "ints"\ncall = "tasks:identity"\non = "thread"\neach = {list(range(60))}\n'
        'args = ["{item}"]\n\n'
        f'[[job]]\nname = "mixed"\ncall = "tasks:identity"\non = "thread"\neach = {json.dumps(mixed)}\n'
        'args = ["{item}"]\n\n'
        f'[[job]]\nname = "nothing"\ncall = "tasks:nothing"\non = "thread"\neach = {list(range(60))}\n'
        'args = ["{item}"]\n\n'
        f'[[job]]\nname = "wide"\ncall = "tasks:identity"\non = "thread"\neach = {[*range(59), 2**64]}\n'
        'args = ["{item}"]\n\n'
        f'[[job]]\nname = "sums"\ncall = "tasks:add"\non = "thread"\neach = {list(range(60))}\n'
        f'args = ["{{item}}", {2**64}]\n'
    )
    db = tmp_path / "journal.db"
    engine_jobs = record_in_one_flush(deck, db)
    with Journal.open(db) as journal:
        [run] = journal.history()
        jobs = journal.jobs(run.id)
    assert run.counts == {"succeeded": 300}
    for engine_job in engine_jobs.values():
        job = jobs[engine_job.name]
        assert (job["state"], job["spec"]["item"]) == ("succeeded", engine_job.spec.item), job["name"]
        assert job["result"] == engine_job.result, job["name"]
        [attempt] = job["attempt_list"]
        [engine_attempt] = engine_job.attempts
        assert (attempt["started_at"], attempt["ended_at"]) == (engine_attempt.started_at, engine_attempt.ended_at)
    recorded = [jobs[job.name] for job in engine_jobs.values() if job.spec.group == "mixed"]
    # Types as well as values: True must not come back as 1, nor 3.5 as a string.
    assert [(job["spec"]["item"], job["result"]) for job in recorded] == [(item, item) for item in mixed]
    assert [type(job["result"]) for job in recorded] == list(map(type, mixed))
    assert [type(job["spec"]["item"]) for job in recorded] == list(map(type, mixed))
    [wide] = [jobs[job.name] for job in engine_jobs.values() if job.spec.item == 2**64]
    assert wide["result"] == wide["spec"]["item"] == 2**64
    assert sorted(job["result"] for job in jobs.values() if job["spec"]["group"] == "sums") == [
        2**64 + item for item in range(60)
    ]
    nothing = rows(db, "SELECT DISTINCT result FROM jobs WHERE name LIKE 'nothing[%'")
    assert nothing == [("null",)]  # a None result, not a missing one


def test_common_rows_are_named_by_their_job_in_each_run_of_a_deck_loaded_twice(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    """A common row's name is cut out of its engine job id (`deck/name`): by characters, not bytes, for a deck
    named beyond ASCII, and after the engine's own name for a deck loaded a second time (`déploiement#2`)."""
    members = GROUP_SPEC_MIN_MEMBERS + 2
    deck = load_deck(
        write_deck(
            '[deck]\nname = "déploiement"\n\n'
            f'[[job]]\nname = "fan"\ncall = "tasks:identity"\non = "thread"\neach = {list(range(members))}\n'
            'args = ["{item}"]\n\n'
            '[[job]]\nname = "solo"\ncall = "tasks:identity"\non = "thread"\nargs = [7]\n'
        )
    )
    db = tmp_path / "journal.db"

    async def main() -> None:
        with Journal.open(db) as journal:
            engine = Engine()
            async with Recorder(engine, journal, flush_interval=60) as recorder, engine:
                for _ in range(2):
                    await engine.add_deck(deck)
                await engine.wait_until_settled()
                assert set(engine.decks) == {"déploiement", "déploiement#2"}
                await recorder.flush()

    anyio.run(main)
    with Journal.open(db) as journal:
        runs = journal.history()
        assert len(runs) == 2
        for run in runs:
            jobs = journal.jobs(run.id)
            assert sorted(jobs) == sorted(["solo", *(f"fan[{item}]" for item in range(members))])
            assert jobs["solo"]["result"] == 7
            assert [jobs[f"fan[{item}]"]["result"] for item in range(members)] == list(range(members))
