"""The server's push streams against a real server process: every change of state and output line of real shell
jobs, nothing while idle, a reader too slow for the stream kept bounded, and `jobdeck events` in a shell."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.server.client import Client, stop_server
from runner.server.framing import HEADER, decode, encode
from runner.server.messages import Command, Hello, RunCommand, Subscribe, request_message
from runner.server.subscriber import SubscribedClient
from tests.conftest import Place, servers_on
from tests.helpers import JOBDECK, RUN_TIMEOUT_S, jobdeck, wait_for
from tests.runner.server.server_process import start_server

pytestmark = pytest.mark.anyio

SHELLS = """
[deck]
name = "shells"

[[job]]
name = "hello"
shell = "echo hello; echo world >&2"

[[job]]
name = "count"
shell = "for i in 1 2 3; do echo line $i; done"
after = ["hello"]

[[job]]
name = "flaky"
shell = "exit 3"
retries = 1
backoff = 0.05
"""


@pytest.fixture(scope="module")
def server() -> Iterator[Place]:
    """One real server process for the module's tests, each with decks of its own names."""
    root = Path(tempfile.mkdtemp(prefix="jdev", dir="/tmp"))
    place = Place(root, root / "run" / "s.sock", root / "server.log")
    process = start_server(place, "--db", str(root / "journal.db"))
    try:
        yield place
    finally:
        try:
            stop_server(place.socket, timeout=10)
        finally:
            for pid in servers_on(place.socket):
                os.kill(pid, signal.SIGKILL)
            process.wait(timeout=10)
            shutil.rmtree(root, ignore_errors=True)


def deck(place: Place, name: str, text: str) -> Path:
    path = place.root / f"{name}.toml"
    path.write_text(text)
    return path


def env_of(place: Place) -> dict[str, str]:
    return {**os.environ, "JOBDECK_SOCKET": str(place.socket)}


async def load(place: Place, path: Path) -> None:
    async with await Client.connect(place.socket) as client:
        await client.request("load", path=str(path))


def told(events: list[dict[str, Any]], job: str) -> list[tuple[str, str | None]]:
    """One job's events as (type, state or line)."""
    return [(event["type"], event.get("state") or event.get("line")) for event in events if event.get("id") == job]


async def test_a_subscriber_is_told_each_change_of_state_and_each_line_in_order(server: Place) -> None:
    updates: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    async with (
        await SubscribedClient.connect(server.socket) as client,
        await SubscribedClient.connect(server.socket) as filtered,
        anyio.create_task_group() as group,
    ):
        await group.start(client.follow, Subscribe(events=True), updates.append)
        await group.start(filtered.follow, Subscribe(events=True, deck="elsewhere"), other.append)
        await load(server, deck(server, "shells", SHELLS))
        events = lambda: [event for update in updates for event in update["events"]]  # noqa: E731
        settled = {"shells/hello": "succeeded", "shells/count": "succeeded", "shells/flaky": "failed"}
        await wait_for(
            lambda: all((("state", state) in told(events(), job)) for job, state in settled.items()),
            what="every job of the deck finished, as told",
        )
        group.cancel_scope.cancel()
    said = events()
    assert said[0]["type"] == "deck_loaded" and said[0]["deck"] == "shells" and said[0]["jobs"] == 3
    assert told(said, "shells/count") == [
        ("state", "running"),
        ("output", "line 1"),
        ("output", "line 2"),
        ("output", "line 3"),
        ("state", "succeeded"),
    ]
    hello = told(said, "shells/hello")
    assert hello[0] == ("state", "running") and hello[-1] == ("state", "succeeded")
    assert sorted(hello[1:-1]) == [("output", "hello"), ("output", "world")]
    assert [event["stream"] for event in said if event.get("line") == "world"] == ["stderr"]
    assert told(said, "shells/flaky") == [
        ("state", "running"),
        ("state", "retrying"),
        ("state", "queued"),
        ("state", "running"),
        ("state", "failed"),
    ]
    failed = next(event for event in said if event.get("state") == "failed")
    assert failed["previous"] == "running" and failed["attempt"] == 2 and failed["error"] == "exited with status 3"
    assert all({"type", "time"} <= event.keys() for event in said)
    assert [event for update in other for event in update["events"]] == [], "another deck's stream tells nothing"


async def test_a_mirror_gets_every_job_before_its_reply_and_nothing_while_idle(server: Place) -> None:
    await load(server, deck(server, "quiet", '[deck]\nname = "quiet"\n[[job]]\nname = "one"\nshell = "true"\n'))
    await finished(server, "quiet")
    updates: list[dict[str, Any]] = []
    async with await SubscribedClient.connect(server.socket) as client, anyio.create_task_group() as group:
        await group.start(client.follow, Subscribe(views=True), updates.append)
        jobs = {job["id"]: job["state"] for update in updates for job in update["jobs"]}
        assert jobs.get("quiet/one") == "succeeded", "the first updates carry every job, before the reply"
        seen = len(updates)
        await anyio.sleep(0.3)  # six frames: an idle server pushes nothing (the interval is what is tested)
        assert len(updates) == seen
        group.cancel_scope.cancel()


async def finished(place: Place, deck_name: str) -> None:
    """Wait until every job of the deck has finished, and the journal has it: `status_jobs` commits the journal
    first, so the one after the rows say finished commits their ends."""
    async with await Client.connect(place.socket) as client:
        with anyio.fail_after(30):
            while True:
                rows = (await client.request("status_jobs", deck=deck_name))["rows"]
                if all(row["state"] in ("succeeded", "failed", "cancelled", "skipped") for row in rows):
                    break
                await anyio.sleep(0.05)
        await client.request("status_jobs", deck=deck_name)


def peak_memory_kb(pid: int) -> int:
    """The process's largest resident size so far (VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def read_frame(connection: socket.socket) -> dict[str, Any]:
    def exactly(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = connection.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    (length,) = HEADER.unpack(exactly(HEADER.size))
    return decode(exactly(length))


def flood(place: Place, name: str, lines: int) -> Path:
    """A deck whose one job writes `lines` lines of 1,000 characters as fast as it can."""
    writer = f"yes {'x' * 1000} | head -n {lines}"
    return deck(place, name, f'[deck]\nname = "{name}"\n[[job]]\nname = "writer"\nshell = "{writer}"\n')


async def test_a_reader_too_slow_for_the_stream_keeps_the_server_small_and_the_jobs_going(server: Place) -> None:
    """A subscriber that stops reading while a job writes 40 MB: the job ends all the same, the server's peak
    memory grows by far less than what the reader was not sent (measured against the same flood with no reader),
    and the reader, once it reads again, is told what it missed."""
    lines = 40_000
    async with await Client.connect(server.socket) as client:
        pid = client.server.pid
    await load(server, flood(server, "unread", lines))  # the server's peak for such a flood, with no reader
    await finished(server, "unread")
    peak = peak_memory_kb(pid)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stalled:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        stalled.connect(str(server.socket))
        stalled.sendall(encode(request_message(1, Hello.ours())))
        read_frame(stalled)
        stalled.sendall(encode(request_message(2, Subscribe(events=True, deck="flood"))))
        while read_frame(stalled).get("id") != 2:  # the updates before the reply, then the reply
            pass
        await load(server, flood(server, "flood", lines))
        await finished(server, "flood")
        grown_mb = (peak_memory_kb(pid) - peak) / 1024
        assert grown_mb < 15, f"the server's peak grew by {grown_mb:.0f} MB for a reader that read nothing"

        stalled.settimeout(10)
        said: list[dict[str, Any]] = []
        while not any(event.get("state") == "succeeded" for event in said):
            said += read_frame(stalled)["push"]["events"]
    dropped = [event["lines"] for event in said if event["type"] == "dropped"]
    shown = [event for event in said if event["type"] == "output"]
    assert dropped and sum(dropped) + len(shown) == lines, "every line is either told or counted as dropped"
    assert len(shown) < lines / 2


async def test_jobdeck_events_in_a_pipe_shows_lines_at_once_and_ends_when_the_reader_goes(server: Place) -> None:
    path = deck(
        server, "sleepy", '[deck]\nname = "sleepy"\n[[job]]\nname = "nap"\nshell = "echo awake; exec sleep 60"\n'
    )
    command = f'{" ".join(JOBDECK)} events --json --deck sleepy | head -3; echo "status ${{PIPESTATUS[*]}}"'
    pipeline = subprocess.Popen(
        ["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_of(server)
    )
    try:
        await following(pipeline)
        await load(server, path)
        # The job then sleeps: nothing is written after the third line, so `jobdeck events` must see for itself
        # that head has gone (and head must have had each line at once, not at the end).
        out, err = await anyio.to_thread.run_sync(lambda: pipeline.communicate(timeout=RUN_TIMEOUT_S))
    finally:
        pipeline.kill()
        async with await Client.connect(server.socket) as client:
            await client.call(RunCommand(Command.CANCEL, "sleepy/nap"))
    *events, status = out.splitlines()
    assert [json.loads(line)["type"] for line in events] == ["deck_loaded", "state", "output"], out
    assert json.loads(events[2])["line"] == "awake"
    assert status == "status 0 0" and err == "", err


async def following(follower: subprocess.Popen[str]) -> None:
    """Wait until `jobdeck events --deck NAME` follows the server: it says first that no such deck is loaded."""
    assert follower.stderr is not None
    note = await anyio.to_thread.run_sync(follower.stderr.readline)
    assert "is loaded" in note and "its events follow once one is" in note, note


async def test_ctrl_c_ends_jobdeck_events_quietly(server: Place) -> None:
    path = deck(server, "brief", '[deck]\nname = "brief"\n[[job]]\nname = "say"\nshell = "echo hi"\n')
    follower = subprocess.Popen(
        [*JOBDECK, "events", "--deck", "brief"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_of(server),
    )
    try:
        await following(follower)
        await load(server, path)
        assert follower.stdout is not None
        first = await anyio.to_thread.run_sync(follower.stdout.readline)
        assert "deck brief loaded from" in first
        follower.send_signal(signal.SIGINT)
        _, err = await anyio.to_thread.run_sync(lambda: follower.communicate(timeout=RUN_TIMEOUT_S))
    finally:
        follower.kill()
    assert follower.returncode == 0 and err == ""


def test_jobdeck_events_ends_with_the_server_and_says_when_there_is_none(place: Place) -> None:
    env = {**os.environ, "JOBDECK_SOCKET": str(place.socket)}
    absent = jobdeck("events", env=env)
    assert absent.returncode == 1 and "no jobdeck server runs" in absent.stderr
    assert jobdeck("start-server", env=env).returncode == 0
    follower = subprocess.Popen(
        [*JOBDECK, "events", "--json", "--deck", "nosuch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        anyio.run(following, follower)
        assert jobdeck("stop-server", env=env).returncode == 0
        out, err = follower.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["server_stopped"]
