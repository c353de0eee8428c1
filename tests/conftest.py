import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.demo.server import DemoServer
from runner.server.client import stop_server
from tests.helpers import process_alive


@pytest.fixture(autouse=True)
def private_journal(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers that tests start (and their children) journal and log to files of the test's own, never the user's."""
    folder = tmp_path_factory.mktemp("journal")
    monkeypatch.setenv("JOBDECK_DB", str(folder / "journal.db"))
    monkeypatch.setenv("JOBDECK_LOG", str(folder / "server.log"))


@pytest.fixture(autouse=True)
def private_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests (and the servers they start) never read the user's config file: an empty config folder of their own."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.delenv("JOBDECK_CONFIG", raising=False)


@pytest.fixture(autouse=True)
def private_server_log(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers that tests start log into a folder of the test's own, never the user's log directory: through
    JOBDECK_LOG, and through XDG_STATE_HOME (where the default log directory is) for code that predates it."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("JOBDECK_LOG", str(state / "server.log"))
    monkeypatch.setenv("XDG_STATE_HOME", str(state))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def http_server() -> Iterator[DemoServer]:
    with DemoServer() as server:
        yield server


@pytest.fixture
def server_url(http_server: DemoServer) -> str:
    http_server.reset()
    return http_server.url


@dataclass
class Place:
    root: Path
    socket: Path
    log: Path


@pytest.fixture
def place() -> Iterator[Place]:
    """A socket path short enough for AF_UNIX; afterwards any server left there is stopped."""
    root = Path(tempfile.mkdtemp(prefix="jd", dir="/tmp"))
    here = Place(root, root / "run" / "s.sock", root / "server.log")
    yield here
    try:
        stop_server(here.socket, timeout=5)
    finally:
        # A server that did not stop (or several: a test may start them in turn) must not outlive the test.
        for pid in servers_on(here.socket):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def servers_on(socket_path: Path) -> list[int]:
    """Live server processes started for this socket (found by their command line)."""
    wanted = ["--socket", str(socket_path)]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            arguments = [part.decode() for part in (entry / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        mine = "runner.server.server" in arguments and all(part in arguments for part in wanted)
        if mine and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found
