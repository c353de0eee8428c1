from collections.abc import Iterator

import pytest

from runner.demo_server import DemoServer


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
