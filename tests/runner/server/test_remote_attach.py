"""Attaching to the server: a server that is still ending (told to stop, waiting for a job it cannot interrupt)
is waited for before a new one starts; a lock file naming a process that is no server delays nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import anyio
import pytest

from runner.server.remote import RemoteEngine
from tests.conftest import Place
from tests.helpers import wait_until

pytestmark = pytest.mark.anyio

ENDING_SERVER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, f"{os.getpid()}\\n".encode())
time.sleep(float(sys.argv[2]))
"""
"""Holds the socket's lock as a server does while it ends, with "runner.server.server" among its arguments
(longer than a new server takes to be refused and `ensure_server` to give up: START_TIMEOUT_S)."""


async def test_a_new_server_starts_once_the_ending_one_has_exited(place: Place) -> None:
    place.socket.parent.mkdir(parents=True, mode=0o700)
    lock = place.socket.with_name(place.socket.name + ".lock")
    ending = subprocess.Popen([sys.executable, "-c", ENDING_SERVER, str(lock), "4", "runner.server.server"])
    try:
        wait_until(lambda: lock.exists() and lock.read_text().strip() == str(ending.pid), what="the lock held")
        with anyio.fail_after(30):
            async with RemoteEngine(place.socket) as engine:
                assert ending.poll() is not None, "attached only once the ending server had exited"
                assert engine.lost is None and place.socket.exists()
    finally:
        ending.kill()
        ending.wait()


async def test_a_lock_file_naming_another_process_does_not_delay_attaching(place: Place) -> None:
    """A server killed with -9 leaves its pid in the lock file; that pid may belong to anything later."""
    place.socket.parent.mkdir(parents=True, mode=0o700)
    place.socket.with_name(place.socket.name + ".lock").write_text(f"{os.getpid()}\n")
    with anyio.fail_after(15):  # far less than the wait for an ending server
        async with RemoteEngine(place.socket) as engine:
            assert engine.lost is None
