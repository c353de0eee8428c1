"""Pause, resume, cancel and timeouts reach the real work: processes stop, files stop growing, nothing is left."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.model import JobState
from tests.helpers import file_size_after, process_alive, wait_for, wait_state

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]

SHELL_WRITER = "echo $$ > {pid}; while true; do echo x >> {out}; sleep 0.02; done"


async def read_pid(path: Path) -> int:
    await wait_for(lambda: path.exists() and path.read_text().strip() != "")
    return int(path.read_text())


async def assert_grows(path: Path) -> None:
    before, after = await file_size_after(path, 0.3)
    assert after > before, "the work should be running"


async def assert_still(path: Path) -> None:
    await anyio.sleep(0.1)  # let writes already under way land
    before, after = await file_size_after(path, 0.4)
    assert after == before, "the work should be stopped"


async def test_pausing_a_shell_job_stops_its_processes_and_resume_continues(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    out, pid_file = tmp_path / "out.txt", tmp_path / "pid"
    async with Engine() as engine:
        await engine.load(
            write_deck(f'[[job]]\nname = "writer"\nshell = "{SHELL_WRITER.format(pid=pid_file, out=out)}"')
        )
        await wait_state(engine, "writer", JobState.RUNNING)
        await read_pid(pid_file)
        await assert_grows(out)
        await engine.pause("writer")
        assert engine.job("writer").state is JobState.PAUSED
        await assert_still(out)
        await engine.resume("writer")
        assert engine.job("writer").state is JobState.RUNNING
        await assert_grows(out)
        await engine.cancel("writer")


async def test_pausing_a_process_job_stops_its_worker(write_deck: WriteDeck, tmp_path: Path) -> None:
    out, pid_file = tmp_path / "out.txt", tmp_path / "pid"
    async with Engine() as engine:
        await engine.load(
            write_deck(f'[[job]]\nname = "writer"\ncall = "tasks:append_forever"\nargs = ["{out}", "{pid_file}"]')
        )
        await read_pid(pid_file)
        await assert_grows(out)
        await engine.pause("writer")
        await assert_still(out)
        await engine.resume("writer")
        await assert_grows(out)
        await engine.cancel("writer")


async def test_cancelling_a_paused_shell_job_leaves_no_process(write_deck: WriteDeck, tmp_path: Path) -> None:
    out, pid_file = tmp_path / "out.txt", tmp_path / "pid"
    command = f"sleep 60 & echo $! > {pid_file}; wait"
    async with Engine(grace_period=1.0) as engine:
        await engine.load(write_deck(f'[[job]]\nname = "sleeper"\nshell = "{command}"'))
        sleep_pid = await read_pid(pid_file)
        await engine.pause("sleeper")
        await engine.cancel("sleeper")
        job = await wait_state(engine, "sleeper", JobState.CANCELLED)
        assert job.attempts[-1].outcome is JobState.CANCELLED
        await wait_for(lambda: not process_alive(sleep_pid), timeout=3)
    assert not out.exists()


async def test_a_shell_that_ignores_sigterm_is_killed_after_the_grace_period(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    command = f"trap '' TERM; echo $$ > {pid_file}; while true; do sleep 0.05; done"
    async with Engine(grace_period=0.3) as engine:
        await engine.load(write_deck(f'[[job]]\nname = "stubborn"\nshell = "{command}"'))
        pid = await read_pid(pid_file)
        await engine.cancel("stubborn")
        await wait_state(engine, "stubborn", JobState.CANCELLED, timeout=5)
        assert not process_alive(pid)


async def test_cancelling_a_process_job_kills_its_worker(write_deck: WriteDeck, tmp_path: Path) -> None:
    out, pid_file = tmp_path / "out.txt", tmp_path / "pid"
    async with Engine() as engine:
        await engine.load(
            write_deck(f"""
                [deck]
                process_limit = 1

                [[job]]
                name = "writer"
                call = "tasks:append_forever"
                args = ["{out}", "{pid_file}"]

                [[job]]
                name = "next"
                call = "tasks:add"
                args = [2, 2]
            """)
        )
        worker_pid = await read_pid(pid_file)
        await engine.cancel("writer")
        await wait_state(engine, "writer", JobState.CANCELLED)
        await wait_for(lambda: not process_alive(worker_pid), timeout=3)
        next_job = await wait_state(engine, "next", JobState.SUCCEEDED)
        assert next_job.result == 4


async def test_a_thread_job_pauses_and_cancels_at_its_checkpoints(write_deck: WriteDeck, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    async with Engine() as engine:
        await engine.load(
            write_deck(
                f'[[job]]\nname = "counter"\ncall = "tasks:count_with_checkpoints"\nargs = ["{out}"]\non = "thread"'
            )
        )
        job = await wait_state(engine, "counter", JobState.RUNNING)
        await assert_grows(out)
        await engine.pause("counter")
        assert "next checkpoint" in (job.note or "")
        await assert_still(out)
        await engine.resume("counter")
        await assert_grows(out)
        assert job.progress is not None and job.progress.total == 1_000_000
        await engine.cancel("counter")
        await wait_state(engine, "counter", JobState.CANCELLED)
        await assert_still(out)


async def test_cancelling_a_running_fetch_stops_it_at_once(write_deck: WriteDeck, server_url: str) -> None:
    url = f"{server_url}/bytes/10000000?chunk=10000&delay=0.05"
    async with Engine() as engine:
        await engine.load(write_deck(f'[[job]]\nname = "big"\nfetch = "{url}"'))
        job = await wait_state(engine, "big", JobState.RUNNING)
        await wait_for(lambda: job.progress is not None and job.progress.done > 0)
        with anyio.fail_after(2):
            await engine.cancel("big")
            await wait_state(engine, "big", JobState.CANCELLED)


async def test_a_timeout_fails_the_attempt_and_retries_apply(write_deck: WriteDeck) -> None:
    async with Engine() as engine:
        await engine.load(
            write_deck('[[job]]\nname = "slow"\nshell = "sleep 10"\ntimeout = 0.3\nretries = 1\nbackoff = 0.01')
        )
        with anyio.fail_after(5):
            await engine.wait_until_settled()
        job = engine.job("slow")
        assert job.state is JobState.FAILED
        assert job.error == "timed out after 0.3 s of active time"
        assert len(job.attempts) == 2


async def test_time_spent_paused_does_not_count_towards_the_timeout(write_deck: WriteDeck, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    async with Engine() as engine:
        await engine.load(
            write_deck(f'[[job]]\nname = "steady"\nshell = "echo $$ > {pid_file}; sleep 0.6"\ntimeout = 0.9')
        )
        await read_pid(pid_file)
        await engine.pause("steady")
        await anyio.sleep(1.0)
        await engine.resume("steady")
        job = await wait_state(engine, "steady", JobState.SUCCEEDED, JobState.FAILED, timeout=5)
        assert job.state is JobState.SUCCEEDED, job.error
        assert job.attempts[0].active_s < 0.9
        assert job.attempts[0].ended_at - job.attempts[0].started_at > 1.0


async def test_a_timeout_noticed_late_does_not_fail_work_that_ended_in_time(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    import time

    pid_file = tmp_path / "pid"
    async with Engine() as engine:
        await engine.load(
            write_deck(f'[[job]]\nname = "brief"\nshell = "echo $$ > {pid_file}; echo up; sleep 0.1"\ntimeout = 0.5')
        )
        for _ in range(5):
            shell = await read_pid(pid_file)
            # Its first line has reached the engine: the engine watches the process by now.
            await wait_for(lambda: engine.job("brief").output_total > 0 or engine.job("brief").state.finished)
            attempt = engine.job("brief").current_attempt
            if attempt is not None and attempt.active_seconds(time.time()) < 0.25:
                break  # its deadline is still ahead: it passes while the loop cannot look
            # A busy machine took most of the 0.5 s to start the shell: set the scene again.
            await wait_state(engine, "brief", JobState.FAILED, timeout=5)
            pid_file.unlink()
            await engine.retry("brief")
        else:
            pytest.skip("the machine is too busy to start a shell within 0.5 s")
        # The event loop cannot look for a while (too short to count as a freeze of jobdeck): the job's work
        # ends meanwhile and its deadline passes; both are noticed together.
        deadline = time.monotonic() + 0.9
        while time.monotonic() < deadline and process_alive(shell):
            time.sleep(0.01)
        time.sleep(max(0.0, deadline - time.monotonic()))
        job = await wait_state(engine, "brief", JobState.SUCCEEDED, JobState.FAILED, timeout=5)
        assert job.state is JobState.SUCCEEDED, job.error
