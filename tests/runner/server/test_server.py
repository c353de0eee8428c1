"""The jobdeck server and its clients, through a real server process on a short temporary socket path."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.server.client import Client, ServerError, ensure_server, stop_server
from runner.server.framing import HEADER, MAX_MESSAGE_BYTES, encode
from runner.server.messages import PROTOCOL_VERSION
from runner.server.server import ServerAlreadyRunning, serve
from runner.server.wire import to_wire
from tests.conftest import Place
from tests.helpers import process_alive, wait_for

pytestmark = pytest.mark.anyio


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def sleeper_deck(place: Place, name: str = "sleepers") -> tuple[Path, Path]:
    pid_file = place.root / f"{name}.pid"
    deck = place.root / f"{name}.toml"
    deck.write_text(
        f'[deck]\nname = "{name}"\n\n[[job]]\nname = "nap"\nshell = "sleep 60 & echo $! > {pid_file}; wait"\n'
    )
    return deck, pid_file


def in_other_process(place: Place, code: str) -> Any:
    """Run `code` (which sets `result`) in a separate Python process using runner.server.client; its JSON result."""
    script = (
        "import json, sys\nfrom pathlib import Path\nfrom runner.server import client\n"
        f"sock = Path({str(place.socket)!r})\n{code}\nprint(json.dumps(result))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=15, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def job_state(client: Client, job_id: str) -> str | None:
    """The job's state as clients are shown it (None while its first appearance waits for the journal)."""
    snapshot = await client.request("snapshot", since=0)
    return next((job["state"] for job in snapshot["jobs"] if job["id"] == job_id), None)


async def wait_job_state(client: Client, job_id: str, state: str) -> None:
    with anyio.fail_after(5):
        while await job_state(client, job_id) != state:
            await anyio.sleep(0.02)


async def wait_pid(pid_file: Path) -> int:
    await wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "", timeout=5)
    return int(pid_file.read_text())


async def test_clients_in_several_processes_share_and_steer_the_same_jobs(place: Place) -> None:
    first = await ensure_server(place.socket, log_path=place.log)
    async with first:
        assert stat.S_IMODE(place.socket.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(place.socket.stat().st_mode) == 0o600
        server_pid = first.server.pid
        deck, pid_file = sleeper_deck(place)
        loaded = in_other_process(place, f"result = client.submit([{str(deck)!r}], sock)")
        assert loaded == [{"path": str(deck), "loaded": True, "deck": "sleepers", "jobs": 1, "repeats": None}]
        sleep_pid = await wait_pid(pid_file)

        os.kill(server_pid, signal.SIGHUP)  # a closed terminal: the server carries on
        async with await Client.connect(place.socket) as second:
            await wait_job_state(second, "sleepers/nap", "running")
            await first.request("command", command="pause", job="sleepers/nap")
            await wait_job_state(second, "sleepers/nap", "paused")
            # SIGSTOP is sent before the job is shown paused, but a busy machine may take a moment to stop it.
            await wait_for(lambda: process_state(sleep_pid) == "T", timeout=5)
            status = in_other_process(place, "result = client.status(sock)")
            assert status["server"] == {**to_wire(first.server), "socket": str(place.socket)}
            assert status["decks"][0]["deck"] == "sleepers"
            assert status["decks"][0]["jobs"][0]["state"] == "paused"

            await second.request("command", command="resume", job="sleepers/nap")
            with pytest.raises(ServerError, match="cannot resume") as refused:
                await second.request("command", command="resume", job="sleepers/nap")
            assert refused.value.kind == "command"
            await second.request("command", command="cancel", job="sleepers/nap")
            await wait_job_state(first, "sleepers/nap", "cancelled")
            await wait_for(lambda: not process_alive(sleep_pid), timeout=5)
            snapshot = await first.request("snapshot", since=0)
            assert snapshot["counts"]["cancelled"] == 1 and list(snapshot["decks"]) == ["sleepers"]
            assert snapshot["jobs"][0]["attempts"][0]["outcome"] == "cancelled"
            assert (await first.request("snapshot", since=snapshot["revision"]))["jobs"] == []


async def test_bad_messages_get_errors_and_the_server_carries_on(place: Place) -> None:
    async with await ensure_server(place.socket, log_path=place.log) as client:
        path = str(place.socket)

        def exchange(*frames: bytes) -> list[dict[str, Any]]:
            replies = []
            with socket.socket(socket.AF_UNIX) as raw:
                raw.settimeout(5)
                raw.connect(path)
                for frame in frames:
                    raw.sendall(frame)
                reader = raw.makefile("rb")
                while header := reader.read(4):
                    replies.append(json.loads(reader.read(HEADER.unpack(header)[0])))
            return replies

        hello = {"id": 1, "op": "hello", "args": {"protocol": PROTOCOL_VERSION + 1, "version": "99.0"}}
        [mismatch] = await anyio.to_thread.run_sync(exchange, encode(hello))
        assert mismatch["error"]["kind"] == "version"
        assert f"protocol {PROTOCOL_VERSION + 1}" in mismatch["error"]["message"]
        assert "jobdeck 99.0" in mismatch["error"]["message"]

        [garbage] = await anyio.to_thread.run_sync(exchange, b"GET / HTTP/1.1\r\n\r\n")
        assert garbage["error"]["kind"] == "too_large"
        [oversized] = await anyio.to_thread.run_sync(exchange, HEADER.pack(MAX_MESSAGE_BYTES + 1) + b"x" * 1000)
        assert oversized["error"]["message"].startswith("message too large")

        good_hello = encode({"id": 1, "op": "hello", "args": {"protocol": PROTOCOL_VERSION, "version": "x"}})
        not_json = HEADER.pack(5) + b"{nope"
        unknown = encode({"id": 2, "op": "explode", "args": {}})
        relative = encode({"id": 3, "op": "load", "args": {"path": "relative.toml"}})
        missing = encode({"id": 4, "op": "output", "args": {}})
        first_not_hello = encode({"id": 9, "op": "status", "args": {}})
        frames = (good_hello, not_json, unknown, relative, missing, HEADER.pack(MAX_MESSAGE_BYTES * 2))
        replies = await anyio.to_thread.run_sync(exchange, *frames)
        assert [reply["ok"] for reply in replies] == [True, False, False, False, False, False]
        assert [reply["error"]["kind"] for reply in replies[1:]] == [
            "bad_message",
            "bad_request",
            "bad_request",
            "bad_request",
            "too_large",
        ]
        [refused] = await anyio.to_thread.run_sync(exchange, first_not_hello)
        assert "must be hello" in refused["error"]["message"]

        assert (await client.request("status"))["decks"] == []
    async with await Client.connect(place.socket) as fresh:
        assert (await fresh.request("status"))["server"]["pid"] == client.server.pid


async def test_stop_server_cancels_the_jobs_and_removes_the_socket(place: Place) -> None:
    deck, pid_file = sleeper_deck(place)
    async with await ensure_server(place.socket, log_path=place.log) as client:
        server_pid = client.server.pid
        await client.request("load", path=str(deck))
        sleep_pid = await wait_pid(pid_file)
    stopped = await anyio.to_thread.run_sync(stop_server, place.socket)
    assert stopped == {"cancelled": 1, "pid": server_pid}
    assert not place.socket.exists()
    await wait_for(lambda: not process_alive(server_pid), timeout=5)
    assert not process_alive(sleep_pid)
    assert await anyio.to_thread.run_sync(stop_server, place.socket) is None
    assert "jobdeck server stopped" in place.log.read_text()


async def test_a_foreign_uid_is_refused_a_stale_socket_replaced_and_a_second_server_refused(place: Place) -> None:
    place.socket.parent.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(place.socket))
    stale.close()  # a crashed server's leftover: nothing answers
    async with anyio.create_task_group() as group:
        await group.start(
            lambda task_status: serve(place.socket, expected_uid=os.getuid() + 1, task_status=task_status)
        )
        with pytest.raises(ServerError, match="may not use") as refused:
            await Client.connect(place.socket)
        assert refused.value.kind == "forbidden"
        with pytest.raises(ServerAlreadyRunning):
            await serve(place.socket)
        await anyio.sleep(0.2)  # let the refused connection close: cancelling during its close upsets asyncio
        group.cancel_scope.cancel()
    assert not place.socket.exists()
