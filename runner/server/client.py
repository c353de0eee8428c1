"""Talking to the jobdeck server: an async Client, starting the server when none runs, and sync helpers.

The CLI calls `submit(paths)`, `status()` and `stop_server()`; each raises ServerError with a message
fit to print when the server refuses or cannot be reached.

This module is light on purpose: it speaks the protocol (runner.server.framing, messages, views) and never
imports the engine, the deck parser, the job kinds, httpx or rich, so `jobdeck status` starts quickly.
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

from runner import paths
from runner.server.framing import receive_message, send_message
from runner.server.messages import (
    Command,
    Forget,
    Hello,
    Load,
    ReplyT,
    Request,
    RunCommand,
    ServerInfo,
    Status,
    Stop,
    problem_from_dict,
    read_result,
    request_message,
)
from runner.server.wire import to_wire

START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 15.0


class ServerError(Exception):
    """The server answered with an error, or could not be reached; `kind` says which."""

    def __init__(self, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}


class Client:
    """One connection to the server. `await Client.connect(path)` says hello; then `await call(request)` (typed)
    or `await request(op, **args)` (the reply's JSON, for callers that read it as such)."""

    def __init__(self, stream: SocketStream, socket_path: Path) -> None:
        self._stream = stream
        self._reader = BufferedByteReceiveStream(stream)
        self._ids = itertools.count(1)
        self._lock = anyio.Lock()
        self.socket_path = socket_path
        self._server: ServerInfo | None = None

    @property
    def server(self) -> ServerInfo:
        """Who answered hello (set by `connect`)."""
        if self._server is None:
            raise ServerError("disconnected", "not connected: use Client.connect")
        return self._server

    @classmethod
    async def connect(cls, socket_path: Path | None = None) -> Client:
        path = Path(socket_path or paths.socket_path())
        stream = await anyio.connect_unix(path)
        client = cls(stream, path)
        try:
            client._server = (await client.call(Hello.ours())).server
        except BaseException:
            await client.close()
            raise
        return client

    async def call(self, request: Request[ReplyT]) -> ReplyT:
        """Send one request and return its typed reply; ServerError when the server answers with an error."""
        return read_result(request, await self._exchange(request_message(0, request)))

    async def request(self, op: str, **args: Any) -> Any:
        """Send one request by name and return its reply as JSON; ServerError when the server answers with an error."""
        return await self._exchange({"id": 0, "op": op, "args": args})

    async def _exchange(self, message: dict[str, Any]) -> Any:
        async with self._lock:
            message["id"] = next(self._ids)
            try:
                await send_message(self._stream, message)
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
    path = Path(socket_path or paths.socket_path())
    with contextlib.suppress(OSError):
        return await Client.connect(path)
    log = log_path or paths.server_log_path()
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


def submit(files: Sequence[str | os.PathLike[str]], socket_path: Path | None = None) -> list[dict[str, Any]]:
    """Load each job file into the server (starting it if needed). One dict per path: `{"path", "deck",
    "jobs"}` when loaded, `{"path", "problems": [str, ...]}` when the file is bad."""

    async def run() -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        async with await ensure_server(socket_path) as client:
            for file in files:
                path = str(Path(file).resolve())
                try:
                    loaded = await client.call(Load(path, environ=dict(os.environ)))
                except ServerError as refused:
                    if refused.kind != "deck":
                        raise
                    problems = [str(problem_from_dict(problem)) for problem in refused.details.get("problems", [])]
                    results.append({"path": path, "problems": problems or [refused.message]})
                else:
                    results.append({"path": path, "deck": loaded.deck, "jobs": loaded.jobs})
        return results

    return anyio.run(run)


def status(socket_path: Path | None = None) -> dict[str, Any]:
    """`{"server": {pid, version, protocol, socket, ...}, "decks": [deck report as in run --json, ...]}`."""

    async def run() -> dict[str, Any]:
        async with await ensure_server(socket_path) as client:
            report: dict[str, Any] = to_wire(await client.call(Status()))
            return report

    return anyio.run(run)


def command(name: Command | str, job: str | None = None, socket_path: Path | None = None) -> int | None:
    """Run an engine command (pause, resume, cancel, retry with a job; the *_all ones without)."""

    async def run() -> int | None:
        async with await ensure_server(socket_path) as client:
            return await client.call(RunCommand(Command(name), job))

    return anyio.run(run)


def stop_server(socket_path: Path | None = None, timeout: float = STOP_TIMEOUT_S) -> dict[str, Any] | None:
    """Cancel the server's jobs and stop it; None when no server runs (none is started just to stop it).
    Returns once the socket is gone: `{"cancelled": n, "pid": pid}`."""
    path = Path(socket_path or paths.socket_path())

    async def run() -> dict[str, Any] | None:
        try:
            client = await Client.connect(path)
        except OSError:
            return None
        async with client:
            stopped = await client.call(Stop())
            pid = client.server.pid
        with anyio.move_on_after(timeout):
            while path.exists():
                await anyio.sleep(0.05)
        return {"cancelled": stopped.cancelled, "pid": pid}

    return anyio.run(run)


def forget(decks: Sequence[str], *, finished: bool = False, socket_path: Path | None = None) -> list[dict[str, Any]]:
    """Forget these finished decks (or, with `finished`, every finished deck) in the server. One dict per
    request: `{"decks": [...], "jobs": n}` when forgotten, `{"deck", "error"}` when refused. No server is
    started for this: with none running, ServerError("absent")."""
    path = Path(socket_path or paths.socket_path())
    requests = [Forget(finished=True)] if finished else [Forget(deck=deck) for deck in decks]

    async def run() -> list[dict[str, Any]]:
        try:
            client = await Client.connect(path)
        except OSError:
            raise ServerError("absent", "no jobdeck server runs: there is nothing to forget") from None
        results: list[dict[str, Any]] = []
        async with client:
            for request in requests:
                try:
                    reply = await client.call(request)
                except ServerError as refused:
                    if refused.kind not in ("command", "bad_request"):
                        raise
                    results.append({"deck": request.deck, "error": refused.message})
                else:
                    results.append({"decks": reply.decks, "jobs": reply.jobs})
        return results

    return anyio.run(run)
