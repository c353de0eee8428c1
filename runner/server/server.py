"""The per-user jobdeck server: one Engine behind a Unix socket that several clients watch and steer.

The socket lives in a 0700 directory (the user's runtime dir) and is made 0600; a peer of another uid
(SO_PEERCRED) is refused. A lock file beside the socket keeps a second server off the same socket; a
stale socket left by a crashed server is replaced. SIGHUP is ignored (a closed terminal is a detach);
SIGTERM, SIGINT or the `stop` op cancel every job, wait for them to end, and remove the socket.

Run as `python -m runner.server.server --socket PATH`.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from runner import paths
from runner.engine.engine import Engine
from runner.errors import CommandError, DeckError, describe_error, innermost
from runner.journal.recovery import run_jobs_to_list, run_to_dict
from runner.kinds.summary import spec_summary
from runner.report import deck_report
from runner.server.framing import ProtocolError, receive_message, send_message
from runner.server.messages import (
    PROTOCOL_VERSION,
    Failure,
    Hello,
    HelloReply,
    History,
    HistoryReply,
    Load,
    LoadReply,
    Output,
    Request,
    RunCommand,
    ServerInfo,
    Snapshot,
    SnapshotReply,
    Spec,
    SpecLines,
    Status,
    StatusReply,
    Stop,
    StopReply,
    failure_message,
    parse_request,
    reply_message,
    version_mismatch,
)
from runner.server.protocol import output_since, snapshot_jobs
from runner.server.wire import to_wire
from runner.version import installed_version

if TYPE_CHECKING:
    from runner.journal.recorder import Recorder
    from runner.journal.store import Journal
    from runner.model import Job

log = logging.getLogger("jobdeck.server")
STOP_WAIT_S = 10.0
"""How long a stop waits for cancelled jobs to end before the engine tears down what is left."""
LINGER_S = 1.0
LINGER_BYTES = 2 * 1024 * 1024


def prepare_directory(directory: Path) -> None:
    """Create the socket's directory 0700; refuse one owned by someone else or open to others."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = directory.stat()
    if info.st_uid != os.getuid():
        raise RuntimeError(f"{directory} belongs to uid {info.st_uid}, not to you")
    if info.st_mode & 0o077:
        os.chmod(directory, 0o700)


def peer_uid(stream: SocketStream) -> int | None:
    raw: socket.socket = stream.extra(SocketAttribute.raw_socket)
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = raw.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class ServerAlreadyRunning(RuntimeError):
    pass


def acquire_lock(socket_path: Path) -> int:
    """Hold `<socket>.lock` (with our pid in it) for the server's life; the kernel drops it if we crash."""
    lock_path = socket_path.with_name(socket_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ServerAlreadyRunning(f"a jobdeck server already runs on {socket_path}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


class Server:
    def __init__(
        self,
        engine: Engine,
        socket_path: Path,
        expected_uid: int,
        journal: Journal | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.engine = engine
        self.recorder = recorder
        """Journaling the engine: clients are shown a job's end only once the journal has committed it."""
        self.socket_path = socket_path
        self.expected_uid = expected_uid
        self.journal = journal
        self.stop_requested = anyio.Event()
        self.restored: list[str] = []
        """What start-up brought back from the journal, or could not, as lines for the status."""
        self.handlers: dict[type[Request[Any]], Callable[[Any], Awaitable[Any]]] = {
            Hello: self.hello,
            Load: self.load,
            RunCommand: self.command,
            Snapshot: self.snapshot,
            Output: self.output,
            Spec: self.spec,
            History: self.history,
            Status: self.status,
            Stop: self.handle_stop,
        }
        """One handler per request type (runner.server.messages.REQUESTS); each returns its reply's JSON."""

    def info(self) -> ServerInfo:
        return ServerInfo(
            pid=os.getpid(),
            version=installed_version(),
            protocol=PROTOCOL_VERSION,
            socket=str(self.socket_path),
            journal=None if self.journal is None else str(self.journal.path),
            restored=list(self.restored),
        )

    async def handle(self, stream: SocketStream) -> None:
        async with stream:
            try:
                uid = peer_uid(stream)
                if uid is not None and uid != self.expected_uid:
                    log.warning("refused a peer of uid %s", uid)
                    refusal = Failure("forbidden", f"uid {uid} may not use this jobdeck server")
                    await send_message(stream, failure_message(None, refusal))
                    await _linger(stream)
                    return
                await self.converse(stream)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, anyio.ClosedResourceError):
                log.debug("connection ended", exc_info=True)
            except Exception:  # one client's trouble must never stop the server
                log.exception("connection failed")

    async def converse(self, stream: SocketStream) -> None:
        """Answer one client's requests in turn until it hangs up (or a fatal error, or `stop`)."""
        reader = BufferedByteReceiveStream(stream)
        greeted = False
        while True:
            request_id: Any = None
            request: Request[Any] | None = None
            try:
                message = await receive_message(reader)
            except anyio.EndOfStream:
                log.debug("a client hung up")
                return
            except ProtocolError as problem:
                if await self._refuse(stream, request_id, problem):
                    return
                continue
            request_id = message.get("id")
            try:
                request = parse_request(message)
                if not greeted and not isinstance(request, Hello):
                    raise ProtocolError("bad_request", "the first request must be hello", fatal=True)
                result = await self.handlers[type(request)](request)
                greeted = True  # only a hello gets this far on a new connection
                reply = reply_message(request_id, result)
            except ProtocolError as problem:
                if await self._refuse(stream, request_id, problem):
                    return
                continue
            except Exception as failed:
                reply = failure_message(request_id, self._failure(message.get("op"), failed))
            try:
                await send_message(stream, reply)
            except ProtocolError as problem:  # the reply is too large for a frame
                await self._refuse(stream, request_id, problem)
            if reply["ok"] and isinstance(request, Stop):
                self.stop_requested.set()
                return

    async def _refuse(self, stream: SocketStream, request_id: Any, problem: ProtocolError) -> bool:
        """Send the protocol error; True when it is fatal and the connection is now to be closed."""
        await send_message(stream, failure_message(request_id, Failure(problem.kind, problem.message)))
        if problem.fatal:
            await _linger(stream)
        return problem.fatal

    @staticmethod
    def _failure(op: Any, failed: Exception) -> Failure:
        """What the client is told of a request that failed."""
        if isinstance(failed, DeckError):
            return Failure("deck", str(failed), problems=list(failed.problems))
        if isinstance(failed, CommandError):
            return Failure("command", str(failed))
        if isinstance(failed, (KeyError, TypeError, ValueError, OSError)):
            return Failure("bad_request", repr(failed))
        # A fault in one request must not cost the client its connection.
        log.error("request %r failed", op, exc_info=failed)
        message = f"internal error in the server: {describe_error(failed)} (see the server's log)"
        return Failure("internal", message)

    # --- one handler per request type; each returns the JSON of its reply type ------------------------------

    async def hello(self, request: Hello) -> Any:
        if request.protocol != PROTOCOL_VERSION:
            raise ProtocolError("version", version_mismatch(request.protocol, request.version), fatal=True)
        return to_wire(HelloReply(self.info()))

    async def load(self, request: Load) -> Any:
        deck = await self.engine.load(request.path, environ=request.environ)
        return to_wire(LoadReply(deck.name, [job.id for job in self.engine.jobs_of(deck.name)]))

    async def command(self, request: RunCommand) -> Any:
        method = getattr(self.engine, request.command.value)
        return await (method(request.job) if request.command.takes_job else method())

    async def snapshot(self, request: Snapshot) -> Any:
        engine = self.engine
        changed, upto = self.committed_changes(request.since)
        jobs, more = snapshot_jobs(changed)
        reply = SnapshotReply(
            jobs=[],
            more=more is not None,
            revision=upto if more is None else more,
            decks={name: str(deck.path) for name, deck in engine.decks.items()},
            dispatching=engine.dispatching,
            counts={state.value: count for state, count in engine.counts().items()},
            kinds=engine.kind_status(),
        )
        # The jobs are JSON already: snapshot_jobs encoded each to keep the reply inside a frame.
        return {**to_wire(reply), "jobs": jobs}

    async def output(self, request: Output) -> Any:
        return to_wire(output_since(self.engine.job(request.job), request.after))

    async def spec(self, request: Spec) -> Any:
        return to_wire(SpecLines(spec_summary(self.engine.job(request.job).spec)))

    async def history(self, request: History) -> Any:
        """Earlier deck runs from the journal (`runs`), or one run's jobs (`jobs`, with `run` set)."""
        journal = self.journal
        if journal is None:
            return to_wire(HistoryReply())
        if request.run is None:
            runs = await anyio.to_thread.run_sync(journal.history)
            return to_wire(HistoryReply(runs=[run_to_dict(run) for run in runs], journal=str(journal.path)))
        rows = await anyio.to_thread.run_sync(journal.jobs, request.run)
        return to_wire(HistoryReply(jobs=run_jobs_to_list(rows)))

    async def status(self, request: Status) -> Any:
        engine = self.engine
        if self.recorder is not None:
            await self.recorder.flush()  # what the report says has finished is in the journal
        decks = [deck_report(deck, engine.jobs_of(deck)) for deck in engine.decks]
        return to_wire(StatusReply(self.info(), decks))

    async def handle_stop(self, request: Stop) -> Any:
        return to_wire(await self.stop())

    def committed_changes(self, since: int) -> tuple[list[Job], int]:
        """The jobs changed after `since` that a client may be shown, and the revision it has then seen.

        A job that finished after the journal's last commit is held back, with every change after it, until
        the next commit (at most one flush interval): a success a client has shown survives `kill -9`."""
        engine = self.engine
        changed = engine.changed_since(since)
        recorder = self.recorder
        if recorder is None:
            return changed, engine.revision
        committed = recorder.committed_revision
        held = [job.revision for job in changed if job.revision > committed and job.state.finished]
        if not held:
            return changed, engine.revision
        cut = min(held) - 1
        return [job for job in changed if job.revision <= cut], cut

    async def stop(self) -> StopReply:
        """Cancel every job, wait (bounded) until they have ended, then let the server exit."""
        engine = self.engine
        unfinished = sum(1 for job in engine.jobs.values() if not job.state.finished)
        await engine.cancel_all()
        with anyio.move_on_after(STOP_WAIT_S):
            await engine.wait_until_settled()
        return StopReply(cancelled=unfinished)


async def serve(
    socket_path: Path,
    *,
    journal_path: Path | None = None,
    engine_factory: Callable[[], Engine] = Engine,
    expected_uid: int | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until stopped (the `stop` op, SIGTERM or SIGINT); the socket is gone afterwards and the lock released.

    With a journal, every change is recorded, and the runs a dead server left unfinished are restored first."""
    socket_path = Path(socket_path)
    prepare_directory(socket_path.parent)
    lock_fd = acquire_lock(socket_path)
    try:
        if socket_path.exists() or socket_path.is_symlink():
            if socket_answers(socket_path):
                raise ServerAlreadyRunning(f"something already answers on {socket_path}")
            socket_path.unlink()  # stale, from a server that crashed
        from runner.journal.recorded import recorded_engine
        from runner.stored_results import results_folder, sweep_results

        async with contextlib.AsyncExitStack() as stack:
            engine = engine_factory()
            journal: Journal | None = None
            if journal_path is not None:
                from runner.journal.store import Journal

                Path(journal_path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                stack.enter_context(journal_lock(Path(journal_path)))
                journal = stack.enter_context(Journal.open(journal_path, create_parent=True))
                engine.results_folder = results_folder(Path(journal_path))
                await anyio.to_thread.run_sync(sweep_results, engine.results_folder, journal)
            recorder = await stack.enter_async_context(recorded_engine(engine, journal))
            uid = os.getuid() if expected_uid is None else expected_uid
            server = Server(engine, socket_path, uid, journal, recorder)
            if journal is not None and recorder is not None:
                from runner.journal.recovery import restore_unfinished

                server.restored = await restore_unfinished(engine, journal, recorder)
            await _serve_until_stopped(server, task_status)
    finally:
        os.ftruncate(lock_fd, 0)
        os.close(lock_fd)
    log.info("jobdeck server stopped")


@contextlib.contextmanager
def journal_lock(journal_path: Path) -> Iterator[None]:
    """One server per journal: a second one would mark the first one's running jobs interrupted."""
    lock_path = journal_path.with_name(journal_path.name + ".server-lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServerAlreadyRunning(
                f"another jobdeck server uses the journal {journal_path}; stop it, or give this one --db"
            ) from None
        yield
    finally:
        os.close(fd)


async def _serve_until_stopped(server: Server, task_status: TaskStatus[None]) -> None:
    socket_path = server.socket_path
    listener = await anyio.create_unix_listener(socket_path, mode=0o600)
    try:
        async with listener, anyio.create_task_group() as group:
            group.start_soon(listener.serve, server.handle)
            group.start_soon(_stop_on_signals, server)
            log.info("jobdeck server %s listening on %s (pid %d)", installed_version(), socket_path, os.getpid())
            task_status.started()
            await server.stop_requested.wait()
            group.cancel_scope.cancel()
    finally:
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()


async def _linger(stream: SocketStream) -> None:
    """Before closing on a refused message: let the error be read. Closing with unread input would reset
    the connection and lose the reply, so the peer's remaining bytes are read and dropped (bounded)."""
    raw: socket.socket = stream.extra(SocketAttribute.raw_socket)
    with contextlib.suppress(OSError):
        raw.shutdown(socket.SHUT_WR)  # the peer reads our error, then end of stream
    with anyio.move_on_after(LINGER_S), contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
        dropped = 0
        while dropped < LINGER_BYTES:
            dropped += len(await stream.receive())


async def _stop_on_signals(server: Server) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("got signal %d: stopping", signum)
            await server.stop()
            server.stop_requested.set()
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.server.server", description="Run the jobdeck server.")
    parser.add_argument(
        "--socket",
        type=Path,
        default=None,
        help=f"socket path (default: ${paths.SOCKET_VARIABLE}, else in the runtime dir)",
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help=f"the journal (default: ${paths.DB_VARIABLE}, else journal.db in the state dir)",
    )
    parser.add_argument("--no-journal", action="store_true", help="record nothing (nothing survives a crash)")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    os.umask(0o077)
    socket_path = options.socket or paths.socket_path()
    journal_path: Path | None = None
    if not options.no_journal:
        journal_path = options.db or paths.journal_path()
    try:
        anyio.run(partial(serve, socket_path, journal_path=journal_path))
    except ServerAlreadyRunning as already:
        print(f"jobdeck server: {already}", file=sys.stderr)
        return 1
    except Exception as failure:  # the log is the only place a detached server can say why
        from runner.journal.store import JournalError

        cause = innermost(failure)
        if not isinstance(cause, JournalError):
            log.exception("the jobdeck server failed")
        print(f"jobdeck server: {describe_error(cause)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
