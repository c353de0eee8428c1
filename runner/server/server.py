"""The per-user jobdeck server: one Engine behind a Unix socket that several clients watch and steer.

The socket lives in a 0700 directory (the user's runtime dir) and is made 0600; a peer of another uid
(SO_PEERCRED) is refused. A lock file beside the socket keeps a second server off the same socket; a
stale socket left by a crashed server is replaced. SIGHUP is ignored (a closed terminal is a detach).
Only the `stop` op cancels every job (and waits for them to end). SIGTERM, SIGINT and a fatal error end the
server too (its shell jobs' process groups are ended, the socket removed), but leave the unfinished jobs
running or queued in the journal, so that the next server runs them again, as after `kill -9`.

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
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from runner import paths
from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.engine.repeats import DeckAlreadyLoaded, repeated_deck
from runner.errors import CommandError, DeckError, describe_error, innermost
from runner.journal.environments import EnvironmentFiles, KeptEnvironments, SubmittedEnvironment, WaitingDeck
from runner.journal.recorder import new_run_id
from runner.journal.recovery import continue_run, run_jobs_to_list, run_to_dict
from runner.private_folder import make_private_folder
from runner.redaction import quiet_request_loggers
from runner.server import reports_handlers, server_log
from runner.server.bounded import bounded_lines, bounded_restored, bounded_waiting, deck_failure
from runner.server.connections import (
    IDLE_TIMEOUT_S,
    Connection,
    ConnectionLimits,
    Connections,
    accept_connections,
)
from runner.server.control_handlers import ControlHandlers
from runner.server.conversation import Conversation, current_conversation
from runner.server.feeds import Feeds
from runner.server.framing import ProtocolError, receive_message, send_message
from runner.server.history_pages import RunJobPages, bounded_runs
from runner.server.logs_handlers import logs_request
from runner.server.memory import release_freed_memory
from runner.server.messages import (
    PROTOCOL_VERSION,
    Add,
    Command,
    Control,
    EnvironmentReply,
    Failure,
    Forget,
    ForgetReply,
    Hello,
    HelloReply,
    History,
    HistoryReply,
    Load,
    LoadReply,
    Logs,
    Names,
    Output,
    Request,
    RunCommand,
    ServerInfo,
    Snapshot,
    SnapshotReply,
    Spec,
    SpecLines,
    Status,
    StatusJobs,
    StatusReply,
    StatusRows,
    Stop,
    StopReply,
    Subscribe,
    SupplyEnvironment,
    Wait,
    failure_message,
    parse_request,
    reply_message,
    version_mismatch,
)
from runner.server.protocol import output_since, snapshot_jobs
from runner.server.retention import keep_tidy
from runner.server.status_pages import deck_page, job_page, with_etas
from runner.server.wire import to_wire
from runner.version import installed_version

if TYPE_CHECKING:
    from runner.journal.recorder import Recorder
    from runner.journal.store import Journal
    from runner.model import Job

log = logging.getLogger("jobdeck.server")
RETRIES = frozenset({Command.RETRY, Command.RETRY_FAILED})
"""The commands after which a deck that had finished may have work again."""
STOP_WAIT_S = 10.0
"""How long a stop waits for cancelled jobs to end before the engine tears down what is left."""
EXIT_DEADLINE_S = 20.0
"""How long a server process may take to end once it has stopped serving; a job that cannot be interrupted (a
call on a thread) would otherwise keep it, and its journal, for as long as the job runs."""
LINGER_S = 1.0
LINGER_BYTES = 2 * 1024 * 1024
ENVIRONMENT_SWEEP_S = 1.0
"""How often the environments of finished decks are looked for, to be removed."""
CONNECTION_ENDED = (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, anyio.ClosedResourceError)
"""How a connection ends when its client hangs up anyhow: said only at debug level."""
EXIT_CANNOT_START = 2
"""The server's exit status when it cannot start for a reason a retry would not change (its journal is not
usable, ...): the client that started it says why at once. (1: another server runs there.)"""


def prepare_directory(directory: Path) -> None:
    """Create the socket's directory 0700, or make our own one 0700; refuse (UnsafeFolder) a symbolic link, which
    is never followed, and a folder of someone else. Says in the log why the default folder was not used."""
    make_private_folder(directory)
    note = paths.socket_folder_note()
    if note is not None and directory == paths.fallback_socket_folder():
        log.warning("%s", note)


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
        limits: ConnectionLimits | None = None,
        stop_wait_s: float = STOP_WAIT_S,
    ) -> None:
        self.engine = engine
        self.stop_wait_s = stop_wait_s
        self.recorder = recorder
        """Journaling the engine: clients are shown a job's end only once the journal has committed it."""
        self.socket_path = socket_path
        self.expected_uid = expected_uid
        self.journal = journal
        self.stop_requested = anyio.Event()
        self.connections = Connections(limits or ConnectionLimits())
        self.cancelling = False
        """A `stop` cancelled the jobs: the journal records them cancelled. Any other end of the server leaves
        them to the next one."""
        self.restored: list[str] = []
        """What start-up brought back from the journal, or could not, as lines for the status."""
        self.environments: KeptEnvironments | None = None
        """With a journal: the environments the decks were submitted with, kept for a restarted server."""
        self.history_pages = RunJobPages()
        self.control = ControlHandlers(self)
        self.feeds = Feeds(self)
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
            StatusJobs: self.status_jobs,
            SupplyEnvironment: self.supply_environment,
            Forget: self.forget,
            Add: self.control.add,
            Control: self.control.control,
            Wait: partial(reports_handlers.wait_for_jobs, self),
            Names: partial(reports_handlers.names, self),
            Logs: partial(logs_request, self),
            Subscribe: self.feeds.subscribe,
        }
        """One handler per request type (runner.server.messages.REQUESTS); each returns its reply's JSON."""

    def info(self) -> ServerInfo:
        return ServerInfo(
            pid=os.getpid(),
            version=installed_version(),
            protocol=PROTOCOL_VERSION,
            socket=str(self.socket_path),
            journal=None if self.journal is None else str(self.journal.path),
            restored=bounded_restored(self.restored),
            journal_problems=[] if self.recorder is None else bounded_restored(self.recorder.problems),
        )

    async def handle(self, stream: SocketStream, connection: Connection) -> None:
        async with stream:
            try:
                uid = peer_uid(stream)
                if uid is not None and uid != self.expected_uid:
                    log.warning("refused a peer of uid %s", uid)
                    refusal = Failure("forbidden", f"uid {uid} may not use this jobdeck server")
                    await send_message(stream, failure_message(None, refusal))
                    await _linger(stream)
                    return
                await self.converse(stream, connection)
            except CONNECTION_ENDED:
                log.debug("connection ended", exc_info=True)
            except Exception:  # one client's trouble must never stop the server
                log.exception("connection failed")

    async def converse(self, stream: SocketStream, connection: Connection) -> None:
        """Answer one client's requests in turn until it hangs up (or a fatal error, or `stop`, or it stays
        idle too long: unless it subscribed to updates, which go on meanwhile)."""
        async with anyio.create_task_group() as feeding:
            conversation = Conversation(stream, connection, feeding)
            current_conversation.set(conversation)
            try:
                await self._converse(conversation)
            except CONNECTION_ENDED:  # here, not in a task group's exception group
                log.debug("connection ended", exc_info=True)
            finally:
                feeding.cancel_scope.cancel()

    async def _converse(self, conversation: Conversation) -> None:
        stream, connection = conversation.stream, conversation.connection
        reader = BufferedByteReceiveStream(stream)
        greeted = False
        while True:
            request_id: Any = None
            request: Request[Any] | None = None
            connection.waits()
            idle_timeout = None if connection.following else self.connections.limits.idle_timeout_s
            try:
                with anyio.move_on_after(idle_timeout) as waiting:
                    message = await receive_message(reader)
                if waiting.cancelled_caught:
                    log.debug("closed a connection idle for %g s", idle_timeout)
                    return
            except anyio.EndOfStream:
                log.debug("a client hung up")
                return
            except ProtocolError as problem:
                if await self._refuse(conversation, request_id, problem):
                    return
                continue
            connection.busy = True  # however long the answer takes, the connection is not idle meanwhile
            request_id = message.get("id")
            since = self.engine.revision  # what the request changes goes before its reply (Conversation.reply)
            try:
                request = parse_request(message)
                if not greeted and not isinstance(request, Hello):
                    raise ProtocolError("bad_request", "the first request must be hello", fatal=True)
                result = await self.handlers[type(request)](request)
                greeted = True  # only a hello gets this far on a new connection
                reply = reply_message(request_id, result)
            except ProtocolError as problem:
                if await self._refuse(conversation, request_id, problem):
                    return
                continue
            except Exception as failed:
                reply = failure_message(request_id, self._failure(message.get("op"), failed))
            stopping = reply["ok"] and isinstance(request, Stop)
            try:
                await conversation.reply(reply, since=since)
            except ProtocolError as problem:  # the reply is too large for a frame
                await self._refuse(conversation, request_id, problem)
            finally:
                if stopping:  # also when the client hung up while the jobs were stopping: a stop is a stop
                    self.stop_requested.set()
            if stopping:
                return

    async def _refuse(self, conversation: Conversation, request_id: Any, problem: ProtocolError) -> bool:
        """Send the protocol error; True when it is fatal and the connection is now to be closed."""
        await conversation.send(failure_message(request_id, Failure(problem.kind, problem.message)))
        if problem.fatal:
            await _linger(conversation.stream)
        return problem.fatal

    @staticmethod
    def _failure(op: Any, failed: Exception) -> Failure:
        """What the client is told of a request that failed."""
        if isinstance(failed, DeckError):
            return deck_failure(failed)
        if isinstance(failed, CommandError):
            return Failure("command", str(failed))
        if isinstance(failed, DeckAlreadyLoaded):
            return Failure("already_loaded", str(failed))
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
        engine = self.engine
        environ = engine.environ if request.environ is None else dict(request.environ)
        parsed = await anyio.to_thread.run_sync(lambda: load_deck(request.path, environ=environ))
        repeats = repeated_deck(engine, parsed, again=request.again)
        kept, run_id = self.environments, new_run_id()
        environment = None if request.environ is None else SubmittedEnvironment(request.environ, request.umask)
        # Kept before the journal can record the run: a restarted server finds every journaled run's environment.
        on_disk = kept is not None and environment is not None and kept.save_new(run_id, environment)
        try:
            deck = await engine.add_deck(parsed, environ=environ, umask=request.umask)
        except BaseException:
            if on_disk and kept is not None:
                kept.files.remove(run_id)
            raise
        if kept is not None and environment is not None and self.recorder is not None:
            self.recorder.name_run(deck.name, run_id)  # no await since the engine took the deck: no flush saw it
            kept.keep(deck.name, run_id, environment, on_disk=on_disk)
        if self.recorder is not None:
            await self.recorder.flush()  # once the reply says loaded, the deck survives kill -9, as an added job does
        return to_wire(LoadReply(deck.name, len(deck.jobs), repeats))

    async def command(self, request: RunCommand) -> Any:
        method = getattr(self.engine, request.command.value)
        result = await (method(request.job) if request.command.takes_job else method())
        if self.environments is not None and request.command in RETRIES:
            # A retried job's deck has work again. Not after the other commands: the sweep walks a deck's jobs
            # (5,000 finished ones took 1.6 ms, at every key), and decks that end are swept anyway.
            self.environments.sweep(self.engine, self.committed_revision())
        return result

    async def snapshot(self, request: Snapshot) -> Any:
        changed, upto = self.committed_changes(request.since)
        jobs, more = snapshot_jobs(changed)
        reply = SnapshotReply(
            jobs=[], more=more is not None, revision=upto if more is None else more, **self.engine_summary()
        )
        # The jobs are JSON already: snapshot_jobs encoded each to keep the reply inside a frame.
        return {**to_wire(reply), "jobs": jobs}

    def engine_summary(self) -> dict[str, Any]:
        """What a snapshot (or an update) says besides the jobs: decks, dispatching, counts, the kinds' lines."""
        engine = self.engine
        return {
            "decks": {name: str(deck.path) for name, deck in engine.decks.items()},
            "dispatching": engine.dispatching,
            "counts": {state.value: count for state, count in engine.counts().items()},
            "kinds": engine.kind_status() + self.deck_and_journal_lines(),
            "halted": engine.halted,
            "endings": {name: to_wire(ending) for name, ending in engine.deck_endings.items()},
        }

    def deck_and_journal_lines(self) -> list[str]:
        """What the dashboard's summary shows besides the kinds: decks waiting for their environment, and the
        journal's problems (a damaged one set aside, a full disk), short; `jobdeck status` has them whole."""
        lines = [] if self.environments is None else self.environments.lines()
        problems = [] if self.recorder is None else self.recorder.problems
        return lines + [f"{_short_line(problem)} (jobdeck status says more)" for problem in problems[:3]]

    async def output(self, request: Output) -> Any:
        return to_wire(output_since(self.engine.job(request.job), request.after))

    async def spec(self, request: Spec) -> Any:
        return to_wire(SpecLines(bounded_lines(self.engine.spec_lines(self.engine.job(request.job).id))))

    async def history(self, request: History) -> Any:
        """Earlier deck runs from the journal (`runs`), or one run's jobs (`jobs`, with `run` set)."""
        journal = self.journal
        if journal is None:
            return to_wire(HistoryReply())
        if request.run is None:
            runs = await anyio.to_thread.run_sync(journal.history)
            return to_wire(
                HistoryReply(runs=bounded_runs([run_to_dict(run) for run in runs]), journal=str(journal.path))
            )
        read = None
        if request.start == 0 or not self.history_pages.holds(request.run):
            read = run_jobs_to_list(await anyio.to_thread.run_sync(journal.jobs, request.run))
        jobs, upnext = self.history_pages.page(request.run, request.start, read)
        return to_wire(HistoryReply(jobs=jobs, next=upnext))

    async def status(self, request: Status) -> Any:
        if self.recorder is not None:
            await self.recorder.flush()  # what the report says has finished is in the journal
        decks, upnext = deck_page(self.engine, request.start)
        decks = await with_etas(self.engine, decks)
        waiting: list[dict[str, Any]] = []
        kept = self.environments
        if kept is not None:
            decks = [replace(deck, note=kept.note(deck.deck) or None) for deck in decks]
            if request.start == 0:
                waiting = bounded_waiting([deck.to_dict() for deck in kept.waiting.values()])
        return to_wire(StatusReply(self.info(), decks, upnext, waiting))

    async def status_jobs(self, request: StatusJobs) -> Any:
        if self.recorder is not None:
            await self.recorder.flush()
        rows, upnext = job_page(self.engine, request.deck, request.start, states=request.states)
        # The rows are plain JSON already (job_page measured each to fill the page): no second walk over them.
        return {**to_wire(StatusRows([], upnext)), "rows": rows}

    async def handle_stop(self, request: Stop) -> Any:
        return to_wire(await self.stop())

    async def supply_environment(self, request: SupplyEnvironment) -> Any:
        """A waiting deck loads with the client's environment and runs; a loaded deck's next attempts use it."""
        engine, kept, name = self.engine, self.environments, request.deck
        environment = SubmittedEnvironment(request.environ, request.umask)
        waiting = None if kept is None else kept.waiting.get(name)
        if waiting is not None and kept is not None:
            return to_wire(await self._load_waiting(kept, waiting, environment))
        if name not in engine.decks:
            known = ", ".join([*engine.decks, *(kept.waiting if kept else ())]) or "none"
            raise CommandError(f"no deck named {name!r} is loaded or waits for its environment (decks: {known})")
        engine.set_environment(name, environment.environ, environment.umask)
        if kept is not None and name in kept.decks:
            kept.decks[name].environment = environment
            kept.decks[name].on_disk = False
            kept.sweep(engine, self.committed_revision())  # written again while the deck has work to do
        return to_wire(EnvironmentReply(name, f"deck {name!r} runs its next attempts with this environment"))

    async def _load_waiting(
        self, kept: KeptEnvironments, waiting: WaitingDeck, environment: SubmittedEnvironment
    ) -> EnvironmentReply:
        missing = [variable for variable in waiting.variables if variable not in environment.environ]
        if missing:
            raise CommandError(
                f"deck {waiting.name!r} needs {', '.join(missing)}, which this shell does not have: "
                f"export {' and '.join(missing)}, then run `jobdeck env {waiting.name}` again"
            )
        journal, recorder = self.journal, self.recorder
        assert journal is not None and recorder is not None  # a deck waits only on a journaled server
        del kept.waiting[waiting.name]  # while it loads: a second `jobdeck env` must not load it twice
        try:
            run = await anyio.to_thread.run_sync(journal.run, waiting.run_id)
            if run is None:
                raise CommandError(f"deck {waiting.name!r} is no longer in the journal {journal.path}")
            on_disk = kept.save_new(run.id, environment)
            try:
                name, again, _run_again = await continue_run(self.engine, journal, recorder, run, environment)
            except BaseException:
                if on_disk:
                    kept.files.remove(run.id)
                raise
        except BaseException as failed:
            if not isinstance(failed, CommandError):
                kept.waiting[waiting.name] = waiting  # it waits on: the file may load from a better shell
            raise
        kept.keep(name, run.id, environment, on_disk=on_disk)
        log.info("deck %s got its environment from a client: %d job(s) to run", name, again)
        return EnvironmentReply(name, f"deck {name!r} loaded with this environment: {again} job(s) to run", again)

    def committed_revision(self) -> int | None:
        """The engine revision the journal has committed up to; None without a journal."""
        return None if self.recorder is None else self.recorder.committed_revision

    async def forget(self, request: Forget) -> Any:
        """Drop finished decks from memory, once the journal has every change of theirs (it keeps their history)."""
        engine = self.engine
        if self.recorder is not None:
            await self.recorder.flush()
        if request.deck is not None:
            jobs = await engine.forget(request.deck)
            forgotten = [request.deck]
        else:
            sizes = Counter(job.deck for job in engine.jobs.values())
            forgotten = await engine.forget_finished()
            jobs = sum(sizes[deck] for deck in forgotten)
        if forgotten:
            release_freed_memory()
            log.info("forgot %d deck(s) of %d job(s): %s", len(forgotten), jobs, ", ".join(forgotten))
        return to_wire(ForgetReply(forgotten, jobs))

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
        self.cancelling = True
        unfinished = sum(1 for job in engine.jobs.values() if not job.state.finished)
        await engine.stop_jobs()
        with anyio.move_on_after(self.stop_wait_s):
            await engine.wait_until_settled()
        return StopReply(cancelled=unfinished)


async def serve(
    socket_path: Path,
    *,
    journal_path: Path | None = None,
    engine_factory: Callable[[], Engine] = Engine,
    expected_uid: int | None = None,
    limits: ConnectionLimits | None = None,
    exit_deadline_s: float | None = None,
    stop_wait_s: float = STOP_WAIT_S,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until stopped (the `stop` op, SIGTERM or SIGINT); the socket is gone afterwards and the lock released.

    With a journal, every change is recorded, and the runs a dead server left unfinished are restored first.
    `exit_deadline_s` (for a server process, not in-process servers): the process exits that long after it stopped
    serving, whatever is still running in it."""
    socket_path = Path(socket_path)
    prepare_directory(socket_path.parent)
    lock_fd = acquire_lock(socket_path)
    try:
        if socket_path.exists() or socket_path.is_symlink():
            if socket_answers(socket_path):
                raise ServerAlreadyRunning(f"something already answers on {socket_path}")
            socket_path.unlink()  # stale, from a server that crashed
        from runner.joblogs.layout import sweep_logs
        from runner.journal.recorded import recorded_engine
        from runner.journal.transfers import JournalBook
        from runner.stored_results import results_folder, sweep_results

        async with contextlib.AsyncExitStack() as stack:
            engine = engine_factory()
            journal: Journal | None = None
            opened: list[str] = []
            if journal_path is not None:
                from runner.journal.opening import open_server_journal

                Path(journal_path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                stack.enter_context(journal_lock(Path(journal_path)))
                journal, opened = open_server_journal(Path(journal_path))
                stack.enter_context(journal)
                engine.results_folder = results_folder(journal.path)
                engine.transfers = book = JournalBook(journal.path)
                stack.callback(book.close)
                await anyio.to_thread.run_sync(sweep_results, engine.results_folder, journal)
                await anyio.to_thread.run_sync(sweep_logs, journal)
            starts = None
            if journal is not None:
                from runner.journal.starts import StartsLog

                starts = StartsLog(journal.path)
            recorder = await stack.enter_async_context(recorded_engine(engine, journal, starts=starts))
            uid = os.getuid() if expected_uid is None else expected_uid
            server = Server(engine, socket_path, uid, journal, recorder, limits, stop_wait_s)
            try:
                if journal is not None and recorder is not None:
                    from runner.journal.recovery import restore_unfinished

                    recorder.notices.extend(opened)  # shown to every client as a warning, with the journal's problems
                    server.environments = KeptEnvironments(EnvironmentFiles(paths.environments_dir(journal.path)))
                    server.restored = await restore_unfinished(engine, journal, recorder, server.environments)
                async with anyio.create_task_group() as keeping:
                    keeping.start_soon(_keep_environments, server)
                    await _serve_until_stopped(server, task_status)
                    keeping.cancel_scope.cancel()
            finally:
                if exit_deadline_s is not None:
                    _exit_after(exit_deadline_s)
                if recorder is not None and not server.cancelling:
                    await _leave_unfinished_to_next_server(recorder)
        # After the journal's last commit. Only a `stop` ends the decks it cancelled; after a signal or a fatal
        # error their jobs run again at the next start, with the environment they were submitted with.
        if server.environments is not None and server.cancelling:
            server.environments.sweep(engine, server.committed_revision())
    finally:
        os.ftruncate(lock_fd, 0)
        os.close(lock_fd)
    log.info("jobdeck server stopped")


@contextlib.contextmanager
def journal_lock(journal_path: Path) -> Iterator[None]:
    """One server per journal: a second one would mark the first one's running jobs interrupted."""
    lock_path = journal_path.with_name(journal_path.name + ".server-lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        from runner.journal.faults import JournalError

        raise JournalError(
            f"cannot open the journal {journal_path}: its lock file {lock_path} cannot be made ({error.strerror}); "
            f"make {journal_path.parent} writable, or choose another journal (JOBDECK_DB=PATH, or --db PATH)"
        ) from None
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


def _exit_after(seconds: float) -> None:
    """End this process `seconds` from now if it has not ended by then. The journal has what the jobs did, the
    guardian ends the shell jobs' groups and process workers watch their parent, so nothing is orphaned."""

    def exit_now() -> None:
        log.error(
            "the server has not ended %g s after it stopped serving (a job it cannot interrupt, such as a call on a "
            "thread, still runs): exiting now; the jobs that had not ended stay running in the journal, so they run "
            "again when a server starts next",
            seconds,
        )
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    timer.start()


async def _leave_unfinished_to_next_server(recorder: Recorder) -> None:
    """The server ends without a `stop`: what the jobs did so far is committed, and the cancellations the
    engine makes on its way out are not, so the journal keeps them running or queued for the next server."""
    with anyio.CancelScope(shield=True):
        try:
            await recorder.stop_following()
        except Exception:  # the journal itself may be what failed; the next server marks what it can
            log.exception("could not commit the journal's last changes")


async def _serve_until_stopped(server: Server, task_status: TaskStatus[None]) -> None:
    socket_path = server.socket_path
    listener = await anyio.create_unix_listener(socket_path, mode=0o600)
    try:
        async with listener, anyio.create_task_group() as group:
            group.start_soon(accept_connections, listener, server.handle, server.connections, group)
            group.start_soon(_stop_on_signals, server)
            group.start_soon(keep_tidy, server)
            group.start_soon(server.feeds.run)
            log.info("jobdeck server %s listening on %s (pid %d)", installed_version(), socket_path, os.getpid())
            task_status.started()
            await server.stop_requested.wait()
            await server.feeds.say_goodbye()
            group.cancel_scope.cancel()
    finally:
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()


async def _keep_environments(server: Server) -> None:
    """Now and then, drop the kept environments of decks that have finished: every ENVIRONMENT_SWEEP_S while the
    jobs change or the journal has yet to commit their changes, and not at all while nothing changes (a sweep
    walks every job of the decks kept)."""
    kept = server.environments
    if kept is None:
        return
    engine = server.engine
    while True:
        await anyio.sleep(ENVIRONMENT_SWEEP_S)
        swept = engine.revision
        committed = server.committed_revision()
        kept.sweep(engine, committed)
        if committed is None or committed >= swept:
            await engine.wait_for_change(swept)


def _short_line(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
            log.info("got signal %d: the server ends; its unfinished jobs run again when it next starts", signum)
            server.stop_requested.set()
            return


def main(argv: list[str] | None = None) -> int:
    quiet_request_loggers()
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
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=IDLE_TIMEOUT_S,
        metavar="SECONDS",
        help="close a connection that sends no request for this long (default: %(default)g)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=None,
        metavar="N",
        help="connections kept at once (default: a share of the file descriptor limit)",
    )
    parser.add_argument(
        "--stop-wait",
        type=float,
        default=STOP_WAIT_S,
        metavar="SECONDS",
        help="how long a stop waits for its cancelled jobs to end (default: %(default)g)",
    )
    parser.add_argument(
        "--exit-deadline",
        type=float,
        default=EXIT_DEADLINE_S,
        metavar="SECONDS",
        help="once stopped, exit within this long even if a job cannot be interrupted (default: %(default)g)",
    )
    parser.add_argument(
        "--log",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"log to this file, rotated past ${server_log.LOG_MAX_BYTES_VARIABLE} bytes (default: standard error)",
    )
    options = parser.parse_args(argv)
    if options.log is None:
        server_log.log_to_stderr()
    else:
        try:
            server_log.log_to_file(options.log, server_log.max_bytes_from())
        except (server_log.LogSizeError, OSError) as bad:
            print(f"jobdeck server: cannot log to {options.log}: {bad}", file=sys.stderr)
            return 2
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    os.umask(0o077)
    socket_path = options.socket or paths.socket_path()
    journal_path: Path | None = None
    if not options.no_journal:
        journal_path = options.db or paths.journal_path()
    from runner.config.reading import config_problems

    problems, config = config_problems()
    if config is None:
        # A detached server's starter shows its last line: every problem goes on that one.
        print(f"jobdeck server: the config file is bad: {' | '.join(map(str, problems))}", file=sys.stderr)
        return EXIT_CANNOT_START
    try:
        limits = ConnectionLimits(idle_timeout_s=options.idle_timeout, max_connections=options.max_connections)
        deadlines = {"exit_deadline_s": options.exit_deadline, "stop_wait_s": options.stop_wait}
        engines = partial(Engine, config=config)
        anyio.run(
            partial(serve, socket_path, journal_path=journal_path, limits=limits, engine_factory=engines, **deadlines)
        )
    except ServerAlreadyRunning as already:
        print(f"jobdeck server: {already}", file=sys.stderr)
        return 1
    except Exception as failure:  # the log is the only place a detached server can say why
        from runner.journal.store import JournalError

        cause = innermost(failure)
        if not isinstance(cause, JournalError):
            log.exception("the jobdeck server failed")
        print(f"jobdeck server: {cause if isinstance(cause, JournalError) else describe_error(cause)}", file=sys.stderr)
        return EXIT_CANNOT_START
    return 0


if __name__ == "__main__":
    sys.exit(main())
