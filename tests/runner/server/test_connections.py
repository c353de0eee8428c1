"""Many connections, and a server short of file descriptors: it sheds connections and keeps running its jobs."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from runner.server.client import Client
from runner.server.connections import ConnectionLimits, Connections
from runner.server.framing import encode
from runner.server.messages import Hello, Status, Subscribe, request_message
from runner.server.server import Server, serve
from runner.server.subscriber import SubscribedClient
from tests.conftest import Place
from tests.helpers import process_alive, wait_for
from tests.runner.server.server_process import start_server

pytestmark = pytest.mark.anyio


def gated_deck(place: Place) -> tuple[Path, Path]:
    """A job that runs until the gate file exists, then succeeds; `started` beside the gate once its shell runs."""
    gate = place.root / "gate"
    deck = place.root / "gated.toml"
    started = place.root / "started"
    deck.write_text(
        f'[deck]\nname = "gated"\n\n[[job]]\nname = "wait"\n'
        f'shell = "touch {started}; while [ ! -e {gate} ]; do sleep 0.02; done"\n'
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
    # Running is told before the shell starts: the flood must not take the descriptors its start needs.
    await wait_for(lambda: (place.root / "started").exists(), what="the job's shell started")
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


def hello_frame() -> bytes:
    return encode(request_message(1, Hello.ours()))


def read_until_closed(connection: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection; AssertionError if it does not in time."""
    connection.settimeout(timeout)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open for {timeout:g} s") from None
    return received


@contextlib.asynccontextmanager
async def served(place: Place, limits: ConnectionLimits | None = None) -> AsyncIterator[None]:
    """A server in this process (no journal) for the block; its log records are in caplog."""
    async with anyio.create_task_group() as group:
        await group.start(lambda task_status: serve(place.socket, limits=limits, task_status=task_status))
        yield
        async with await Client.connect(place.socket) as client:
            await client.request("stop")


def problems_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the server logged above DEBUG, but for its start and stop."""
    said = [record.getMessage() for record in caplog.records if record.levelno > logging.DEBUG]
    return [message for message in said if "listening on" not in message and message != "jobdeck server stopped"]


async def test_a_half_closed_connection_is_closed_quietly(place: Place, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "jobdeck")
    async with served(place):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(str(place.socket))
            connection.sendall(hello_frame())
            connection.shutdown(socket.SHUT_WR)
            reply = await anyio.to_thread.run_sync(read_until_closed, connection, 5)
        assert b'"ok":true' in reply and reply.count(b'"ok"') == 1, "one answer, to the hello"
        async with await Client.connect(place.socket) as client:  # the server goes on
            await client.request("status")
    assert problems_logged(caplog) == []
    assert len(caplog.records) < 10


async def test_clients_that_hang_up_anyhow_leave_no_error_in_the_log(
    place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "jobdeck")
    status = encode(request_message(2, Status()))
    ways = [b"", b"\x00\x00", hello_frame(), hello_frame() + status, hello_frame() + status * 50]
    async with served(place):
        for sent in ways:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.connect(str(place.socket))
                connection.sendall(sent)  # and close at once, with the answers unread
        async with await Client.connect(place.socket) as client:
            await client.request("status")
    assert problems_logged(caplog) == []


async def test_a_connection_that_sends_nothing_is_closed_after_the_idle_limit(
    place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    async with served(place, ConnectionLimits(idle_timeout_s=0.3)):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
            silent.connect(str(place.socket))
            assert await anyio.to_thread.run_sync(read_until_closed, silent, 5) == b""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as greeted:
            greeted.connect(str(place.socket))
            greeted.sendall(hello_frame())
            assert b'"ok":true' in await anyio.to_thread.run_sync(read_until_closed, greeted, 5)
    assert problems_logged(caplog) == []


async def test_a_client_waiting_for_a_slow_answer_is_not_idle(place: Place, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Server.status

    async def slow_status(self: Server, request: Status) -> object:
        await anyio.sleep(0.6)  # twice the idle limit
        return await original(self, request)

    monkeypatch.setattr(Server, "status", slow_status)
    async with served(place, ConnectionLimits(idle_timeout_s=0.3)), await Client.connect(place.socket) as client:
        report = await client.request("status")
    assert report["decks"] == []


async def test_a_subscribed_client_that_sends_nothing_is_not_idle(place: Place) -> None:
    """It waits for the server's updates, like a client waiting for a slow answer."""
    async with (
        served(place, ConnectionLimits(idle_timeout_s=0.3)),
        await SubscribedClient.connect(place.socket) as client,
        anyio.create_task_group() as group,
    ):
        await group.start(client.follow, Subscribe(events=True), lambda update: None)
        await anyio.sleep(0.6)  # twice the idle limit
        report = await client.request("status")
        assert report["decks"] == [] and client.ended is None
        group.cancel_scope.cancel()


async def test_at_the_limit_the_longest_idle_connection_makes_room_and_busy_ones_are_kept() -> None:
    connections = Connections(ConnectionLimits(max_connections=2))
    older, newer = connections.add(), connections.add()
    newer.waits()  # newer: idle since now; older: idle since it was made, before
    assert connections.make_room()
    assert older.scope.cancel_called and not newer.scope.cancel_called
    connections.open.discard(older)  # its handler ended
    third = connections.add()
    newer.busy = True
    third.following = True  # subscribed to updates: it waits for the server, never idle
    assert not connections.make_room(), "all busy: the new connection is refused"
    assert not newer.scope.cancel_called and not third.scope.cancel_called
