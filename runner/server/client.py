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
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from runner import paths
from runner.report import deck_object
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
    StatusJobs,
    Stop,
    SupplyEnvironment,
    problem_from_dict,
    read_result,
    request_message,
)
from runner.server.server_error import ServerError
from runner.server.wire import to_wire
from runner.umask import current_umask

START_TIMEOUT_S = 30.0
"""How long a new server may take to answer. A server that cannot start exits and says why at once; one that
starts slowly (a busy machine, a big journal to restore: 5 s was seen to be too short) is waited for."""
REFUSED_BEFORE_LOADING = frozenset(
    {"deck", "already_loaded", "bad_request", "bad_message", "too_large", "version", "forbidden"}
)
"""Failures of a load that the server sends before it adds anything."""
STOP_TIMEOUT_S = 40.0
"""How long `stop_server` waits, after the server has answered, for its process to exit (longer than the
server's own exit deadline, runner.server.server.EXIT_DEADLINE_S)."""
PEER_PROBE_TIMEOUT_S = 5.0
"""How long asking a server's socket whose process it is may take."""
REQUEST_TIMEOUT_S = 120.0
"""How long a request waits for its answer: generous, since loading a deck of a million jobs takes the server
tens of seconds; a server that takes longer is taken for stuck. `$JOBDECK_CLIENT_TIMEOUT` chooses another."""
TIMEOUT_VARIABLE = "JOBDECK_CLIENT_TIMEOUT"
SERVER_CANNOT_START = 2
"""The exit status of a server that cannot start for a reason a retry would not change (the server's
EXIT_CANNOT_START; not imported from there, which would load the engine)."""


def request_timeout(environ: Mapping[str, str] | None = None) -> float:
    """`$JOBDECK_CLIENT_TIMEOUT` (seconds) when set, else REQUEST_TIMEOUT_S; ServerError when it is no duration."""
    raw = (os.environ if environ is None else environ).get(TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return REQUEST_TIMEOUT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ServerError("usage", f"{TIMEOUT_VARIABLE}={raw!r} is not a number of seconds above 0")
    return seconds


def server_pid(socket_path: Path) -> int | None:
    """The pid a server wrote in the lock file beside its socket, if any."""
    try:
        return int(socket_path.with_name(socket_path.name + ".lock").read_text().strip())
    except (OSError, ValueError):
        return None


def no_answer(socket_path: Path, seconds: float, pid: int | None) -> ServerError:
    """The error of a server that did not answer in time, saying what to do about it."""
    ending = f"`jobdeck stop-server`, or `kill {pid}`" if pid else "`jobdeck stop-server`, or kill its process"
    why = "it may be busy or stuck"
    if pid is not None and _process_state(pid) in ("T", "t"):
        why = f"it is stopped (SIGSTOP, or a debugger): `kill -CONT {pid}` lets it go on"
    return ServerError(
        "timeout",
        f"the jobdeck server at {socket_path} did not answer within {seconds:g} s; {why}; see its log at "
        f"{paths.server_log_path()}; if it stays so, end it with {ending} (its unfinished jobs run again when a "
        f"server starts next; ${TIMEOUT_VARIABLE} waits longer)",
    )


def _process_state(pid: int) -> str | None:
    """The process's state letter from /proc (R, S, T, Z, ...); None when unknown or gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


class Client:
    """One connection to the server. `await Client.connect(path)` says hello; then `await call(request)` (typed)
    or `await request(op, **args)` (the reply's JSON, for callers that read it as such). A request that gets no
    answer within `timeout` seconds raises ServerError (kind "timeout"), and the connection is given up."""

    def __init__(self, stream: SocketStream, socket_path: Path, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self._stream = stream
        self.timeout = timeout
        self._gave_up: ServerError | None = None
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
    async def connect(cls, socket_path: Path | None = None, *, timeout: float | None = None) -> Client:
        """Connect and say hello; OSError when nothing listens, ServerError when the server does not answer."""
        path = Path(socket_path or paths.socket_path())
        seconds = request_timeout() if timeout is None else timeout
        with anyio.move_on_after(seconds) as connecting:  # a full backlog blocks the connect itself
            stream = await anyio.connect_unix(path)
        if connecting.cancelled_caught:
            raise no_answer(path, seconds, server_pid(path))
        client = cls(stream, path, seconds)
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
            if self._gave_up is not None:  # a late answer would be taken for the next request's
                raise ServerError("disconnected", self._gave_up.message)
            message["id"] = next(self._ids)
            try:
                with anyio.move_on_after(self.timeout) as waiting:
                    await send_message(self._stream, message)
                    reply = await receive_message(self._reader)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError) as lost:
                raise ServerError("disconnected", f"the jobdeck server closed the connection ({lost!r})") from None
            if waiting.cancelled_caught:
                pid = self._server.pid if self._server is not None else server_pid(self.socket_path)
                self._gave_up = no_answer(self.socket_path, self.timeout, pid)
                raise self._gave_up
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
    """Start `python -m runner.server.server` detached: its own session, no terminal, logging to the log file
    (which it rotates; its output goes there too, from the start)."""
    log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "runner.server.server", "--socket", str(socket_path), "--log", str(log_path)],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            cwd="/",
            close_fds=True,
        )


async def ensure_server(
    socket_path: Path | None = None,
    *,
    log_path: Path | None = None,
    timeout: float = START_TIMEOUT_S,
    client_class: type[Client] = Client,
) -> Client:
    """A connected Client (of `client_class`), starting the server in the background first when none answers."""
    path = Path(socket_path or paths.socket_path())
    with contextlib.suppress(OSError):
        return await client_class.connect(path)
    log = log_path or paths.server_log_path()
    log_start = log.stat().st_size if log.exists() else 0
    process = start_server_process(path, log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await client_class.connect(path)
        except OSError:
            pass
        # A server that exits at once may have lost a race with another starter: keep trying until the deadline,
        # unless it said it cannot start at all.
        cannot_start = process.poll() == SERVER_CANNOT_START
        if cannot_start or time.monotonic() > deadline:
            if process.poll() is not None:
                why = f"the jobdeck server exited with status {process.returncode}"
            else:
                why = f"the jobdeck server did not answer on {path} within {timeout:g} s"
            said = _server_said(log, log_start)
            raise ServerError("start", f"{said} (full log: {log})" if said else f"{why}; see {log}")
        await anyio.sleep(0.05)


def _server_said(log: Path, start: int) -> str | None:
    """The reason a server that could not start gave, in the lines it added to its log after `start`."""
    try:
        with open(log, "rb") as file:
            file.seek(start)
            added = file.read(64 * 1024).decode(errors="replace")
    except OSError:
        return None
    prefix = "jobdeck server: "
    reasons = [line.removeprefix(prefix) for line in added.splitlines() if line.startswith(prefix)]
    return f"the jobdeck server could not start: {reasons[-1]}" if reasons else None


# --- sync helpers for the CLI ----------------------------------------------------------------------------


def submit(
    files: Sequence[str | os.PathLike[str]], socket_path: Path | None = None, *, again: bool = False
) -> list[dict[str, Any]]:
    """Load each job file into the server (starting it if needed). One dict per path, whose `loaded` says what
    happened to it: True, with `deck`, `jobs` (how many) and `repeats` (the name of an earlier deck from the
    same file, or None); False, with `problems` (the file is bad, or its work is loaded already) or `error`
    (it was not sent); None, with `error`, when the connection was lost before the server answered, so the
    file may or may not have been loaded. `again` loads a file whose work is loaded already too.

    Raises ServerError (nothing was loaded) when no server can be reached."""

    async def run() -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        paths = [str(Path(file).resolve()) for file in files]
        async with await ensure_server(socket_path) as client:
            for number, path in enumerate(paths):
                try:
                    loaded = await client.call(Load(path, environ=dict(os.environ), umask=current_umask(), again=again))
                except ServerError as refused:
                    results.append(_refused(path, refused))
                    if refused.kind == "disconnected":
                        why = f"not submitted: the connection was lost while submitting {path}"
                        results += [{"path": later, "loaded": False, "error": why} for later in paths[number + 1 :]]
                        break
                else:
                    results.append(
                        {
                            "path": path,
                            "loaded": True,
                            "deck": loaded.deck,
                            "jobs": loaded.jobs,
                            "repeats": loaded.repeats,
                        }
                    )
        return results

    return anyio.run(run)


def _refused(path: str, refused: ServerError) -> dict[str, Any]:
    if refused.kind == "deck":
        problems = [str(problem_from_dict(problem)) for problem in refused.details.get("problems", [])]
        return {"path": path, "loaded": False, "problems": problems or [refused.message]}
    if refused.kind in REFUSED_BEFORE_LOADING:
        return {"path": path, "loaded": False, "problems": [refused.message]}
    # Lost, timed out, or failed in the server: whether the deck was added is not known here.
    return {"path": path, "loaded": None, "error": refused.message}


def status(socket_path: Path | None = None) -> dict[str, Any] | None:
    """`{"server": {pid, version, protocol, socket, ...}, "decks": [deck object, as in run --json, ...]}`; None
    when no server runs (none is started just to be asked)."""
    path = Path(socket_path or paths.socket_path())

    async def run() -> dict[str, Any] | None:
        try:
            client = await Client.connect(path)
        except OSError:
            return None
        async with client:
            return await read_status(client)

    return anyio.run(run)


async def read_status(client: Client) -> dict[str, Any]:
    """The whole status, asked for a page at a time (every reply fits in a frame, whatever the number of jobs).

    A deck forgotten while its pages are read is left out."""
    reply = first = await client.call(Status())
    decks = list(reply.decks)
    while reply.next is not None:
        reply = await client.call(Status(start=reply.next))
        decks += reply.decks
    report: dict[str, Any] = {"server": to_wire(reply.server), "decks": []}
    for deck in decks:
        rows: list[dict[str, Any]] = []
        start: int | None = 0
        try:
            while start is not None:  # read as plain JSON: the rows are plain JSON values, and many
                page = await client.request(StatusJobs.op, deck=deck.deck, start=start)
                rows += page["rows"]
                start = page["next"]
        except ServerError as gone:
            if gone.kind != "command":
                raise
            continue
        more = {"note": deck.note} if deck.note else {}
        span = (deck.started_at, deck.ended_at)
        report["decks"].append(deck_object(deck.deck, deck.path, deck.counts, span, rows, **more))
    for waiting in first.waiting:  # restored after a reboot, waiting for its environment: no jobs loaded yet
        more = {key: value for key, value in waiting.items() if key not in ("deck", "path")}
        report["decks"].append(deck_object(waiting["deck"], waiting["path"], {}, (None, None), [], **more))
    return report


def command(name: Command | str, job: str | None = None, socket_path: Path | None = None) -> int | None:
    """Run an engine command (pause, resume, cancel, retry with a job; the *_all ones without)."""

    async def run() -> int | None:
        async with await ensure_server(socket_path) as client:
            return await client.call(RunCommand(Command(name), job))

    return anyio.run(run)


def start_server(socket_path: Path | None = None) -> tuple[dict[str, Any], bool]:
    """The server's description (ServerInfo as JSON), starting it first when none runs; and whether it was
    started now. ServerError when it cannot start or does not answer."""

    async def run() -> tuple[dict[str, Any], bool]:
        path = Path(socket_path or paths.socket_path())
        try:
            client = await Client.connect(path)
            started = False
        except OSError:
            client = await ensure_server(path)
            started = True
        async with client:
            info: dict[str, Any] = to_wire(client.server)
        return info, started

    return anyio.run(run)


def stop_server(socket_path: Path | None = None, timeout: float = STOP_TIMEOUT_S) -> dict[str, Any] | None:
    """Cancel the server's jobs and stop it; None when no server runs (none is started just to stop it).
    Returns once its process has exited: `{"cancelled": n, "pid": pid}`; ServerError when it does not answer,
    or has not exited `timeout` seconds after it answered."""
    path = Path(socket_path or paths.socket_path())

    async def run() -> dict[str, Any] | None:
        try:
            client = await Client.connect(path)
        except OSError:
            return None
        except ServerError as refused:
            if refused.kind != "version":
                raise
            return await _stop_other_version(path, refused, timeout)
        async with client:
            stopped = await client.call(Stop())
            pid = client.server.pid
        await _wait_for_exit(pid, timeout, f"cancelled {stopped.cancelled} job(s) but ")
        return {"cancelled": stopped.cancelled, "pid": pid}

    return anyio.run(run)


async def _stop_other_version(path: Path, refused: ServerError, timeout: float) -> dict[str, Any]:
    """Stop a server of another protocol, which no request of ours reaches: after an upgrade, the version
    that started it is gone. SIGTERM, as a system shutdown sends it: its unfinished jobs run again at the next
    start, from the journal. Only a server running as this user (the socket's peer credentials say)."""
    pid = _peer_pid(path)
    if pid is None:
        raise refused
    os.kill(pid, signal.SIGTERM)
    await _wait_for_exit(pid, timeout, "was sent SIGTERM but ")
    return {"cancelled": None, "pid": pid, "other_version": refused.message}


def _peer_pid(path: Path) -> int | None:
    """The pid of the process listening on the socket when it runs as this user (None: another user's, or no
    way to tell on this system)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    credentials = struct.Struct("3i")  # pid, uid, gid
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(PEER_PROBE_TIMEOUT_S)
        try:
            probe.connect(str(path))
            pid, uid, _ = credentials.unpack(probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, credentials.size))
        except OSError:
            return None
    return pid if uid == os.getuid() and pid > 0 else None


async def _wait_for_exit(pid: int, timeout: float, done: str) -> None:
    with anyio.move_on_after(timeout):
        while not process_exited(pid):
            await anyio.sleep(0.05)
    if not process_exited(pid):
        raise ServerError(
            "stuck",
            f"the jobdeck server {pid} {done}has not exited {timeout:g} s later (something in it does not end); "
            f"see its log at {paths.server_log_path()}; `kill {pid}` ends it, `kill -9 {pid}` if that does not",
        )


def process_exited(pid: int) -> bool:
    """True once the process is gone or a zombie: it holds no socket, lock or journal any more."""
    state = _process_state(pid)
    if state is not None:
        return state in ("Z", "X")
    try:  # gone, or no /proc: ask the kernel whether the pid is taken
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def supply_environment(deck: str, socket_path: Path | None = None) -> dict[str, Any]:
    """Give the deck this process's environment and umask (`jobdeck env DECK`): `{"deck", "message", "jobs"}`."""

    async def run() -> dict[str, Any]:
        async with await ensure_server(socket_path) as client:
            reply = await client.call(SupplyEnvironment(deck, dict(os.environ), umask=current_umask()))
            supplied: dict[str, Any] = to_wire(reply)
            return supplied

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
