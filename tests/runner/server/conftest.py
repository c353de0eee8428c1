"""What the server tests share: a private socket for the jobdeck commands a test runs."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import jobdeck


@pytest.fixture
def socket_env() -> Iterator[dict[str, str]]:
    """The environment for `jobdeck` commands of a server of the test's own, stopped (and its folder removed)
    when the test ends."""
    folder = Path(tempfile.mkdtemp(prefix="jdsrv", dir="/tmp"))  # Unix socket paths must stay short
    env = {**os.environ, "JOBDECK_SOCKET": str(folder / "s"), "JOBDECK_LOG": str(folder / "server.log")}
    try:
        yield env
    finally:
        jobdeck("stop-server", env=env)
        shutil.rmtree(folder, ignore_errors=True)
