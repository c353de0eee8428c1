"""A real jobdeck server process with a journal of its own, for the tests of the commands that report on jobs, and
`jobdeck` run in this process against it (quicker than a new interpreter per command: the module's server is
shared by its tests)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from runner.cli.main import main
from runner.server.client import stop_server
from runner.server.server import socket_answers
from tests.helpers import JOBDECK, wait_until


@dataclass
class Ran:
    code: int
    out: str
    err: str


@dataclass
class LiveServer:
    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.root / "s"

    @property
    def db(self) -> Path:
        return self.root / "journal.db"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "JOBDECK_SOCKET": str(self.socket),
            "JOBDECK_DB": str(self.db),
            "JOBDECK_LOG": str(self.root / "server.log"),
        }

    def start(self) -> None:
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runner.server.server", "--socket", str(self.socket), "--db", str(self.db)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        process = self.process
        wait_until(lambda: socket_answers(self.socket) or process.poll() is not None, what="the server listening")
        assert process.poll() is None, (self.root / "server.log").read_text()

    def kill(self) -> None:
        """kill -9, as a crash would: the next server finds the journal as this one left it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def socket_connections(self) -> int:
        """The server's socket, and the connections made to it that it has not closed: /proc/net/unix lists each
        with its path (a connection the server has not accepted yet too)."""
        lines = Path("/proc/net/unix").read_text().splitlines()
        return sum(1 for line in lines if line.endswith(f" {self.socket}"))

    def jobdeck(self, *arguments: str | Path) -> Ran:
        """`jobdeck ARGUMENTS` run in this process against this server (and journal)."""
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(os.environ, self.env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(argument) for argument in arguments])
        return Ran(code, out.getvalue(), err.getvalue())

    def background(self, *arguments: str | Path) -> subprocess.Popen[str]:
        """`jobdeck ARGUMENTS` in a process of its own, its output captured."""
        return subprocess.Popen(
            [*JOBDECK, *map(str, arguments)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text)
        return path


@contextlib.contextmanager
def live_server(*, started: bool = True) -> Iterator[LiveServer]:
    """A server (unless not `started`) in a folder of its own, stopped and removed afterwards."""
    server = LiveServer(Path(tempfile.mkdtemp(prefix="jdrep", dir="/tmp")))  # socket paths must stay short
    try:
        if started:
            server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            stop_server(server.socket, timeout=10)
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=10)
        shutil.rmtree(server.root, ignore_errors=True)
