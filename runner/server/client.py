"""Talking to the jobdeck server: an async Client, starting the server when none runs, and sync helpers.

The CLI calls `submit(paths)`, `status()` and `stop_server()`; each raises ServerError with a message
fit to print when the server refuses or cannot be reached.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from runner.server.protocol import hello_args, problem_from_dict, receive_message, send_message
from runner.server.server import default_socket_path

START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 15.0


class ServerError(Exception):
    """The server answered with an error, or could not be reached; `kind` says which."""

    def __init__(self, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}


def default_log_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_log_dir("jobdeck")) / "server.log"


class Client:
    """One connection to the server. `await Client.connect(path)` says hello; then `await request(op, ...)`."""

    def __init__(self, stream: SocketStream, socket_path: Path) -> None:
        self._stream = stream
        self._reader = BufferedByteReceiveStream(stream)
        self._ids = itertools.count(1)
        self._lock = anyio.Lock()
        self.socket_path = socket_path
        self.server: dict[str, Any] = {}

    @classmethod
    async def connect(cls, socket_path: Path | None = None) -> Client:
        path = Path(socket_path or default_socket_path())
        stream = await anyio.connect_unix(path)
        client = cls(stream, path)
        try:
            client.server = (await client.request("hello", **hello_args()))["server"]
        except BaseException:
            await client.close()
            raise
        return client

    async def request(self, op: str, **args: Any) -> Any:
        """Send one request and return its result; ServerError when the server answers with an error."""
        async with self._lock:
            request_id = next(self._ids)
            try:
                await send_message(self._stream, {"id": request_id, "op": op, "args": args})
                reply = await receive_message(self._reader)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError) as lost:
                raise ServerError("disconnected", f"the jobdeck server closed the connection ({lost!r})") from None
        if reply.get("ok"):
            return reply.get("result")
        error = reply.get("error") or {}
        raise ServerError(str(error.get("kind", "error")), str(error.get("message", "unknown error")), error)

    async def close(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def start_server_process(socket_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start `python -m runner.server.server` detached: its own session, no terminal, output to the log file."""
    log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "runner.server.server", "--socket", str(socket_path)],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            cwd="/",
            close_fds=True,
        )


async def ensure_server(
    socket_path: Path | None = None, *, log_path: Path | None = None, timeout: float = START_TIMEOUT_S
) -> Client:
    """A connected Client, starting the server in the background first when none answers."""
    path = Path(socket_path or default_socket_path())
    with contextlib.suppress(OSError):
        return await Client.connect(path)
    log = log_path or default_log_path()
    process = start_server_process(path, log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await Client.connect(path)
        except OSError:
            pass
        # A server that exits at once may have lost a race with another starter: keep trying until the deadline.
        if time.monotonic() > deadline:
            if process.poll() is not None:
                why = f"the jobdeck server exited with status {process.returncode}"
            else:
                why = f"the jobdeck server did not answer on {path} within {timeout:g} s"
            raise ServerError("start", f"{why}; see {log}")
        await anyio.sleep(0.05)


# --- sync helpers for the CLI ----------------------------------------------------------------------------


def submit(paths: Sequence[str | os.PathLike[str]], socket_path: Path | None = None) -> list[dict[str, Any]]:
    """Load each job file into the server (starting it if needed). One dict per path: `{"path", "deck",
    "jobs"}` when loaded, `{"path", "problems": [str, ...]}` when the file is bad."""

    async def run() -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        async with await ensure_server(socket_path) as client:
            for raw in paths:
                path = str(Path(raw).resolve())
                try:
                    loaded = await client.request("load", path=path, environ=dict(os.environ))
                except ServerError as refused:
                    if refused.kind != "deck":
                        raise
                    problems = [str(problem_from_dict(problem)) for problem in refused.details.get("problems", [])]
                    results.append({"path": path, "problems": problems or [refused.message]})
                else:
                    results.append({"path": path, **loaded})
        return results

    return anyio.run(run)


def status(socket_path: Path | None = None) -> dict[str, Any]:
    """`{"server": {pid, version, protocol, socket}, "decks": [deck report as in run --json, ...]}`."""

    async def run() -> dict[str, Any]:
        async with await ensure_server(socket_path) as client:
            result: dict[str, Any] = await client.request("status")
            return result

    return anyio.run(run)


def command(name: str, job: str | None = None, socket_path: Path | None = None) -> Any:
    """Run an engine command (pause, resume, cancel, retry with a job; the *_all ones without)."""

    async def run() -> Any:
        async with await ensure_server(socket_path) as client:
            args = {"command": name} if job is None else {"command": name, "job": job}
            return await client.request("command", **args)

    return anyio.run(run)


def stop_server(socket_path: Path | None = None, timeout: float = STOP_TIMEOUT_S) -> dict[str, Any] | None:
    """Cancel the server's jobs and stop it; None when no server runs (none is started just to stop it).
    Returns once the socket is gone: `{"cancelled": n, "pid": pid}`."""
    path = Path(socket_path or default_socket_path())

    async def run() -> dict[str, Any] | None:
        try:
            client = await Client.connect(path)
        except OSError:
            return None
        async with client:
            result: dict[str, Any] = await client.request("stop")
            pid = client.server.get("pid")
        with anyio.move_on_after(timeout):
            while path.exists():
                await anyio.sleep(0.05)
        return {**result, "pid": pid}

    return anyio.run(run)
