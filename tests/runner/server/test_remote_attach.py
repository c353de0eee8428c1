"""Attaching to the server: a server that is still ending (told to stop, waiting for a job it cannot interrupt)
is waited for before a new one starts; a lock file naming a process that is no server delays nothing; the
mirror follows the server's updates without asking, and asks nothing while nothing changes."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Callable

import anyio
import pytest

from runner.model import JobState
from runner.server.client import Client, ensure_server
from runner.server.messages import Command, RunCommand
from runner.server.remote import RemoteEngine
from tests.conftest import Place
from tests.helpers import wait_for, wait_until

pytestmark = pytest.mark.anyio

ENDING_SERVER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, f"{os.getpid()}\\n".encode())
time.sleep(float(sys.argv[2]))
"""
"""Holds the socket's lock as a server does while it ends, with "runner.server.server" among its arguments
(longer than a new server takes to be refused and `ensure_server` to give up: START_TIMEOUT_S)."""


async def test_a_new_server_starts_once_the_ending_one_has_exited(place: Place) -> None:
    place.socket.parent.mkdir(parents=True, mode=0o700)
    lock = place.socket.with_name(place.socket.name + ".lock")
    ending = subprocess.Popen([sys.executable, "-c", ENDING_SERVER, str(lock), "4", "runner.server.server"])
    try:
        wait_until(lambda: lock.exists() and lock.read_text().strip() == str(ending.pid), what="the lock held")
        with anyio.fail_after(30):
            async with RemoteEngine(place.socket) as engine:
                assert ending.poll() is not None, "attached only once the ending server had exited"
                assert engine.lost is None and place.socket.exists()
    finally:
        ending.kill()
        ending.wait()


async def test_a_lock_file_naming_another_process_does_not_delay_attaching(place: Place) -> None:
    """A server killed with -9 leaves its pid in the lock file; that pid may belong to anything later."""
    place.socket.parent.mkdir(parents=True, mode=0o700)
    place.socket.with_name(place.socket.name + ".lock").write_text(f"{os.getpid()}\n")
    with anyio.fail_after(15):  # far less than the wait for an ending server
        async with RemoteEngine(place.socket) as engine:
            assert engine.lost is None


async def test_the_mirror_follows_the_server_without_asking_and_asks_nothing_while_idle(place: Place) -> None:
    deck = place.root / "wait.toml"
    deck.write_text('[deck]\nname = "wait"\n[[job]]\nname = "nap"\nshell = "exec sleep 60"\n')
    async with RemoteEngine(place.socket) as engine:
        await engine.load(deck)
        await wait_for(lambda: engine.jobs["wait/nap"].state is JobState.RUNNING, what="running")
        asked: list[object] = []
        client = engine._client
        assert client is not None
        exchange = client._exchange

        async def counted(message: dict[str, object]) -> object:
            asked.append(message["op"])
            return await exchange(message)

        client._exchange = counted  # type: ignore[method-assign]
        revision = engine.revision
        await anyio.sleep(0.3)  # three pulls of a mirror that polls at 10 Hz (the interval is what is tested)
        assert asked == [] and engine.revision == revision
        async with await Client.connect(place.socket) as other:  # another client's pause
            await other.call(RunCommand(Command.PAUSE, "wait/nap"))
        await wait_for(lambda: engine.jobs["wait/nap"].state is JobState.PAUSED, what="the pause pushed")
        assert asked == []
        await engine.cancel("wait/nap")
        assert asked == ["command"]


async def test_a_big_mirror_is_kept_out_of_the_garbage_collectors_way_until_it_is_left(place: Place) -> None:
    """As the engine does with a big deck's jobs: collections would otherwise walk every view, again and again."""
    deck = place.root / "big.toml"
    deck.write_text(f'[deck]\nname = "big"\n[[job]]\nname = "n"\nshell = "true"\neach = {list(range(1200))}\n')
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.call(RunCommand(Command.PAUSE_ALL))  # the jobs stay queued
        await client.request("load", path=str(deck))
    assert gc.get_freeze_count() == 0
    async with RemoteEngine(place.socket) as engine:
        assert len(engine.jobs) == 1200
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


async def test_waiting_for_a_change_returns_at_a_jobs_change_at_news_without_one_and_when_the_server_ends(
    place: Place,
) -> None:
    """What an idle dashboard sleeps on (tui.quiet_pulls) instead of pulling ten times a second."""
    deck = place.root / "wait.toml"
    deck.write_text('[deck]\nname = "wait"\n[[job]]\nname = "nap"\nshell = "exec sleep 60"\n')
    async with RemoteEngine(place.socket) as engine, await Client.connect(place.socket) as other:
        await engine.load(deck)
        await wait_for(lambda: engine.jobs["wait/nap"].state is JobState.RUNNING, what="running")
        with anyio.fail_after(1):
            await engine.wait_for_change(engine.revision - 1)  # passed already

        async def told(command: Command, job: str | None, shown: Callable[[], bool]) -> None:
            """Another client's command, shown once the waits for a change that it ends have returned."""
            with anyio.fail_after(15):
                async with anyio.create_task_group() as group:
                    group.start_soon(other.call, RunCommand(command, job))
                    while not shown():
                        await engine.wait_for_change(engine.revision)

        await told(Command.PAUSE_ALL, None, lambda: engine.dispatching is False)  # no job changes: news all the same
        await told(Command.PAUSE, "wait/nap", lambda: engine.jobs["wait/nap"].state is JobState.PAUSED)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(engine.stop_server)
                while engine.lost is None:  # the job's end comes first
                    await engine.wait_for_change(engine.revision)
