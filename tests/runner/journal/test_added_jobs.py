"""What the server keeps of jobs added from a shell (runner.journal.added_jobs), and the journal's record of them:
private files, a line a killed server left half-written, an added job undone, files of finished runs removed,
and a run's job count that includes its added jobs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import anyio
import pytest

from runner.deck.single_job import job_text, read_single_job
from runner.engine.engine import Engine
from runner.journal.added_jobs import AddedJob, AddedJobs, run_deck
from runner.journal.environments import EnvironmentFiles, SubmittedEnvironment
from runner.journal.recorder import Recorder
from runner.journal.store import Journal
from runner.model import JobState
from tests.helpers import wait_state


def store(tmp_path: Path) -> AddedJobs:
    return AddedJobs(tmp_path / "journal.db.added", EnvironmentFiles(tmp_path / "env" / "x" / "jobs"))


def shell(
    name: str, command: str, folder: Path, after: tuple[str, ...] = (), environment: str | None = None
) -> AddedJob:
    return AddedJob(name, job_text({"name": name, "shell": command}), str(folder), after, environment)


def test_a_deck_started_by_add_is_read_back_from_its_private_file(tmp_path: Path) -> None:
    added = store(tmp_path)
    own = added.save_environment(SubmittedEnvironment({"WHO": "other"}, 0o027))
    assert own is not None
    added.append("abc123", shell("first", "true", tmp_path))
    added.append("abc123", shell("second", "echo $WHO", tmp_path, ("first",), own))
    path = added.deck_file("abc123")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(added.folder.stat().st_mode) == 0o700
    with open(path, "ab") as file:
        file.write(b'{"v": 1, "name": "torn", "te')  # a server killed in the middle of a line never replied

    read = run_deck(added, "abc123", "adhoc", path, {"WHO": "deck"}, 0o022)
    assert [spec.name for spec in read.deck.jobs] == ["first", "second"]
    assert read.deck.jobs[1].after == ("first",)
    assert read.deck.jobs[1].work.cwd == tmp_path  # type: ignore[attr-defined]
    assert read.environments == {"second": ({"WHO": "other"}, 0o027)}
    assert read.problems == [] and read.lost_environments == 0


def test_an_undone_addition_and_the_files_of_finished_runs_leave_nothing_behind(tmp_path: Path) -> None:
    added = store(tmp_path)
    size = added.append("aa", shell("kept", "true", tmp_path))
    own = added.save_environment(SubmittedEnvironment({"A": "1"}, None))
    refused = added.append("aa", shell("refused", "true", tmp_path, environment=own))
    assert refused > size
    added.take_back("aa", refused)
    assert [job.name for job in added.read("aa")] == ["kept"]

    other = added.save_environment(SubmittedEnvironment({"B": "2"}, None))
    added.append("bb", shell("done", "true", tmp_path, environment=other))
    added.remove_stale([added.deck_file("aa")])  # bb's run has finished: it is not restored
    assert added.read("bb") == [] and [job.name for job in added.read("aa")] == ["kept"]
    assert added.environments.run_ids() == set()  # neither environment is named by a kept line


def test_an_added_job_that_no_longer_reads_is_left_out_and_said_so(tmp_path: Path) -> None:
    added = store(tmp_path)
    (tmp_path / "gone_soon.py").write_text("def f():\n    return 1\n")
    added.append("cc", AddedJob("call", job_text({"name": "call", "call": "gone_soon:f"}), str(tmp_path)))
    added.append("cc", shell("after-call", "true", tmp_path, ("call",)))
    (tmp_path / "gone_soon.py").unlink()
    read = run_deck(added, "cc", "adhoc", added.deck_file("cc"), None)
    assert read.deck.jobs == ()
    assert "added job 'call' of adhoc not restored: module 'gone_soon' not found" in read.problems[0]
    assert read.problems[1] == "added job 'after-call' of adhoc not restored: it waits for call"


@pytest.mark.anyio
async def test_the_journal_counts_added_jobs_in_their_run_beside_members_that_have_no_row_yet(tmp_path: Path) -> None:
    deck = tmp_path / "d.toml"
    items = ", ".join(map(str, range(60)))  # a big fan-out: its queued members get no row until they change
    deck.write_text(
        f'[[job]]\nname = "gate"\nshell = "while [ ! -e {tmp_path}/go ]; do sleep 0.02; done"\n\n'
        f'[[job]]\nname = "n"\nshell = "true"\neach = [{items}]\nafter = ["gate"]\n'
    )
    with Journal.open(tmp_path / "journal.db") as journal:
        engine = Engine()
        async with Recorder(engine, journal) as recorder, engine:
            await engine.load(deck)
            await wait_state(engine, "d/gate", JobState.RUNNING)
            await recorder.flush()
            added = [read_single_job(job_text({"name": name, "shell": "true"}), tmp_path, os.environ) for name in "bc"]
            jobs = await engine.add_jobs("d", added)
            recorder.jobs_added("d", jobs)
            await wait_state(engine, "d/c", JobState.SUCCEEDED)
            await recorder.flush()
            (run,) = journal.history()
            assert run.counts == {"running": 1, "queued": 60, "succeeded": 2}
            (tmp_path / "go").touch()
            with anyio.fail_after(10):
                await engine.wait_until_settled()
        (run,) = journal.history()
        assert run.counts == {"succeeded": 63}
        assert {"b", "c"} <= set(journal.jobs(run.id))
        assert journal.unfinished_runs() == []
