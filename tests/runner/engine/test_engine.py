"""The engine's scheduling: states, retries, dependencies, fan-out, hold-back, dispatching and events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.engine import engine as engine_module
from runner.engine.engine import Engine
from runner.engine.events import ChangeLogEntry, DeckLoaded, OutputAdded, ProgressChanged, StateChanged
from runner.errors import CommandError
from runner.model import JobState
from tests.helpers import wait_for, wait_state

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]


async def run_deck(path: Path) -> Engine:
    async with Engine() as engine:
        await engine.load(path)
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    return engine


async def test_every_kind_succeeds_with_its_result(write_deck: WriteDeck, server_url: str) -> None:
    engine = await run_deck(
        write_deck(f"""
            [[job]]
            name = "sum"
            call = "tasks:add"
            args = [2, 3]
            kwargs = {{ scale = 10 }}

            [[job]]
            name = "sum-on-thread"
            call = "tasks:add"
            args = [1, 1]
            on = "thread"

            [[job]]
            name = "hello"
            shell = "echo hello; echo oops >&2"

            [[job]]
            name = "page"
            fetch = "{server_url}/page/7"
        """)
    )
    states = {job.name: job.state for job in engine.jobs.values()}
    assert states == dict.fromkeys(["sum", "sum-on-thread", "hello", "page"], JobState.SUCCEEDED)
    assert engine.job("sum").result == 50
    assert engine.job("sum-on-thread").result == 2
    assert [(line.stream, line.text) for line in engine.job("hello").output] == [
        ("stdout", "hello"),
        ("stderr", "oops"),
    ]
    assert engine.job("page").result["status"] == 200
    assert all(len(job.attempts) == 1 for job in engine.jobs.values())


async def test_a_failing_call_keeps_its_traceback_and_is_retried(write_deck: WriteDeck) -> None:
    engine = await run_deck(
        write_deck("""
            [[job]]
            name = "broken"
            call = "tasks:fail"
            args = ["no luck"]
            retries = 2
            backoff = 0.01
        """)
    )
    job = engine.job("broken")
    assert job.state is JobState.FAILED
    assert job.error == "ValueError: no luck"
    assert "tasks.py" in job.traceback and "raise ValueError(message)" in job.traceback
    assert [attempt.outcome for attempt in job.attempts] == [JobState.FAILED] * 3
    assert all(attempt.error == "ValueError: no luck" for attempt in job.attempts)


async def test_a_shell_job_fails_on_a_non_zero_exit(write_deck: WriteDeck) -> None:
    engine = await run_deck(write_deck('[[job]]\nname = "bad"\nshell = "echo about to fail; exit 3"'))
    job = engine.job("bad")
    assert job.state is JobState.FAILED
    assert job.error == "exited with status 3"
    assert job.output[-1].text == "about to fail"


async def test_a_crashing_worker_fails_its_job_and_the_pool_goes_on(write_deck: WriteDeck) -> None:
    engine = await run_deck(
        write_deck("""
            [deck]
            process_limit = 1

            [[job]]
            name = "crash"
            call = "tasks:crash"
            args = [7]

            [[job]]
            name = "after-crash"
            call = "tasks:add"
            args = [1, 2]
        """)
    )
    assert engine.job("crash").state is JobState.FAILED
    assert engine.job("crash").error == "worker process died while running the job: exited with status 7"
    assert engine.job("after-crash").state is JobState.SUCCEEDED
    assert engine.job("after-crash").result == 3


async def test_fan_out_makes_one_job_per_item_with_the_item_typed(write_deck: WriteDeck) -> None:
    engine = await run_deck(
        write_deck("""
            [[job]]
            name = "echo"
            call = "tasks:identity"
            args = ["{item}"]
            on = "thread"
            each = [1, "two", 3.5]

            [[job]]
            name = "greet"
            shell = "echo item-{item} $JOBDECK_ITEM"
            each = ["a", "b"]
        """)
    )
    assert [job.name for job in engine.jobs.values()] == ["echo[1]", "echo[two]", "echo[3.5]", "greet[a]", "greet[b]"]
    assert [engine.job(f"echo[{item}]").result for item in (1, "two", 3.5)] == [1, "two", 3.5]
    assert engine.job("greet[b]").output[-1].text == "item-b b"


async def test_dependencies_wait_and_a_failure_skips_dependents(write_deck: WriteDeck, tmp_path: Path) -> None:
    engine = await run_deck(
        write_deck("""
            [[job]]
            name = "first"
            shell = "sleep 0.2; touch first.done"

            [[job]]
            name = "second"
            shell = "test -f first.done"
            after = ["first"]

            [[job]]
            name = "doomed"
            shell = "exit 1"

            [[job]]
            name = "never"
            shell = "touch never.ran"
            after = ["doomed", "second"]

            [[job]]
            name = "never-either"
            shell = "true"
            after = ["never"]
        """)
    )
    assert engine.job("second").state is JobState.SUCCEEDED
    assert engine.job("never").state is JobState.SKIPPED
    assert engine.job("never").error == "not run: doomed failed"
    assert engine.job("never-either").state is JobState.SKIPPED
    assert engine.job("never").attempts == []
    assert not (tmp_path / "never.ran").exists()


async def test_waiting_on_a_fan_out_waits_for_all_its_items(write_deck: WriteDeck, tmp_path: Path) -> None:
    engine = await run_deck(
        write_deck("""
            [[job]]
            name = "part"
            shell = "sleep 0.{item}; touch part-{item}"
            each = [1, 2, 3]

            [[job]]
            name = "all"
            shell = "ls part-1 part-2 part-3"
            after = ["part"]
        """)
    )
    assert engine.job("all").state is JobState.SUCCEEDED
    assert engine.job("all").spec.after == ("part[1]", "part[2]", "part[3]")


async def test_retry_requeues_a_finished_job_and_its_skipped_dependents(write_deck: WriteDeck, tmp_path: Path) -> None:
    marker = tmp_path / "ready"
    async with Engine() as engine:
        await engine.load(
            write_deck(f"""
                [[job]]
                name = "needs-marker"
                call = "tasks:fail_unless_exists"
                args = ["{marker}"]
                on = "thread"

                [[job]]
                name = "then"
                shell = "echo then"
                after = ["needs-marker"]
            """)
        )
        await engine.wait_until_settled()
        assert engine.job("needs-marker").state is JobState.FAILED
        assert engine.job("then").state is JobState.SKIPPED

        marker.touch()
        await engine.retry("needs-marker")
        assert engine.job("then").state is JobState.QUEUED
        await engine.wait_until_settled()
        job = engine.job("needs-marker")
        assert job.state is JobState.SUCCEEDED
        assert job.error is None
        assert [attempt.outcome for attempt in job.attempts] == [JobState.FAILED, JobState.SUCCEEDED]
        assert engine.job("then").state is JobState.SUCCEEDED


async def test_retry_failed_retries_only_failed_jobs(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(
            write_deck("""
                [[job]]
                name = "ok"
                shell = "true"

                [[job]]
                name = "bad"
                shell = "exit 1"
            """)
        )
        await engine.wait_until_settled()
        assert await engine.retry_failed() == 1
        await engine.wait_until_settled()
        assert len(engine.job("bad").attempts) == 2
        assert len(engine.job("ok").attempts) == 1


async def test_commands_that_do_not_apply_are_refused_clearly(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(write_deck('[[job]]\nname = "quick"\nshell = "true"'))
        await engine.wait_until_settled()
        with pytest.raises(CommandError, match="cannot pause quick: it is succeeded"):
            await engine.pause("quick")
        with pytest.raises(CommandError, match="cannot cancel quick"):
            await engine.cancel("quick")
        with pytest.raises(CommandError, match="not paused"):
            await engine.resume("quick")
        with pytest.raises(CommandError, match="no job named 'nope'"):
            await engine.pause("nope")
        await engine.load(write_deck('[[job]]\nname = "slow"\nshell = "sleep 5"', name="other.toml"))
        await wait_state(engine, "slow", JobState.RUNNING)
        with pytest.raises(CommandError, match="only finished jobs can be retried"):
            await engine.retry("slow")
        await engine.cancel("slow")


async def test_a_held_queued_job_waits_until_resumed(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(
            write_deck("""
                [deck]
                shell_limit = 1

                [[job]]
                name = "blocker"
                shell = "sleep 0.3"

                [[job]]
                name = "held"
                shell = "true"

                [[job]]
                name = "free"
                shell = "true"
            """)
        )
        await engine.pause("held")
        assert engine.job("held").state is JobState.PAUSED
        await wait_state(engine, "free", JobState.SUCCEEDED)
        assert engine.job("held").state is JobState.PAUSED
        assert engine.job("held").attempts == []
        await engine.resume("held")
        assert engine.job("held").state is JobState.QUEUED
        await wait_state(engine, "held", JobState.SUCCEEDED)


async def test_a_held_job_can_be_cancelled(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(
            write_deck(
                '[deck]\nshell_limit = 1\n[[job]]\nname = "a"\nshell = "sleep 0.2"\n[[job]]\nname = "b"\nshell = "true"'
            )
        )
        await engine.pause("b")
        await engine.cancel("b")
        await engine.wait_until_settled()
        assert engine.job("b").state is JobState.CANCELLED
        assert engine.job("b").error == "cancelled"
        assert engine.job("a").state is JobState.SUCCEEDED


async def test_pause_all_stops_dispatching_but_not_running_jobs(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.pause_all()
        await engine.load(write_deck('[[job]]\nname = "waits"\nshell = "true"'))
        await anyio.sleep(0.3)
        assert engine.job("waits").state is JobState.QUEUED
        await engine.resume_all()
        await wait_state(engine, "waits", JobState.SUCCEEDED)

        await engine.load(write_deck('[[job]]\nname = "running"\nshell = "sleep 0.3"', name="two.toml"))
        await wait_state(engine, "running", JobState.RUNNING)
        await engine.pause_all()
        await wait_state(engine, "running", JobState.SUCCEEDED)
        assert not engine.dispatching


async def test_limits_bound_how_many_jobs_of_a_kind_run_at_once(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(
            write_deck("""
                [deck]
                shell_limit = 2

                [[job]]
                name = "nap"
                shell = "sleep 0.2"
                each = [1, 2, 3, 4, 5]
            """)
        )
        most_running = 0
        with anyio.fail_after(10):
            while not engine.settled:
                running = sum(1 for job in engine.jobs.values() if job.state is JobState.RUNNING)
                most_running = max(most_running, running)
                await anyio.sleep(0.01)
        assert most_running == 2


async def test_queued_jobs_start_in_deck_order(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(
            write_deck('[deck]\nshell_limit = 1\n[[job]]\nname = "n"\nshell = "true"\neach = [1, 2, 3, 4, 5, 6]')
        )
        await engine.wait_until_settled()
        started = sorted(engine.jobs.values(), key=lambda job: job.attempts[0].started_at)
        assert [job.name for job in started] == [f"n[{i}]" for i in range(1, 7)]
        assert [job.finished_seq for job in started] == sorted(job.finished_seq for job in started)


async def test_every_observer_sees_every_state_change_in_order(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        first, second = engine.subscribe(), engine.subscribe()
        await engine.load(write_deck('[[job]]\nname = "flaky"\nshell = "exit 1"\nretries = 1\nbackoff = 0.01'))
        await engine.wait_until_settled()
        for subscription in (first, second):
            events = []
            while True:
                try:
                    events.append(subscription.receive_nowait())
                except anyio.WouldBlock:
                    break
            assert isinstance(events[0], DeckLoaded)
            changes = [(e.old, e.new) for e in events if isinstance(e, StateChanged)]
            assert changes == [
                (JobState.QUEUED, JobState.RUNNING),
                (JobState.RUNNING, JobState.RETRYING),
                (JobState.RETRYING, JobState.QUEUED),
                (JobState.QUEUED, JobState.RUNNING),
                (JobState.RUNNING, JobState.FAILED),
            ]
            subscription.close()


async def test_changed_since_returns_only_jobs_changed_after_a_revision(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(write_deck('[[job]]\nname = "a"\nshell = "true"\n[[job]]\nname = "b"\nshell = "sleep 5"'))
        await wait_state(engine, "a", JobState.SUCCEEDED)
        await wait_state(engine, "b", JobState.RUNNING)
        revision = engine.revision
        assert engine.changed_since(revision) == []
        await engine.cancel("b")
        await wait_for(lambda: engine.job("b").state is JobState.CANCELLED)
        assert [job.name for job in engine.changed_since(revision)] == ["b"]


async def test_changed_since_finds_the_same_jobs_as_a_look_at_every_job_however_far_behind(
    write_deck: WriteDeck, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It looks only at the jobs changed last (RECENT_CHANGES of them), and at every job for a viewer further
    behind; forgotten jobs are in neither."""
    monkeypatch.setattr(engine_module, "RECENT_CHANGES", 5)
    deck = '[deck]\nname = "{name}"\n[[job]]\nname = "n"\nshell = "true"\neach = [1, 2, 3, 4, 5, 6, 7, 8]\n'
    async with Engine() as engine:
        await engine.pause_all()
        await engine.load(write_deck(deck.format(name="first"), name="first.toml"))
        await engine.load(write_deck(deck.format(name="second"), name="second.toml"))
        seen = list(range(-1, engine.revision + 1))
        for job in list(engine.jobs.values())[::3]:
            await engine.pause(job)
            seen.append(engine.revision)
            await engine.resume(job)
        await engine.resume_all()
        await wait_for(lambda: all(job.state.finished for job in engine.jobs.values()))
        await engine.forget("first")

        def every_job(revision: int) -> list[str]:
            return [job.id for job in engine.jobs.values() if job.revision > revision]

        for revision in [*seen, engine.revision - 3, engine.revision]:
            assert [job.id for job in engine.changed_since(revision)] == every_job(revision), revision
        assert engine._recent_floor > 0, "some changes were older than the recent ones"


async def test_a_wait_for_change_ends_at_the_next_change_of_any_kind(write_deck: WriteDeck) -> None:
    """Dispatching, a job and a forgotten deck each move the revision, and each wakes what waits for it."""
    path = write_deck('[deck]\nname = "one"\n[[job]]\nname = "a"\nshell = "true"')
    async with Engine() as engine:
        await engine.wait_for_change(engine.revision - 1)  # moved already: at once

        async def woken_by(change: Callable[[], object]) -> int:
            revision = engine.revision
            woke: list[int] = []

            async def wait() -> None:
                await engine.wait_for_change(revision)
                woke.append(engine.revision)

            with anyio.fail_after(10):
                async with anyio.create_task_group() as group:
                    group.start_soon(wait)
                    await anyio.wait_all_tasks_blocked()
                    assert not woke, "woken before any change"
                    await change()  # type: ignore[misc]
            return woke[0] - revision

        assert await woken_by(engine.pause_all) == 1
        assert await woken_by(lambda: engine.load(path)) >= 1
        await engine.resume_all()
        await engine.wait_until_settled()
        assert await woken_by(lambda: engine.forget("one")) == 1


async def test_leaving_the_engine_cancels_what_still_runs(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(write_deck('[[job]]\nname = "long"\nshell = "sleep 30"'))
        await wait_state(engine, "long", JobState.RUNNING)
    assert engine.job("long").state is JobState.CANCELLED
    assert engine.job("long").error == "cancelled: jobdeck stopped"


async def test_loading_the_same_deck_twice_keeps_both(write_deck: WriteDeck) -> None:
    path = write_deck('[deck]\nname = "twice"\n[[job]]\nname = "a"\nshell = "true"')
    async with Engine() as engine:
        await engine.load(path)
        second = await engine.load(path)
        await engine.wait_until_settled()
    assert second.name == "twice#2"
    assert sorted(engine.jobs) == ["twice#2/a", "twice/a"]


async def test_a_process_job_reports_progress_and_output(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        events = engine.subscribe()
        await engine.load(write_deck('[[job]]\nname = "steps"\ncall = "tasks:report_progress"\nargs = [50]'))
        await engine.wait_until_settled()
        job = engine.job("steps")
        assert job.result == "done"
        assert job.progress is not None and (job.progress.done, job.progress.total) == (50, 50)
        assert [line.text for line in job.output] == ["all steps reported"]
        received = []
        while True:
            try:
                received.append(events.receive_nowait())
            except anyio.WouldBlock:
                break
        assert any(isinstance(event, ProgressChanged) and event.done == 50 for event in received)
        assert any(isinstance(event, OutputAdded) and event.text == "all steps reported" for event in received)


async def test_an_unpicklable_result_is_kept_as_its_repr(write_deck: WriteDeck) -> None:
    engine = await run_deck(write_deck('[[job]]\nname = "odd"\ncall = "tasks:unpicklable"'))
    job = engine.job("odd")
    assert job.state is JobState.SUCCEEDED
    assert repr(job.result).startswith("<function unpicklable.<locals>.<lambda>")


async def test_the_change_log_keeps_every_change_of_state_until_taken(write_deck: WriteDeck) -> None:
    deck = write_deck("""
        [[job]]
        name = "first"
        shell = "true"

        [[job]]
        name = "second"
        shell = "false"
        after = ["first"]
    """)
    async with Engine() as engine:
        assert engine.take_changes() == []  # off until enabled
        engine.enable_change_log()
        await engine.load(deck)
        with anyio.fail_after(30):
            await engine.wait_until_settled()
        changes = engine.take_changes()
        assert engine.take_changes() == []
    first = [change for change in changes if change.job_id == engine.job("first").id]
    assert [(change.old, change.new, change.attempt) for change in first] == [
        (JobState.QUEUED, JobState.RUNNING, 1),
        (JobState.RUNNING, JobState.SUCCEEDED, 1),
    ]
    second = [change for change in changes if change.job_id == engine.job("second").id]
    assert [(change.old, change.new, change.attempt) for change in second] == [
        (JobState.QUEUED, JobState.RUNNING, 1),
        (JobState.RUNNING, JobState.FAILED, 1),
    ]
    assert second[-1].error == engine.job("second").error
    times = [change.at for change in changes]
    assert times == sorted(times)
    assert all(isinstance(change, ChangeLogEntry) for change in changes)
