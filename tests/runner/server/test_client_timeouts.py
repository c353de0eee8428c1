"""A server that does not answer, or does not exit: the client says so, in bounded time, instead of hanging or
saying it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.server.client import ServerError, ensure_server, request_timeout, stop_server
from tests.conftest import Place
from tests.helpers import jobdeck, process_alive, wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture
def stopped_server(place: Place) -> Iterator[int]:
    """A real server, frozen with SIGSTOP for the test (and let go afterwards, so that it can be stopped)."""
    import anyio

    async def start() -> int:
        async with await ensure_server(place.socket, log_path=place.log) as client:
            return client.server.pid

    pid = anyio.run(start)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_stuck_server_gets_a_clear_message_in_bounded_time(place: Place, stopped_server: int) -> None:
    env = {**os.environ, "JOBDECK_SOCKET": str(place.socket), "JOBDECK_CLIENT_TIMEOUT": "0.5"}
    for command in ("status", "stop-server"):
        started = time.monotonic()
        done = jobdeck(command, env=env, timeout=20)
        assert time.monotonic() - started < 10
        assert done.returncode != 0
        assert f"the jobdeck server at {place.socket} did not answer within 0.5 s; it is stopped" in done.stderr
        assert f"kill {stopped_server}" in done.stderr and "see its log at" in done.stderr
        assert "Traceback" not in done.stderr and "stopped" not in done.stdout
    assert process_alive(stopped_server)


def test_a_bad_timeout_is_explained() -> None:
    with pytest.raises(ServerError, match="JOBDECK_CLIENT_TIMEOUT='soon' is not a number of seconds"):
        request_timeout({"JOBDECK_CLIENT_TIMEOUT": "soon"})
    assert request_timeout({"JOBDECK_CLIENT_TIMEOUT": "2.5"}) == 2.5


LINGERING_SERVER = """
import os, socket, struct, sys, time, json
from pathlib import Path
from runner.server.framing import encode
from runner.server.messages import HelloReply, ServerInfo, StopReply, reply_message, PROTOCOL_VERSION
path, linger = Path(sys.argv[1]), float(sys.argv[2])
path.with_name(path.name + ".lock").write_text(f"{os.getpid()}\\n")
listener = socket.socket(socket.AF_UNIX)
listener.bind(str(path))
listener.listen()
print("listening", flush=True)
connection, _ = listener.accept()
stream = connection.makefile("rb")
info = ServerInfo(pid=os.getpid(), version="0", protocol=PROTOCOL_VERSION, socket=str(path))
for reply in (HelloReply(info), StopReply(cancelled=2)):
    (length,) = struct.unpack(">I", stream.read(4))
    request = json.loads(stream.read(length))
    connection.sendall(encode(reply_message(request["id"], reply)))
connection.close()
path.unlink()  # like a server that removed its socket but is still busy ending
time.sleep(linger)
"""


def lingering_server(place: Place, linger: float) -> subprocess.Popen[str]:
    """A stand-in server that answers hello and stop, removes its socket, and exits `linger` seconds later."""
    place.socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    process = subprocess.Popen(
        [sys.executable, "-c", LINGERING_SERVER, str(place.socket), str(linger)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "listening\n"
    return process


def test_stop_server_returns_only_once_the_process_has_exited(place: Place) -> None:
    server = lingering_server(place, 0.5)
    try:
        assert stop_server(place.socket, timeout=10) == {"cancelled": 2, "pid": server.pid}
        assert server.poll() is not None, "the server's process is gone"
    finally:
        server.kill()
        server.wait()


def test_stop_server_says_so_when_the_process_does_not_exit(place: Place) -> None:
    server = lingering_server(place, 60)
    try:
        with pytest.raises(ServerError, match=f"has not exited 0.5 s later.*`kill {server.pid}`") as raised:
            stop_server(place.socket, timeout=0.5)
        assert raised.value.kind == "stuck"
    finally:
        server.kill()
        server.wait()
    wait_until(lambda: not process_alive(server.pid))


def test_an_unreadable_path_is_no_server(tmp_path: Path) -> None:
    assert stop_server(tmp_path / "nothing.sock", timeout=0.5) is None
