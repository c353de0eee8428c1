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
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from runner.engine.engine import Engine
from runner.errors import CommandError, DeckError, innermost
from runner.journal.recovery import run_jobs_to_list, run_to_dict
from runner.kinds.summary import spec_summary
from runner.report import deck_report
from runner.server.protocol import (
    COMMANDS,
    JOB_COMMANDS,
    OPS,
    PROTOCOL_VERSION,
    ProtocolError,
    jobdeck_version,
    output_since,
    problem_to_dict,
    receive_message,
    send_message,
    snapshot_jobs,
    version_mismatch,
)

if TYPE_CHECKING:
    from runner.journal.store import Journal, Recorder
    from runner.model import Job

log = logging.getLogger("jobdeck.server")
STOP_WAIT_S = 10.0
"""How long a stop waits for cancelled jobs to end before the engine tears down what is left."""
LINGER_S = 1.0
LINGER_BYTES = 2 * 1024 * 1024


def default_socket_path() -> Path:
    """`jobdeck.sock` in the user's runtime dir, or in /tmp/jobdeck-$UID when there is none."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        import platformdirs

        base = Path(platformdirs.user_runtime_dir("jobdeck"))
    else:
        base = Path(tempfile.gettempdir()) / f"jobdeck-{os.getuid()}"
    return base / "jobdeck.sock"


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

    def info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "version": jobdeck_version(),
            "protocol": PROTOCOL_VERSION,
            "socket": str(self.socket_path),
            "journal": None if self.journal is None else str(self.journal.path),
            "restored": list(self.restored),
        }

    async def handle(self, stream: SocketStream) -> None:
        async with stream:
            try:
                uid = peer_uid(stream)
                if uid is not None and uid != self.expected_uid:
                    log.warning("refused a peer of uid %s", uid)
                    error = {"kind": "forbidden", "message": f"uid {uid} may not use this jobdeck server"}
                    await send_message(stream, {"id": None, "ok": False, "error": error})
                    await _linger(stream)
                    return
                await self.converse(stream)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, anyio.ClosedResourceError):
                log.debug("connection ended", exc_info=True)
            except Exception:  # one client's trouble must never stop the server
                log.exception("connection failed")

    async def converse(self, stream: SocketStream) -> None:
        reader = BufferedByteReceiveStream(stream)
        greeted = False
        while True:
            request_id: Any = None
            op: Any = None
            try:
                message = await receive_message(reader)
                request_id = message.get("id")
                op, args = message.get("op"), message.get("args", {})
                if not isinstance(op, str) or op not in OPS:
                    raise ProtocolError("bad_request", f"unknown op {op!r}; known: {', '.join(sorted(OPS))}")
                if not isinstance(args, dict):
                    raise ProtocolError("bad_request", "args must be an object")
                if not greeted and op != "hello":
                    raise ProtocolError("bad_request", "the first request must be hello", fatal=True)
                if op == "hello":
                    result = self.hello(args)
                    greeted = True
                elif op == "stop":
                    result = await self.stop()
                else:
                    result = await self.dispatch(op, args)
                reply = {"id": request_id, "ok": True, "result": result}
            except ProtocolError as problem:
                error = {"kind": problem.kind, "message": problem.message}
                await send_message(stream, {"id": request_id, "ok": False, "error": error})
                if problem.fatal:
                    await _linger(stream)
                    return
                continue
            except DeckError as bad_deck:
                problems = [problem_to_dict(problem) for problem in bad_deck.problems]
                error = {"kind": "deck", "message": str(bad_deck), "problems": problems}
                reply = {"id": request_id, "ok": False, "error": error}
            except CommandError as refused:
                reply = {"id": request_id, "ok": False, "error": {"kind": "command", "message": str(refused)}}
            except (KeyError, TypeError, ValueError, OSError) as bad:
                reply = {"id": request_id, "ok": False, "error": {"kind": "bad_request", "message": repr(bad)}}
            except Exception as bug:  # a fault in one request must not cost the client its connection
                log.exception("request %r failed", op)
                message = f"internal error in the server: {type(bug).__name__}: {bug} (see the server's log)"
                reply = {"id": request_id, "ok": False, "error": {"kind": "internal", "message": message}}
            try:
                await send_message(stream, reply)
            except ProtocolError as problem:
                error = {"kind": problem.kind, "message": problem.message}
                await send_message(stream, {"id": request_id, "ok": False, "error": error})
            if op == "stop" and reply["ok"]:
                self.stop_requested.set()
                return

    def hello(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("protocol") != PROTOCOL_VERSION:
            raise ProtocolError("version", version_mismatch(args.get("protocol"), args.get("version")), fatal=True)
        return {"server": self.info()}

    async def dispatch(self, op: str, args: dict[str, Any]) -> Any:
        engine = self.engine
        if op == "load":
            path = args["path"]
            if not isinstance(path, str) or not os.path.isabs(path):
                raise ProtocolError("bad_request", "load needs an absolute path")
            environ = args.get("environ")
            if environ is not None and not (
                isinstance(environ, dict) and all(isinstance(v, str) for v in environ.values())
            ):
                raise ProtocolError("bad_request", "environ must map names to strings")
            deck = await engine.load(path, environ=environ)
            return {"deck": deck.name, "jobs": [job.id for job in engine.jobs_of(deck.name)]}
        if op == "command":
            name = args["command"]
            if name not in COMMANDS:
                raise ProtocolError("bad_request", f"unknown command {name!r}; known: {', '.join(sorted(COMMANDS))}")
            if name in JOB_COMMANDS:
                job = args["job"]
                if not isinstance(job, str):
                    raise ProtocolError("bad_request", f"{name} needs a job id")
                await getattr(engine, name)(job)
                return None
            return await getattr(engine, name)()
        if op == "snapshot":
            changed, upto = self.committed_changes(int(args.get("since", 0)))
            jobs, more = snapshot_jobs(changed)
            return {
                "jobs": jobs,
                "more": more is not None,
                "revision": upto if more is None else more,
                "decks": {name: str(deck.path) for name, deck in engine.decks.items()},
                "dispatching": engine.dispatching,
                "counts": {state.value: count for state, count in engine.counts().items()},
                "kinds": engine.kind_status(),
            }
        if op == "output":
            return output_since(engine.job(args["job"]), int(args.get("after", 0)))
        if op == "spec":
            return {"lines": spec_summary(engine.job(args["job"]).spec)}
        if op == "history":
            return await self.history(args)
        if op == "status":
            if self.recorder is not None:
                await self.recorder.flush()  # what the report says has finished is in the journal
            return {"server": self.info(), "decks": [deck_report(deck, engine.jobs_of(deck)) for deck in engine.decks]}
        raise ProtocolError("bad_request", f"unknown op {op!r}")

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

    async def history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Earlier deck runs from the journal (`runs`), or one run's jobs (`jobs`, with `run` set)."""
        journal = self.journal
        if journal is None:
            return {"runs": [], "journal": None}
        run_id = args.get("run")
        if run_id is None:
            runs = await anyio.to_thread.run_sync(journal.history)
            return {"runs": [run_to_dict(run) for run in runs], "journal": str(journal.path)}
        if not isinstance(run_id, str):
            raise ProtocolError("bad_request", "run must be a journal run id")
        rows = await anyio.to_thread.run_sync(journal.jobs, run_id)
        return {"jobs": run_jobs_to_list(rows)}

    async def stop(self) -> dict[str, Any]:
        """Cancel every job, wait (bounded) until they have ended, then let the server exit."""
        engine = self.engine
        unfinished = sum(1 for job in engine.jobs.values() if not job.state.finished)
        await engine.cancel_all()
        with anyio.move_on_after(STOP_WAIT_S):
            await engine.wait_until_settled()
        return {"cancelled": unfinished}


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
        async with contextlib.AsyncExitStack() as stack:
            engine = engine_factory()
            journal: Journal | None = None
            recorder = None
            if journal_path is not None:
                from runner.journal.store import Journal, Recorder

                Path(journal_path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                stack.enter_context(journal_lock(Path(journal_path)))
                journal = stack.enter_context(Journal.open(journal_path, create_parent=True))
                recorder = await stack.enter_async_context(Recorder(engine, journal))
            await stack.enter_async_context(engine)
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
            log.info("jobdeck server %s listening on %s (pid %d)", jobdeck_version(), socket_path, os.getpid())
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
    parser.add_argument("--socket", type=Path, default=None, help="socket path (default: in the runtime dir)")
    parser.add_argument(
        "--db", type=Path, default=None, help="the journal (default: $JOBDECK_DB, else journal.db in the state dir)"
    )
    parser.add_argument("--no-journal", action="store_true", help="record nothing (nothing survives a crash)")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    os.umask(0o077)
    socket_path = options.socket or default_socket_path()
    journal_path: Path | None = None
    if not options.no_journal:
        from runner.journal.store import default_path

        journal_path = options.db or default_path()
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
        print(f"jobdeck server: {type(cause).__name__}: {cause}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
