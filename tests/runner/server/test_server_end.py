"""How the server ends: only `stop` cancels work; a signal or a fatal error leaves it to the next server."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner import paths
from runner.journal.store import Journal
from runner.server.client import Client, ensure_server
from runner.server.server import Server, serve
from tests.conftest import Place
from tests.helpers import process_alive, wait_for
from tests.runner.server.server_process import start_server

pytestmark = pytest.mark.anyio


def once_then_done_deck(place: Place) -> Path:
    """`long` sleeps on its first run (its shell's pid in long.pid) and succeeds at once on the next; `last`
    waits for it; `quick` succeeds at once. Each start is written to starts.log."""
    root = place.root
    log = root / "starts.log"
    long = (
        f"echo long >> {log}; if [ -e {root}/long.ran ]; then exit 0; fi; "
        f"touch {root}/long.ran; echo $$ > {root}/long.pid; exec sleep 60"
    )
    deck = root / "once.toml"
    deck.write_text(
        '[deck]\nname = "once"\n\n'
        f'[[job]]\nname = "quick"\nshell = "echo quick >> {log}"\n\n'
        f'[[job]]\nname = "long"\nshell = "{long}"\n\n'
        f'[[job]]\nname = "last"\nshell = "echo last >> {log}"\nafter = ["long"]\n'
    )
    return deck


async def states(client: Client) -> dict[str, str]:
    snapshot = await client.request("snapshot", since=0)
    return {job["name"]: job["state"] for job in snapshot["jobs"]}


async def wait_states(client: Client, wanted: dict[str, str]) -> None:
    with anyio.fail_after(10):
        while (await states(client)) != wanted:
            await anyio.sleep(0.02)


async def read_pid(path: Path) -> int:
    await wait_for(lambda: path.exists() and path.read_text().endswith("\n"), what=f"{path.name} written")
    return int(path.read_text())


def journal_states(journal_path: Path) -> dict[str, Any]:
    with Journal.open(journal_path) as journal:
        (run,) = journal.history()
        return {name: row["state"] for name, row in journal.jobs(run.id).items()}


async def the_next_server_finishes_the_deck(place: Place) -> None:
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await wait_states(client, {"quick": "succeeded", "long": "succeeded", "last": "succeeded"})
        history = await client.request("history")
    assert [run["counts"] for run in history["runs"]] == [{"succeeded": 3}]
    starts = (place.root / "starts.log").read_text().split()
    assert sorted(starts) == ["last", "long", "long", "quick"], "long runs again; quick is not run twice"


async def test_sigterm_ends_the_server_at_once_and_the_next_one_runs_its_unfinished_jobs(place: Place) -> None:
    deck = once_then_done_deck(place)
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.request("load", path=str(deck))
        await wait_states(client, {"quick": "succeeded", "long": "running", "last": "queued"})
        server_pid = client.server.pid
    long_pid = await read_pid(place.root / "long.pid")

    os.kill(server_pid, signal.SIGTERM)
    await wait_for(lambda: not process_alive(server_pid), timeout=5, what="the server to end")
    assert not place.socket.exists()
    assert not process_alive(long_pid), "the running shell job's process is ended with the server"
    assert journal_states(paths.journal_path()) == {"quick": "succeeded", "long": "running", "last": "queued"}
    assert "its unfinished jobs run again when it next starts" in place.log.read_text()

    await the_next_server_finishes_the_deck(place)


class Escaped(BaseException):
    """A fault that no handler catches: it ends the server."""


async def test_a_fatal_error_in_the_server_leaves_its_unfinished_jobs_to_the_next_one(
    place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    deck = once_then_done_deck(place)

    async def fail(self: Server, request: Any) -> Any:
        raise Escaped("a fault that ends the server")

    monkeypatch.setattr(Server, "status", fail)  # this server's status requests end it
    failed: list[BaseException] = []

    async def serve_until_it_fails(task_status: anyio.abc.TaskStatus[None]) -> None:
        try:
            await serve(place.socket, journal_path=paths.journal_path(), task_status=task_status)
        except BaseException as error:  # the test looks at how the server ended
            failed.append(error)

    async with anyio.create_task_group() as group:
        await group.start(serve_until_it_fails)
        async with await Client.connect(place.socket) as client:
            await client.request("load", path=str(deck))
            await wait_states(client, {"quick": "succeeded", "long": "running", "last": "queued"})
            long_pid = await read_pid(place.root / "long.pid")
            with pytest.raises(Exception):  # noqa: B017 - the server is gone: any error of a lost connection
                await client.request("status")
    assert failed and not isinstance(failed[0], anyio.get_cancelled_exc_class())
    assert not place.socket.exists()
    assert not process_alive(long_pid)
    assert journal_states(paths.journal_path()) == {"quick": "succeeded", "long": "running", "last": "queued"}

    await the_next_server_finishes_the_deck(place)


async def test_a_job_that_cannot_be_interrupted_does_not_keep_the_server_alive(place: Place) -> None:
    deck = place.root / "thread.toml"
    deck.write_text(
        '[deck]\nname = "thread"\n\n[[job]]\nname = "nap"\ncall = "time:sleep"\non = "thread"\nargs = [60]\n'
    )
    process = start_server(place, "--exit-deadline", "0.5", "--log", str(place.log))
    async with await Client.connect(place.socket) as client:
        await client.request("load", path=str(deck))
        await wait_states(client, {"nap": "running"})
        await client.request("status")  # committed: the journal has it running
    process.send_signal(signal.SIGTERM)
    await wait_for(lambda: process.poll() is not None, timeout=8, what="the server to exit")
    assert "exiting now" in place.log.read_text()
    assert journal_states(paths.journal_path()) == {"nap": "running"}, "it runs again in the next server"


async def test_a_stop_whose_client_hangs_up_before_the_answer_still_stops_the_server(place: Place) -> None:
    """A dashboard that quits without waiting (`q`, `y`, then `a`) goes away while the server stops its jobs: the
    server, told to stop, stops all the same once they have ended (here: its bounded wait for a thread job)."""
    deck = place.root / "thread.toml"
    deck.write_text(
        '[deck]\nname = "thread"\n\n[[job]]\nname = "nap"\ncall = "time:sleep"\non = "thread"\nargs = [60]\n'
    )
    process = start_server(place, "--stop-wait", "1", "--exit-deadline", "0.5", "--log", str(place.log))
    async with await Client.connect(place.socket) as watcher:
        await watcher.request("load", path=str(deck))
        await wait_states(watcher, {"nap": "running"})
        async with await Client.connect(place.socket) as stopper, anyio.create_task_group() as group:
            group.start_soon(stopper.request, "stop")
            with anyio.fail_after(10):
                while not (await watcher.request("snapshot", since=0))["jobs"][0].get("note"):
                    await anyio.sleep(0.02)  # until the stop has cancelled the job, which goes on on its thread
            group.cancel_scope.cancel()  # the stopper hangs up without its answer
    await wait_for(lambda: process.poll() is not None, timeout=30, what="the server to exit")
    assert not place.socket.exists()
