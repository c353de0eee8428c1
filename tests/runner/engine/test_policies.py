"""Failure policies on the real engine with real shell jobs: `run_if` and `[deck] halt`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.model import JobState
from tests.helpers import process_alive, wait_for, wait_state

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]


async def settle(engine: Engine) -> None:
    with anyio.fail_after(30):
        await engine.wait_until_settled()


def states(engine: Engine) -> dict[str, JobState]:
    return {job.name: job.state for job in engine.jobs.values()}


async def test_run_if_runs_cleanups_on_failure_and_reports_always(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(
            write_deck("""
                [[job]]
                name = "ok"
                shell = "true"

                [[job]]
                name = "bad"
                shell = "exit 1"

                [[job]]
                name = "plain"
                shell = "true"
                after = ["bad"]

                [[job]]
                name = "cleanup"
                shell = "true"
                run_if = "failure"
                after = ["ok", "bad"]

                [[job]]
                name = "not-needed"
                shell = "true"
                run_if = "failure"
                after = ["ok"]

                [[job]]
                name = "report"
                shell = "true"
                run_if = "always"
                after = ["bad"]

                [[job]]
                name = "publish"
                shell = "true"
                run_if = "success"

                [[job]]
                name = "last"
                shell = "true"
                run_if = "always"
            """)
        )
        await settle(engine)
    assert states(engine) == {
        "ok": JobState.SUCCEEDED,
        "bad": JobState.FAILED,
        "plain": JobState.SKIPPED,
        "cleanup": JobState.SUCCEEDED,
        "not-needed": JobState.SKIPPED,
        "report": JobState.SUCCEEDED,
        "publish": JobState.SKIPPED,
        "last": JobState.SUCCEEDED,
    }
    assert engine.job("not-needed").error == "not run: run_if = failure, and the jobs it waits for all succeeded"
    assert engine.job("publish").error == "not run: 3 of the rest of the deck did not succeed (run_if = success)"
    assert ("run_if", "always, after the rest of the deck") in engine.spec_lines("deck/last")
    assert ("run_if", "failure") in engine.spec_lines("deck/cleanup")
    # Without after, a run_if job waits for every job of the deck that is not such a job.
    last_start = engine.job("last").attempts[0].started_at
    rest = [job for job in engine.jobs.values() if job.name not in ("last", "publish") and job.attempts]
    assert all(job.attempts[-1].ended_at <= last_start for job in rest)


async def test_a_deck_wide_run_if_job_waits_for_the_slowest_job_and_runs_again_after_a_retry(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    async with Engine() as engine:
        await engine.load(
            write_deck("""
                [[job]]
                name = "slow"
                shell = "while [ ! -f go ]; do sleep 0.02; done; test -f fixed"

                [[job]]
                name = "publish"
                shell = "true"
                run_if = "success"
            """)
        )
        await wait_state(engine, "slow", JobState.RUNNING)
        assert engine.job("publish").state is JobState.QUEUED
        (tmp_path / "go").touch()
        await settle(engine)
        assert states(engine) == {"slow": JobState.FAILED, "publish": JobState.SKIPPED}
        (tmp_path / "fixed").touch()
        await engine.retry("slow")
        await settle(engine)
    assert states(engine) == {"slow": JobState.SUCCEEDED, "publish": JobState.SUCCEEDED}


async def test_halt_after_failures_skips_the_rest_but_not_cleanups_and_retry_lifts_it(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(
            write_deck("""
                [deck]
                halt = "fail=2"
                shell_limit = 1

                [[job]]
                name = "bad"
                shell = "exit 1"
                each = [1, 2, 3]

                [[job]]
                name = "later"
                shell = "true"

                [[job]]
                name = "cleanup"
                shell = "true"
                run_if = "always"
            """)
        )
        await settle(engine)
        assert engine.halted == {"deck": "halted: 2 jobs failed"}
        assert states(engine) == {
            "bad[1]": JobState.FAILED,
            "bad[2]": JobState.FAILED,
            "bad[3]": JobState.SKIPPED,
            "later": JobState.SKIPPED,
            "cleanup": JobState.SUCCEEDED,
        }
        assert engine.job("later").error == "not run: halted: 2 jobs failed"
        await engine.retry("later")  # lifts the halt: what it skipped is queued again, and counting starts over
        assert engine.halted == {}
        await settle(engine)
        assert engine.halted == {}
        assert (engine.job("later").state, engine.job("bad[3]").state) == (JobState.SUCCEEDED, JobState.FAILED)


async def test_halt_now_cancels_running_jobs_and_leaves_no_process(write_deck: WriteDeck, tmp_path: Path) -> None:
    async with Engine(grace_period=2) as engine:
        await engine.load(
            write_deck("""
                [deck]
                halt = "now,fail=1"

                [[job]]
                name = "long"
                shell = "sleep 60 & echo $! > pid; wait"

                [[job]]
                name = "bad"
                shell = "while [ ! -s pid ]; do sleep 0.02; done; exit 1"

                [[job]]
                name = "cleanup"
                shell = "true"
                run_if = "failure"
            """)
        )
        await settle(engine)
    long = engine.job("long")
    assert long.state is JobState.CANCELLED
    assert long.error == "cancelled: halted: 1 job failed"
    assert engine.job("cleanup").state is JobState.SUCCEEDED
    sleeper = int((tmp_path / "pid").read_text())
    await wait_for(lambda: not process_alive(sleeper), what="the cancelled job's sleep ends")


async def test_halt_on_a_percentage_and_on_success(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(
            write_deck("""
                [deck]
                name = "quarter"
                halt = "fail=25%"
                shell_limit = 1

                [[job]]
                name = "try"
                shell = "test $JOBDECK_ITEM -ge 10"
                each = [10, 1, 2, 20, 30, 40, 50, 60]
            """)
        )
        await engine.load(
            write_deck(
                """
                [deck]
                name = "first"
                halt = "success=1"
                shell_limit = 1

                [[job]]
                name = "mirror"
                shell = "exit $JOBDECK_ITEM"
                each = [3, 0, 4]
                """,
                name="first.toml",
            )
        )
        await settle(engine)
    quarter = [job.state for job in engine.jobs_of("quarter")]
    assert quarter[:3] == [JobState.SUCCEEDED, JobState.FAILED, JobState.FAILED]
    assert set(quarter[3:]) == {JobState.SKIPPED}
    assert engine.halted["quarter"] == "halted: 2 jobs failed (25% of 8)"
    assert [job.state for job in engine.jobs_of("first")] == [JobState.FAILED, JobState.SUCCEEDED, JobState.SKIPPED]
    assert engine.halted["first"] == "halted: 1 job succeeded"


async def test_a_job_added_after_a_deck_wide_job_runs_after_it(write_deck: WriteDeck) -> None:
    from runner.model import JobSpec, Kind, ShellSpec

    async with Engine() as engine:
        await engine.load(
            write_deck(
                '[[job]]\nname = "a"\nshell = "true"\n\n[[job]]\nname = "report"\nshell = "true"\nrun_if = "always"\n'
            )
        )
        await wait_state(engine, "a", JobState.RUNNING, JobState.SUCCEEDED)
        spec = JobSpec(name="mail", kind=Kind.SHELL, work=ShellSpec("true"), after=("report",))
        await engine.add_jobs("deck", [spec])
        await settle(engine)
    assert states(engine) == dict.fromkeys(["a", "report", "mail"], JobState.SUCCEEDED)
    assert engine.job("mail").attempts[0].started_at >= engine.job("report").attempts[0].ended_at
