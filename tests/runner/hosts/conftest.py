from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner.demo.counting_server import CountingServer


@pytest.fixture(scope="module")
def counting_server() -> Iterator[CountingServer]:
    """Two ports of 127.0.0.1 counting connections and requests at once, shared by a module's tests."""
    with CountingServer(ports=2) as server:
        yield server


@pytest.fixture
def counted(counting_server: CountingServer) -> CountingServer:
    """The module's counting server, its counts zeroed for this test."""
    counting_server.reset()
    return counting_server
