"""An engine in another process, seen through the server's socket as an `EngineInterface`.

`RemoteEngine` keeps a mirror of the server's jobs (`JobView`s), subscribed to the server's updates on its one
connection (runner.server.feeds): the server pushes the jobs changed, coalesced to one update per frame while
they change and nothing while they do not, so a viewer written for `EngineInterface` works over it as over an
in-process `Engine`, and an idle one costs nothing. A command returns once its effect is in the mirror (the
server sends its reply after the update that carries it). Revisions here are the mirror's own: they move when
the mirror changes, including when output or spec lines arrive for a watched job, which the server's revisions
would not show.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from runner import paths
from runner.engine.interface import PastJob, PastRun, SpecLines
from runner.errors import CommandError, DeckAlreadyLoaded, DeckError, Problem
from runner.joblogs.layout import LogPlace
from runner.model import Deck, JobState
from runner.policies import DeckEnding
from runner.server.change_log import ChangeLog
from runner.server.client import Client, ServerError, ensure_server, process_exited, server_pid
from runner.server.messages import Command, Forget, Logs, RunCommand, Stop, Subscribe, Subscribed, problem_from_dict
from runner.server.subscriber import SubscribedClient
from runner.server.views import JobView
from runner.umask import current_umask

FREEZE_AFTER_VIEWS = 1000
"""Once this many job views have been made since the last freeze, everything alive is taken out of the cyclic
garbage collector's way (`gc.freeze`), as the engine does with a big deck's jobs: the collections that the
updates' short-lived objects trigger otherwise walk the whole mirror, and paused the dashboard for up to 150 ms
with 10,000 jobs."""
ENDING_SERVER_WAIT_S = 35.0
"""How long to wait for a server that has stopped serving to exit before starting a new one (it waits up to
10 s for its stopping jobs, then exits within 20 s: runner.server.server STOP_WAIT_S and EXIT_DEADLINE_S)."""


@dataclass(frozen=True)
class RemoteDeck:
    """A deck loaded in the server, as far as a viewer needs it."""

    name: str
    path: Path
    jobs: Sequence[object] = ()
    """One entry per job (a load's reply counts the jobs rather than listing them: see LoadReply)."""


class RemoteEngine:
    """Use as `async with RemoteEngine(socket) as engine:`; the server is started when none runs.

    Implements `runner.engine.interface.EngineInterface`. `lost` is set (with the reason) when the connection
    ends; the mirror then stays as it last was. Leaving the block only disconnects: the jobs go on in the server.
    """

    def __init__(
        self,
        socket_path: Path | None = None,
        *,
        start_server: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.socket_path = socket_path
        self.start_server = start_server
        self.environ = dict(os.environ if environ is None else environ)
        self.jobs: dict[str, JobView] = {}
        self.decks: dict[str, RemoteDeck] = {}
        self.revision = 0
        self.dispatching = True
        self.kind_lines: list[str] = []
        self.halted: dict[str, str] = {}
        self.deck_endings: dict[str, DeckEnding] = {}
        self.server: dict[str, Any] = {}
        self.lost: str | None = None
        self._counts = dict.fromkeys(JobState, 0)
        self._server_revision = 0
        self._watched: set[str] = set()
        self._watched_behind = anyio.Event()
        """Set when a watched job has output, spec lines or its log files' place the mirror has not fetched yet."""
        self._log_places: dict[str, LogPlace | None] = {}
        """Where watched jobs' log files are (None: the server keeps none), once asked."""
        self._pending: set[str] = set()
        """Jobs changed in the update under way: they get the mirror's next revision."""
        self._news = anyio.Event()
        """Set (and replaced) when an update has been applied, or the connection has ended."""
        self._changes = ChangeLog()
        self._views_made = 0
        """Views made since the mirror was last frozen out of the garbage collector's way."""
        self._froze = False
        self._client: SubscribedClient | None = None
        self._task_group: TaskGroup | None = None
        self._exit_stack: AsyncExitStack | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> RemoteEngine:
        async with AsyncExitStack() as stack:
            if self.start_server:
                await wait_for_ending_server(Path(self.socket_path or paths.socket_path()))
                client = await ensure_server(self.socket_path, client_class=SubscribedClient)
            else:
                client = await SubscribedClient.connect(self.socket_path)
            assert isinstance(client, SubscribedClient)
            self._client = client
            stack.push_async_callback(self._close_client, client)
            self.server = client.server
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            await self._task_group.start(self._follow, client)  # once the mirror holds every job
            self._task_group.start_soon(self._keep_watched_jobs)
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._task_group is not None and self._exit_stack is not None
        self._task_group.cancel_scope.cancel()
        try:
            return await self._exit_stack.__aexit__(exc_type, exc, tb)
        finally:
            if self._froze:
                gc.unfreeze()

    @staticmethod
    async def _close_client(client: Client) -> None:
        with anyio.CancelScope(shield=True):
            await client.close()

    async def _follow(self, client: SubscribedClient, *, task_status: TaskStatus[Subscribed]) -> None:
        await client.follow(Subscribe(views=True), self._take_update, task_status=task_status)
        ended = client.ended.message if client.ended is not None else "the connection was closed"
        self.lost = self.lost or ended
        self._watched_behind.set()  # what waits for the watched jobs learns that it is over
        self._tell_news()

    # --- the mirror ------------------------------------------------------------------------------------

    def _take_update(self, update: dict[str, Any]) -> None:
        """Apply one update the server pushed: the jobs changed since the last one, the decks, the counts."""
        changed = self._apply(update)
        if self._views_made >= FREEZE_AFTER_VIEWS:
            self._views_made = 0
            self._froze = True
            gc.freeze()
        for job_id in self._watched:
            view = self.jobs.get(job_id)
            if view is not None and (
                view.spec.lines is None or job_id not in self._log_places or view.output_seen < view.output_total
            ):
                self._watched_behind.set()
        if changed:
            self.revision += 1
            self._mark_changed()
        self._tell_news()  # also an update without jobs: the counts, a deck dropped, dispatching paused

    def _tell_news(self) -> None:
        self._news.set()
        self._news = anyio.Event()

    async def wait_for_change(self, revision: int) -> None:
        """Return once the mirror's revision has moved past `revision` (at once if it has), or an update has
        come that may change what it says besides the jobs, or the connection has ended: for a viewer that
        sleeps while nothing changes instead of pulling at a steady rate."""
        if self.revision <= revision and self.lost is None:
            await self._news.wait()

    async def _keep_watched_jobs(self) -> None:
        """Fetch the spec lines and new output of watched jobs when an update shows them behind."""
        while self.lost is None:
            await self._watched_behind.wait()
            self._watched_behind = anyio.Event()
            changed = False
            for job_id in list(self._watched):
                try:
                    changed |= await self._pull_watched(job_id)
                except ServerError as failed:
                    if failed.kind == "disconnected":
                        return
                    # The server refused one request (say, a job's output while it was being replaced): the
                    # connection is fine, and the next update that shows the job behind asks again.
            if changed:
                self.revision += 1
                self._mark_changed()
                self._tell_news()

    def _apply(self, snapshot: dict[str, Any]) -> bool:
        self._server_revision = snapshot["revision"]
        self.dispatching = snapshot["dispatching"]
        self.kind_lines = list(snapshot.get("kinds", []))
        self.halted = dict(snapshot.get("halted", {}))
        self.deck_endings = {name: DeckEnding(**ending) for name, ending in snapshot.get("endings", {}).items()}
        for name, path in snapshot["decks"].items():
            if name not in self.decks:
                self.decks[name] = RemoteDeck(name, Path(path))
        gone = self.decks.keys() - snapshot["decks"].keys()
        if gone:
            self._drop_decks(gone)
        counts = snapshot["counts"]
        self._counts = {state: counts.get(state.value, 0) for state in JobState}
        for data in snapshot["jobs"]:
            view = self.jobs.get(data["id"])
            if view is None:
                view = self.jobs[data["id"]] = JobView.from_dict(data)
                self._views_made += 1
            else:
                view.update(data)
            self._pending.add(view.id)
        return bool(snapshot["jobs"])

    def _drop_decks(self, names: Iterable[str]) -> None:
        """Decks the server forgot: their jobs leave the mirror (a forgotten name is never loaded again)."""
        names = set(names)
        for name in names:
            del self.decks[name]
        for job_id in [job_id for job_id, job in self.jobs.items() if job.deck in names]:
            del self.jobs[job_id]
            self._watched.discard(job_id)
            self._pending.discard(job_id)
        self.revision += 1
        self._changes.reset(self.revision)

    async def _pull_watched(self, job_id: str) -> bool:
        view = self.jobs.get(job_id)
        if view is None:
            return False
        changed = False
        if view.spec.lines is None:
            reply = await self._request("spec", job=job_id)
            view.spec.lines = [(key, value) for key, value in reply["lines"]]
            changed = True
        if job_id not in self._log_places:
            folder = (await self._request(Logs.op, job=job_id))["folder"]
            self._log_places[job_id] = None if folder is None else LogPlace(Path(folder))
            changed = True
        while view.output_seen < view.output_total:
            reply = await self._request("output", job=job_id, after=view.output_seen)
            if not reply["lines"]:
                break
            view.merge_output(reply)
            changed = True
        if changed:
            self._pending.add(job_id)
        return changed

    def _mark_changed(self) -> None:
        changed = []
        for job_id in self._pending:
            job = self.jobs.get(job_id)
            if job is not None:  # a deck forgotten while its watched job's output was on its way
                job.revision = self.revision
                changed.append(job)
        self._pending.clear()
        self._changes.record(self.revision, changed, bound=len(self.jobs))

    def watch(self, job_id: str) -> None:
        """Keep this job's output and spec lines fetched too (for a detail view), from now on."""
        self._watched.add(job_id)
        self._watched_behind.set()

    def unwatch(self, job_id: str) -> None:
        self._watched.discard(job_id)
        self._log_places.pop(job_id, None)

    def log_place(self, job_id: str) -> LogPlace | None:
        """Where the watched job's log files are, once the server has been asked (None until then)."""
        return self._log_places.get(job_id)

    def spec_lines(self, job_id: str) -> SpecLines | None:
        """The job's redacted spec lines, once fetched for the watched job (None until then, and for a job whose
        deck the server has forgotten meanwhile)."""
        job = self.jobs.get(job_id)
        return job.spec.lines if job is not None else None

    def changed_since(self, revision: int) -> list[JobView]:
        return self._changes.since(revision, self.jobs)

    def kind_status(self) -> list[str]:
        """The server's job kinds' one-line statuses (a Dask cluster, say), as of the last update."""
        return list(self.kind_lines)

    def counts(self) -> dict[JobState, int]:
        return dict(self._counts)

    def jobs_of(self, deck: str) -> Iterable[JobView]:
        return (job for job in self.jobs.values() if job.deck == deck)

    # --- commands --------------------------------------------------------------------------------------

    async def _request(self, op: str, **args: Any) -> Any:
        if self._client is None:
            raise CommandError("not connected to the jobdeck server")
        return await self._client.request(op, **args)

    def _refusal(self, refused: ServerError) -> CommandError | None:
        """The CommandError a viewer shows for a command the server refused, or that found the server gone (which
        also marks the connection lost); None for any other failure."""
        if refused.kind == "disconnected":
            self.lost = self.lost or refused.message
            return CommandError(f"the jobdeck server has stopped ({refused.message})")
        if refused.kind in ("command", "bad_request"):
            return CommandError(refused.message)
        return None

    async def _command(self, command: Command, job: str | None = None) -> int | None:
        if self._client is None:
            raise CommandError("not connected to the jobdeck server")
        try:
            result = await self._client.call(RunCommand(command, job))
        except ServerError as refused:
            error = self._refusal(refused)
            if error is not None:
                raise error from None
            raise
        return result

    async def load(self, path: str | Path, *, again: bool = True) -> RemoteDeck:
        """Load a job file into the server, expanded with this client's environment; DeckError when bad.

        `again=False`: the server refuses a file whose same jobs are loaded and unfinished (DeckAlreadyLoaded,
        naming the earlier deck as this mirror has it); otherwise the engine names the second deck `name#2`."""
        absolute = Path(path).expanduser().resolve()
        try:
            loaded = await self._request(
                "load", path=str(absolute), environ=self.environ, umask=current_umask(), again=again
            )
        except ServerError as refused:
            if refused.kind == "disconnected":
                self.lost = self.lost or refused.message
                raise DeckError([Problem(absolute, f"the jobdeck server has stopped ({refused.message})")]) from None
            if refused.kind == "already_loaded":
                raise self._already_loaded(absolute, refused.message) from None
            if refused.kind != "deck":
                raise
            problems = [problem_from_dict(problem) for problem in refused.details.get("problems", [])]
            raise DeckError(problems or [Problem(absolute, refused.message)]) from None
        return RemoteDeck(loaded["deck"], absolute, range(loaded["jobs"]))

    def _already_loaded(self, path: Path, message: str) -> DeckAlreadyLoaded:
        """The server's refusal, with the earlier deck and its unfinished jobs as this mirror has them."""
        for name, deck in self.decks.items():
            unfinished = sum(1 for job in self.jobs_of(name) if not job.state.finished)
            if unfinished and _resolved(deck.path) == path:
                return DeckAlreadyLoaded(message, deck=name, unfinished=unfinished)
        return DeckAlreadyLoaded(message)

    async def add_deck(self, deck: Deck) -> RemoteDeck:
        """Have the server load the deck's file (the server parses it again, with this client's environment)."""
        return await self.load(deck.path)

    async def pause(self, job: str) -> None:
        await self._command(Command.PAUSE, job)

    async def resume(self, job: str) -> None:
        await self._command(Command.RESUME, job)

    async def cancel(self, job: str) -> None:
        await self._command(Command.CANCEL, job)

    async def retry(self, job: str) -> None:
        await self._command(Command.RETRY, job)

    async def retry_failed(self) -> int:
        return int(await self._command(Command.RETRY_FAILED) or 0)

    async def pause_all(self) -> None:
        await self._command(Command.PAUSE_ALL)

    async def resume_all(self) -> None:
        await self._command(Command.RESUME_ALL)

    async def cancel_all(self) -> None:
        await self._command(Command.CANCEL_ALL)

    async def forget(self, deck: str) -> int:
        """Have the server drop a finished deck; CommandError when it refuses (unfinished jobs, unknown deck)."""
        if self._client is None:
            raise CommandError("not connected to the jobdeck server")
        try:
            reply = await self._client.call(Forget(deck=deck))
        except ServerError as refused:
            error = self._refusal(refused)
            if error is not None:
                raise error from None
            raise
        return reply.jobs

    # --- history ---------------------------------------------------------------------------------------

    @property
    def history_available(self) -> bool:
        """Always: the server answers from its journal (with no runs if it keeps none)."""
        return True

    async def history_runs(self) -> list[PastRun]:
        reply = await self._request("history")
        return [_past_run(run) for run in reply["runs"]]

    async def history_jobs(self, run_id: str) -> list[PastJob]:
        jobs: list[PastJob] = []
        start: int | None = 0
        while start is not None:  # a page at a time: a run may have more jobs than a reply holds
            reply = await self._request("history", run=run_id, start=start)
            jobs += [_past_job(job) for job in reply["jobs"]]
            start = reply.get("next")
        return jobs

    # --- connection ------------------------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        """Always: the jobs run in the server and go on when this client leaves."""
        return True

    async def shut_down(self) -> None:
        """Stop the server: every job is cancelled and the server waits (bounded) until they ended."""
        with contextlib.suppress(ServerError, OSError):
            await self.stop_server()

    async def stop_server(self) -> int:
        """Cancel every job, stop the server, and wait until it is gone; returns how many jobs were cancelled.

        The stop goes on a connection of its own: the server answers it only once the jobs have ended (or after
        its bounded wait), and meanwhile the mirror goes on following the updates as they stop. A server told to stop
        stops also if this client goes away before the answer."""
        if self._client is None:
            raise CommandError("not connected to the jobdeck server")
        socket_path = self._client.socket_path
        async with await Client.connect(socket_path) as stopper:
            reply = await stopper.call(Stop())
        with anyio.move_on_after(15):
            while socket_path.exists():
                await anyio.sleep(0.05)
        return reply.cancelled


async def wait_for_ending_server(socket_path: Path, timeout: float = ENDING_SERVER_WAIT_S) -> None:
    """Wait (bounded) while a server that no longer listens still holds the socket's lock: one that was told to
    stop and is still ending its jobs. A new server would be refused until it has exited."""
    with anyio.move_on_after(timeout):
        while not socket_path.exists():
            pid = server_pid(socket_path)
            if pid is None or not _is_server_process(pid):
                return
            await anyio.sleep(0.1)


def _is_server_process(pid: int) -> bool:
    """A live jobdeck server, not a process that got the pid a killed server left in its lock file."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return not process_exited(pid)  # no /proc to look in: any live process may be it
    return b"runner.server.server" in arguments and not process_exited(pid)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def _past_run(data: dict[str, Any]) -> PastRun:
    return PastRun(
        id=data["id"],
        name=data["name"],
        path=data["path"],
        loaded_at=data["loaded_at"],
        counts=dict(data["counts"]),
        total=data["total"],
        unfinished=data["unfinished"],
    )


def _past_job(data: dict[str, Any]) -> PastJob:
    return PastJob(name=data["name"], state=data["state"], attempts=data["attempts"], error=data.get("error"))
