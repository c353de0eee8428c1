"""Thread call jobs run on jobdeck's own worker threads (runner.kinds.thread_calls): every job a deck's lane
starts gets a thread at once, the ends of calls that finished together reach the event loop in one wake-up,
and a cancelled call is told so and waited for."""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from runner.engine.engine import Engine
from runner.kinds import loop_bell, thread_calls
from runner.kinds.loop_bell import LoopBell
from runner.kinds.thread_calls import ThreadCall, ThreadCalls
from runner.model import JobState
from tests.helpers import wait_for

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]


def holding_deck(deck: str, limit: int, jobs: int, folder: Path) -> str:
    return (
        f'[deck]\nname = "{deck}"\nthread_limit = {limit}\n\n'
        f'[[job]]\nname = "hold"\ncall = "tasks:hold_until"\non = "thread"\n'
        f'args = ["{folder}", "{deck}-{{item}}"]\neach = {{ range = [0, {jobs}] }}\n'
    )


def markers(folder: Path, prefix: str) -> int:
    return len(list(folder.glob(f"{prefix}*")))


def block_loop_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Keep the event loop busy (as a loop with much to do is) until `condition()`; threads run meanwhile."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true"
        time.sleep(0.001)


async def test_each_decks_thread_limit_is_filled_at_once_beside_the_others(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    async with Engine() as engine:
        await engine.load(write_deck(holding_deck("a", 2, 4, tmp_path), "a.toml"))
        await engine.load(write_deck(holding_deck("b", 3, 4, tmp_path), "b.toml"))
        await wait_for(lambda: markers(tmp_path, "started-") == 5, what="2 + 3 jobs inside their function")
        assert markers(tmp_path, "started-a-") == 2 and markers(tmp_path, "started-b-") == 3
        running = [job.deck for job in engine.jobs.values() if job.state is JobState.RUNNING]
        assert sorted(running) == ["a", "a", "b", "b", "b"]
        (tmp_path / "go").touch()
        with anyio.fail_after(10):
            await engine.wait_until_settled()
        assert {job.state for job in engine.jobs.values()} == {JobState.SUCCEEDED}
        assert markers(tmp_path, "done-") == 8


async def test_thread_jobs_ending_together_wake_the_event_loop_once(
    write_deck: WriteDeck, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = 20
    wake_ups = 0

    def counted(wake: Callable[..., object]) -> Callable[..., object]:
        def wake_counted(*args: object, **kwargs: object) -> object:
            nonlocal wake_ups
            wake_ups += 1
            return wake(*args, **kwargs)

        return wake_counted

    monkeypatch.setattr(LoopBell, "ring", counted(LoopBell.ring))
    async with Engine() as engine:
        await engine.load(write_deck(holding_deck("burst", jobs, jobs, tmp_path)))
        await wait_for(lambda: markers(tmp_path, "started-") == jobs, what="every job inside its function")
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(loop, "call_soon_threadsafe", counted(loop.call_soon_threadsafe))
        wake_ups = 0
        (tmp_path / "go").touch()
        block_loop_until(lambda: markers(tmp_path, "done-") == jobs)
        with anyio.fail_after(10):
            await engine.wait_until_settled()
        monkeypatch.undo()
    assert {job.state for job in engine.jobs.values()} == {JobState.SUCCEEDED}
    assert [engine.jobs[f"burst/hold[{item}]"].result for item in range(3)] == ["burst-0", "burst-1", "burst-2"]
    # anyio's to_thread woke the loop once per finished call (20); the last few may still be on their way.
    assert 1 <= wake_ups <= 5


async def test_an_exception_reaches_the_waiting_task_with_its_traceback() -> None:
    def broken() -> None:
        raise ValueError("bad input")

    async with ThreadCalls() as calls:
        with pytest.raises(ValueError, match="bad input") as raised:
            await calls.run(ThreadCall(calls, broken))
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert frames[-1] == "broken"


async def test_a_cancelled_call_is_told_and_waited_for() -> None:
    release = threading.Event()
    started = threading.Event()
    outcome: list[str] = []

    def body() -> bool:
        started.set()
        release.wait(10)
        return call.cancelled

    async with ThreadCalls() as calls:
        call = ThreadCall(calls, body)

        async def wait_for_call(scope: anyio.CancelScope) -> None:
            with scope:
                try:
                    await calls.run(call)
                except anyio.get_cancelled_exc_class():
                    outcome.append("cancelled after the call ended" if call.ended else "cancelled early")
                    raise

        scope = anyio.CancelScope()
        async with anyio.create_task_group() as group:
            group.start_soon(wait_for_call, scope)
            await wait_for(started.is_set, what="the call running")
            scope.cancel()
            await wait_for(lambda: call.cancelled, what="the call told it is cancelled")
            assert outcome == []  # still waiting: its thread has not returned
            release.set()
        assert outcome == ["cancelled after the call ended"]
        assert call.result is True  # the call saw it was cancelled


async def test_workers_are_reused_and_leave_once_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(thread_calls, "IDLE_TIMEOUT_S", 0.05)
    async with ThreadCalls() as calls:
        names = [await calls.run(ThreadCall(calls, lambda: threading.current_thread().name)) for _ in range(5)]
        assert names == ["jobdeck-thread-job"] * 5
        assert calls.workers == 1
        await wait_for(lambda: calls.workers == 0, what="the idle worker gone")
        assert await calls.run(ThreadCall(calls, lambda: 42)) == 42


async def test_rings_from_threads_between_two_wake_ups_are_one_wake_up() -> None:
    loop = asyncio.get_running_loop()
    heard = 0
    rung = threading.Event()

    def on_ring() -> None:
        nonlocal heard
        bell.quiet()
        heard += 1

    bell = LoopBell(loop, on_ring)
    try:

        def ring_many() -> None:
            for _ in range(50):
                bell.ring()
            rung.set()

        threading.Thread(target=ring_many).start()
        block_loop_until(rung.is_set)  # every ring lands while the loop is busy
        await wait_for(lambda: heard == 1, what="the loop woken")
        await anyio.sleep(0.05)  # the bell was taken back: nothing more comes
        assert heard == 1
        await anyio.to_thread.run_sync(bell.ring)
        await wait_for(lambda: heard == 2, what="a later ring heard")
    finally:
        bell.close()
    bell.ring()  # after close: does nothing, writes to no file
    await anyio.sleep(0.05)
    assert heard == 2


async def test_without_an_eventfd_the_loop_is_woken_with_call_soon_threadsafe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loop_bell, "_libc_calls", lambda: None)
    with anyio.fail_after(10):
        async with ThreadCalls() as calls:
            results = [await calls.run(ThreadCall(calls, lambda number=number: number * 2)) for number in range(3)]
    assert results == [0, 2, 4]
