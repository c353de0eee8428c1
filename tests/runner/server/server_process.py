"""A jobdeck server process started directly, with the server's own options (for tests of its limits)."""

from __future__ import annotations

import resource
import subprocess
import sys

from runner.server.server import socket_answers
from tests.conftest import Place
from tests.helpers import wait_until


def start_server(place: Place, *options: str, descriptors: int | None = None) -> subprocess.Popen[bytes]:
    """A server process of our own (output to place.log), with at most `descriptors` file descriptors."""

    def limit_descriptors() -> None:
        if descriptors is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, descriptors))

    place.socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(place.log, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "runner.server.server", "--socket", str(place.socket), *options],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=limit_descriptors,
        )
    wait_until(lambda: socket_answers(place.socket) or process.poll() is not None, what="the server to listen")
    assert process.poll() is None, place.log.read_text()
    return process
