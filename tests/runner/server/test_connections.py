"""Many connections, and a server short of file descriptors: it sheds connections and keeps running its jobs."""

from __future__ import annotations

import contextlib
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from runner.server.client import Client
from runner.server.server import socket_answers
from tests.conftest import Place
from tests.helpers import process_alive, wait_until

pytestmark = pytest.mark.anyio


def start_server(place: Place, *options: str, descriptors: int | None = None) -> subprocess.Popen[bytes]:
    """A server process of our own (output to place.log), with at most `descriptors` file descriptors."""

    def limit_descriptors() -> None:
        if descriptors is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, descriptors))

    place.socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(place.log, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "runner.server.server", "--socket", str(place.socket), *options],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=limit_descriptors,
        )
    wait_until(lambda: socket_answers(place.socket) or process.poll() is not None, what="the server to listen")
    assert process.poll() is None, place.log.read_text()
    return process


def gated_deck(place: Place) -> tuple[Path, Path]:
    """A job that runs until the gate file exists, then succeeds."""
    gate = place.root / "gate"
    deck = place.root / "gated.toml"
    deck.write_text(
        f'[deck]\nname = "gated"\n\n[[job]]\nname = "wait"\nshell = "while [ ! -e {gate} ]; do sleep 0.02; done"\n'
    )
    return deck, gate


@contextlib.contextmanager
def idle_connections(place: Place, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that never send anything (a Unix connect succeeds once it is in the backlog)."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            opened.append(connection)
            connection.connect(str(place.socket))
        yield opened
    finally:
        for connection in opened:
            connection.close()


async def job_state(client: Client, job_id: str) -> str | None:
    snapshot = await client.request("snapshot", since=0)
    return next((job["state"] for job in snapshot["jobs"] if job["id"] == job_id), None)


async def wait_job_state(client: Client, job_id: str, state: str) -> None:
    with anyio.fail_after(10):
        while await job_state(client, job_id) != state:
            await anyio.sleep(0.02)


async def flood_and_survive(place: Place, process: subprocess.Popen[bytes], connections: int) -> None:
    deck, gate = gated_deck(place)
    async with await Client.connect(place.socket) as client:
        await client.request("load", path=str(deck))
        await wait_job_state(client, "gated/wait", "running")
    with idle_connections(place, connections):
        # A new client still gets in (and answers come back) while the idle ones hold the descriptors.
        async with await Client.connect(place.socket) as client:
            assert await job_state(client, "gated/wait") == "running"
            assert (await client.request("status"))["server"]["pid"] == process.pid
        gate.touch()
    async with await Client.connect(place.socket) as client:
        await wait_job_state(client, "gated/wait", "succeeded")
    assert process.poll() is None and process_alive(process.pid)


async def test_more_connections_than_descriptors_shed_the_idle_ones_and_jobs_go_on(place: Place) -> None:
    process = start_server(place, descriptors=256)
    await flood_and_survive(place, process, 300)
    log = place.log.read_text()
    assert log.count("connections open, the most this server keeps") == 1, log
    assert "Too many open files" not in log


async def test_running_out_of_descriptors_at_accept_is_survived_and_said_once(place: Place) -> None:
    process = start_server(place, "--max-connections", "1000", descriptors=128)
    await flood_and_survive(place, process, 200)
    log = place.log.read_text()
    assert log.count("out of file descriptors") == 1, log
    assert "Traceback" not in log
