from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner.demo.counting_server import CountingServerProcess


@pytest.fixture(scope="module")
def counting_server() -> Iterator[CountingServerProcess]:
    """Two ports of 127.0.0.1 counting connections and requests at once, shared by a module's tests: a process of
    its own, so that when it notes a request is not held up by the engine's work in the test's process."""
    with CountingServerProcess(ports=2) as server:
        yield server


@pytest.fixture
def counted(counting_server: CountingServerProcess) -> CountingServerProcess:
    """The module's counting server, its counts zeroed for this test."""
    counting_server.reset()
    return counting_server
