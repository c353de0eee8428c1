"""Restoring a deck from what a journal recorded, and running each deck in the environment it came with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.model import Attempt, JobState, OutputLine, RestoredJob

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]

CHAIN = """
[deck]
name = "chain"

[[job]]
name = "first"
shell = "echo first >> {log}"

[[job]]
name = "second"
shell = "echo second >> {log}"
after = ["first"]

[[job]]
name = "third"
shell = "echo third >> {log}"
after = ["second"]
"""


async def test_finished_jobs_stay_finished_and_the_rest_run_again(write_deck: WriteDeck, tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    deck = load_deck(write_deck(CHAIN.format(log=log)))
    earlier = Attempt(number=1, started_at=1.0, ended_at=2.0, outcome=JobState.SUCCEEDED)
    cut_short = Attempt(number=1, started_at=3.0, ended_at=4.0, outcome=None, error="interrupted")
    restored = {
        "first": RestoredJob(JobState.SUCCEEDED, [earlier], result=None, output=[OutputLine("stdout", "old")]),
        "second": RestoredJob(JobState.QUEUED, [cut_short], note="interrupted: queued again"),
    }
    async with Engine() as engine:
        await engine.add_deck(deck, restored=restored)
        first = engine.jobs["chain/first"]
        assert first.state is JobState.SUCCEEDED
        assert [line.text for line in first.output] == ["old"]
        assert first.finished_seq > 0
        with anyio.fail_after(10):
            await engine.wait_until_settled()
    assert log.read_text().split() == ["second", "third"]
    second = engine.jobs["chain/second"]
    assert second.state is JobState.SUCCEEDED
    assert [attempt.number for attempt in second.attempts] == [1, 2]
    assert engine.counts()[JobState.SUCCEEDED] == 3


async def test_a_restored_failure_skips_its_dependents(write_deck: WriteDeck, tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    deck = load_deck(write_deck(CHAIN.format(log=log)))
    restored = {"first": RestoredJob(JobState.FAILED, error="exit status 1")}
    async with Engine() as engine:
        await engine.add_deck(deck, restored=restored)
        with anyio.fail_after(10):
            await engine.wait_until_settled()
    assert not log.exists()
    assert engine.jobs["chain/first"].error == "exit status 1"
    assert [engine.jobs[f"chain/{name}"].state for name in ("second", "third")] == [JobState.SKIPPED] * 2


async def test_each_deck_runs_in_the_environment_it_was_loaded_with(write_deck: WriteDeck, tmp_path: Path) -> None:
    path = write_deck(
        """
        [[job]]
        name = "show"
        shell = "echo $GREETING"
        """
    )
    async with Engine(environ={"PATH": "/usr/bin:/bin", "GREETING": "engine"}) as engine:
        mine = await engine.load(path, environ={"PATH": "/usr/bin:/bin", "GREETING": "client"})
        theirs = await engine.load(path)
        with anyio.fail_after(10):
            await engine.wait_until_settled()
    assert [line.text for line in engine.jobs[f"{mine.name}/show"].output] == ["client"]
    assert [line.text for line in engine.jobs[f"{theirs.name}/show"].output] == ["engine"]


async def test_a_restored_job_keeps_its_spent_retries_but_not_the_attempt_a_dead_server_cut_short(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    """Attempt #1 failed and was retried; #2 was under way when the server died. Of `retries = 2`, one is spent:
    #3 and #4 run (and fail), not #3, #4 and #5. Once #3 runs, the job says no more that it was run again."""
    tries = tmp_path / "tries.log"
    deck = load_deck(
        write_deck(
            f"""
            [deck]
            name = "flappy"
            backoff = 0.01

            [[job]]
            name = "fails"
            shell = "echo try >> {tries}; sleep 0.3; exit 3"
            retries = 2
            """
        )
    )
    failed = Attempt(number=1, started_at=1.0, ended_at=2.0, outcome=JobState.FAILED, error="exit status 3")
    cut_short = Attempt(number=2, started_at=3.0, ended_at=4.0, outcome=None, error="interrupted while running")
    restored = {"fails": RestoredJob(JobState.QUEUED, [failed, cut_short], note="run again as attempt #3")}
    async with Engine() as engine:
        await engine.add_deck(deck, restored=restored)
        job = engine.jobs["flappy/fails"]
        with anyio.fail_after(10):
            while not tries.exists():
                await anyio.sleep(0.01)
        assert job.state is JobState.RUNNING and job.note is None
        with anyio.fail_after(20):
            await engine.wait_until_settled()
    assert job.state is JobState.FAILED
    assert [attempt.number for attempt in job.attempts] == [1, 2, 3, 4]
    assert tries.read_text().split() == ["try", "try"]
