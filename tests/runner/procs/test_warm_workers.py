"""Warm worker processes: started before the pool, kept ready (a lost one is replaced), stopped when unused."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.deck.parser import load_deck
from runner.errors import JobError
from runner.model import CallSpec
from runner.pausing import PauseControl
from runner.procs import prestart
from runner.procs.pool import WorkerPool
from tests.helpers import wait_for

TASKS_DIR = Path(__file__).parents[1]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def whoami(delay: float = 0.0) -> CallSpec:
    return CallSpec(module="worker_tasks", function="whoami", args=(delay,), base_dir=TASKS_DIR)


async def run(pool: WorkerPool, spec: CallSpec) -> Any:
    return await pool.call(
        spec, job_name="job", pause=PauseControl(), on_progress=lambda *_: None, on_output=lambda *_: None
    )


def is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(autouse=True)
def no_workers_left_started_early() -> Iterator[None]:
    yield
    prestart._end_unclaimed()


def idle_pids(pool: WorkerPool) -> list[int]:
    return [worker.pid for worker in pool._idle if worker.alive]


@pytest.mark.anyio
async def test_workers_started_while_the_decks_are_read_run_the_first_calls(tmp_path: Path) -> None:
    deck = tmp_path / "deck.toml"
    (tmp_path / "tasks.py").write_text("def f():\n    pass\n")
    jobs = "".join(f'[[job]]\nname = "j{number}"\ncall = "tasks:f"\n' for number in range(3))
    deck.write_text(f'[deck]\nname = "d"\nprocess_limit = 2\n{jobs}')
    assert prestart.prestart_workers([load_deck(deck)]) == 2  # three process jobs, two at a time
    started = [process.pid for process in prestart._prestarted]
    async with WorkerPool() as pool:
        async with anyio.create_task_group() as task_group:
            pids: list[int] = []

            async def call() -> None:
                pids.append(await run(pool, whoami(0.3)))

            task_group.start_soon(call)
            task_group.start_soon(call)
        assert sorted(pids) == sorted(started)
        assert prestart.take_prestarted() is None
    assert all(is_gone(pid) for pid in started)


@pytest.mark.anyio
async def test_an_idle_worker_killed_from_outside_is_replaced_before_a_call_needs_it() -> None:
    async with WorkerPool(keep_idle=1) as pool:
        await pool.warm_up(1)
        [killed] = idle_pids(pool)
        os.kill(killed, signal.SIGKILL)
        await wait_for(lambda: len(idle_pids(pool)) == 1 and idle_pids(pool) != [killed], what="a new idle worker")
        [replacement] = idle_pids(pool)
        assert await run(pool, whoami()) == replacement


@pytest.mark.anyio
async def test_the_worker_of_a_cancelled_call_is_replaced_and_the_others_are_kept() -> None:
    async with WorkerPool(keep_idle=2) as pool:
        await pool.warm_up(2)
        kept, cancelled = idle_pids(pool)
        with anyio.move_on_after(0.5):
            await run(pool, whoami(60))  # takes the last idle one: `cancelled`
        await wait_for(lambda: len(idle_pids(pool)) == 2, what="two idle workers again")
        assert is_gone(cancelled)
        assert kept in idle_pids(pool) and cancelled not in idle_pids(pool)


@pytest.mark.anyio
async def test_idle_workers_are_stopped_once_the_pool_went_unused_for_idle_timeout() -> None:
    async with WorkerPool(keep_idle=2, idle_timeout=0.5) as pool:
        await pool.warm_up(2)
        pids = idle_pids(pool)
        assert len(pids) == 2
        await wait_for(lambda: all(is_gone(pid) for pid in pids), what="the idle workers stopped")
        assert (pool.keep_idle, pool.idle_count) == (0, 0)
        assert await run(pool, whoami()) not in pids  # a call after that starts a worker again


@pytest.mark.anyio
async def test_a_long_call_does_not_count_as_unused_time() -> None:
    async with WorkerPool(keep_idle=2, idle_timeout=0.3) as pool:
        await pool.warm_up(2)
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(run, pool, whoami(1.0))
            await wait_for(lambda: pool.idle_count == 1, what="one worker busy")
            idle = idle_pids(pool)
        # The idle one went unused for longer than idle_timeout, but the pool was busy all along.
        assert not is_gone(idle[0]) and pool.keep_idle == 2


def state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def task(function: str, *args: Any) -> CallSpec:
    return CallSpec(module="worker_tasks", function=function, args=args, base_dir=TASKS_DIR)


@pytest.mark.anyio
async def test_a_forked_worker_is_paused_resumed_and_cancelled_like_any_other(tmp_path: Path) -> None:
    forked = prestart.fork_worker()
    prestart._prestarted.append(forked)
    growing = tmp_path / "growing"
    pause = PauseControl()
    async with WorkerPool(keep_idle=1) as pool:
        assert await run(pool, whoami()) == forked.pid
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(
                lambda: pool.call(
                    task("append_forever", str(growing)),
                    job_name="job",
                    pause=pause,
                    on_progress=lambda *_: None,
                    on_output=lambda *_: None,
                )
            )
            await wait_for(lambda: growing.exists() and growing.stat().st_size > 0, what="the call writing")
            pause.pause()
            await wait_for(lambda: state(forked.pid) == "T", what="the worker stopped")
            pause.resume()
            size = growing.stat().st_size
            await wait_for(lambda: growing.stat().st_size > size, what="the call writing again")
            task_group.cancel_scope.cancel()
        assert is_gone(forked.pid)  # killed and reaped before the cancellation went on


@pytest.mark.anyio
async def test_a_forked_worker_killed_by_a_signal_fails_the_call_naming_it() -> None:
    forked = prestart.fork_worker()
    prestart._prestarted.append(forked)
    async with WorkerPool() as pool:
        with pytest.raises(JobError) as caught:
            await run(pool, task("kill_self", signal.SIGKILL))
    assert caught.value.message == "worker process died while running the job: killed by signal 9 (SIGKILL)"


def test_a_forked_worker_leads_its_own_session_and_group_once_it_is_returned() -> None:
    forked = [prestart.fork_worker() for _ in range(3)]
    prestart._prestarted.extend(forked)  # ended after the test
    # As with Popen(start_new_session=True): a signal to its group, as pause and cancel send, reaches it at once.
    assert [(os.getsid(process.pid), os.getpgid(process.pid)) for process in forked] == [
        (process.pid, process.pid) for process in forked
    ]


@pytest.mark.anyio
async def test_a_job_sees_the_same_worker_whether_it_was_forked_or_started_anew(tmp_path: Path) -> None:
    (tmp_path / "looks.py").write_text(
        "import os, signal, sys\n\n\ndef around():\n"
        "    handler = signal.getsignal(signal.SIGTERM)\n"
        "    return sys.argv, sys.path[0], os.environ['PYTHONPATH'], handler == signal.SIG_DFL\n"
    )
    spec = CallSpec(module="looks", function="around", base_dir=tmp_path)
    seen = []
    for start in (prestart.fork_worker, prestart.start_worker_process):
        prestart._prestarted.append(start())
        async with WorkerPool() as pool:
            seen.append(await run(pool, spec))
    assert seen[0] == seen[1]
