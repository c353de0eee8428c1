"""The engine: the single source of truth about jobs. Commands in, events out.

Jobs wait as data, not as tasks: each deck has a lane per limit (its fetches, its shell jobs, its worker
processes, its threads), holding its ready jobs in deck order. When a lane has room and dispatching is
open, the engine starts the next ready job as a task in its task group; that task runs one attempt and,
on a retryable failure, waits out the backoff and puts the job back in its lane. A job whose
dependencies have not all succeeded waits outside any lane until they settle. Only this module changes
job state; observers read jobs, pull what changed since a revision, or subscribe to events.
"""

from __future__ import annotations

import functools
import gc
import itertools
import operator
import os
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup, TaskStatus

from runner.awake_clock import watch_awake_time
from runner.config.user_config import NO_CONFIG, UserConfig
from runner.deck.parser import load_deck
from runner.deck.pending_fan_out import PendingFanOut
from runner.engine import policies
from runner.engine.admission import Admission
from runner.engine.events import (
    ChangeLogEntry,
    DeckLoaded,
    DispatchChanged,
    EventHub,
    JobsAdded,
    OutputAdded,
    ProgressChanged,
    StateChanged,
    Subscription,
    log_entry,
)
from runner.engine.expansion import EXPANDED, ExpansionError, items_of, member_specs, waiting_note
from runner.engine.heap import give_back_freed_memory
from runner.engine.hooks import (
    HookCall,
    HookRun,
    add_to_hook_log,
    deck_facts,
    deck_variables,
    job_facts,
    job_variables,
    run_hook,
)
from runner.engine.interface import HistorySource, PastJob, PastRun, SpecLines
from runner.engine.lanes import Lane
from runner.engine.repeats import repeated_deck
from runner.engine.retries import retries_left
from runner.errors import CommandError, JobError, describe_error, disk_full_error
from runner.hosts.waiting import WAITING_NOTES
from runner.kinds.base import AttemptContext, JobKind
from runner.kinds.registry import KIND_SPECS
from runner.kinds.shell import ShellKind
from runner.kinds.summary import spec_summary
from runner.kinds.transfer_book import MemoryBook, TransferBook
from runner.masking import NO_SECRETS, SecretMask, deck_secret_mask, referenced_names
from runner.model import (
    Attempt,
    Deck,
    Job,
    JobSpec,
    JobState,
    Kind,
    MemberSpec,
    OutputLine,
    Progress,
    RestoredJob,
)
from runner.pausing import PauseControl
from runner.policies import DeckEnding
from runner.private_folder import UnsafeFolder
from runner.procs.guardian import GroupGuardian
from runner.spelling import closest
from runner.stored_results import keep_result_in_thread, needs_keeping

if TYPE_CHECKING:
    from runner.joblogs.keeper import JobLogs
    from runner.joblogs.layout import LogPlace

PROGRESS_EVENT_INTERVAL_S = 0.1
JITTER = 0.25
"""Backoff delays vary by up to this fraction either way, so retries of many jobs do not arrive together."""
RECENT_CHANGES = 20_000
"""How many of the jobs changed last `changed_since` finds without looking at every job."""

JobRef = str | Job
_load_order = operator.attrgetter("order")
JobEnvironment = tuple[Mapping[str, str], int | None]
"""A job's own environment variables and umask (None: the server's), when they are not its deck's."""
ResultT = TypeVar("ResultT")


SUGGESTION_CANDIDATES = 5000
"""Names a "did you mean" looks through at most (a deck may have a million jobs)."""

SHRINK_AFTER_FINISHED = 1024
"""Finished jobs after which the tables of unfinished jobs may be copied smaller (see _finish)."""

HOOKS_KEPT = 20
"""Hook runs kept per deck (Engine.hook_runs)."""

FREEZE_MIN_JOBS = 1000
"""A deck this large is frozen out of the cyclic garbage collector's scans once loaded (see add_deck)."""


def default_kinds() -> dict[Kind, JobKind]:
    return {kind: spec.runner() for kind, spec in KIND_SPECS.items()}


def _collector_paused(
    method: Callable[..., Coroutine[Any, Any, ResultT]],
) -> Callable[..., Coroutine[Any, Any, ResultT]]:
    """No cyclic garbage collection during the (awaitless) coroutine method: a big deck's jobs would otherwise
    set off collections that walk every object made so far, again and again (half of loading 200,000 jobs)."""

    @functools.wraps(method)
    async def paused(*args: Any, **kwargs: Any) -> ResultT:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return await method(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return paused


@dataclass(slots=True)
class _Run:
    """The engine's private bookkeeping for one job."""

    retries_left: int = 0
    task_started: bool = False
    """A task runs (or is about to run) this job: an attempt or its backoff."""
    ready: bool = False
    """Its dependencies have all succeeded."""
    held: bool = False
    """Paused by the user while not running: it is not started until resumed."""
    state_before_hold: JobState = JobState.QUEUED
    in_backoff: bool = False
    scope: anyio.CancelScope | None = None
    pause: PauseControl | None = None
    """The running attempt's pause control, if an attempt is running."""
    cancel_requested: bool = False
    cancel_reason: str | None = None
    """Why it was cancelled when not by the user (a halt)."""
    last_progress_event: float = 0.0


class _Runs(dict[str, _Run]):
    """The engine's bookkeeping by job id; a job without an entry (finished) gets a fresh one when asked."""

    def __missing__(self, job_id: str) -> _Run:
        run = self[job_id] = _Run()
        return run


class Engine:
    """Runs decks of jobs. Use as `async with Engine() as engine:`; leaving the block cancels what still runs.

    Commands (`load`, `pause`, `resume`, `cancel`, `retry`, `pause_all`, `resume_all`, `retry_failed`,
    `cancel_all`) are coroutines so a client of a remote engine can offer the same interface; they act at
    once and raise `CommandError` when a command does not apply to a job's state. The engine implements
    `runner.engine.interface.EngineInterface`; `history` is where it reads the earlier runs it shows.
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        grace_period: float = 5.0,
        kinds: Mapping[Kind, JobKind] | None = None,
        history: HistorySource | None = None,
        config: UserConfig = NO_CONFIG,
    ) -> None:
        """`config`: the user config file's limits across decks and for hosts (runner.config)."""
        self.environ: Mapping[str, str] = dict(os.environ) if environ is None else environ
        self.grace_period = grace_period
        self._kinds: dict[Kind, JobKind] = {}
        """The kinds started so far; a kind not given is made when a deck first has a job of it (importing
        the fetch kind, httpx and all, took a third of the start-up of a deck of call jobs)."""
        self._given_kinds: dict[Kind, JobKind] = dict(kinds) if kinds is not None else {}
        self._kinds_group: TaskGroup | None = None
        """Each started kind is used as `async with` in a task of its own here: a kind started on a client's
        request is left from the same task that entered it, after the jobs' task group and the logs."""
        self._kinds_released = anyio.Event()
        self._kinds_lock = anyio.Lock()
        self.jobs: dict[str, Job] = {}
        self.decks: dict[str, Deck] = {}
        self.revision = 0
        self._recent: OrderedDict[str, Job] = OrderedDict()
        """The RECENT_CHANGES jobs changed last, the one changed last at the end."""
        self._recent_floor = 0
        """`_recent` holds every job changed after this revision."""
        self.dispatching = True
        self._runs: dict[str, _Run] = _Runs()
        """Only while a job is unfinished: a finished job's bookkeeping is made afresh if it is queued again."""
        self._dependents: dict[str, list[str]] = {}
        """Only for jobs that others wait for."""
        self._lanes: dict[tuple[str, str], Lane] = {}
        self._job_lanes: dict[str, Lane] = {}
        """Only for unfinished jobs, like `_runs` (`_lane_of` finds a requeued job's lane again)."""
        self._finished_since_shrink = 0
        self._finished_since_trim = 0
        """Jobs finished since the C heap was last trimmed: a big deck's end gives its freed buffers back."""
        self._events = EventHub()
        self._unfinished = 0
        self._state_counts = dict.fromkeys(JobState, 0)
        self._idle = anyio.Event()
        self._idle.set()
        self._revision_moved: anyio.Event | None = None
        """Set (and dropped) at the next change, while something waits in `wait_for_change`."""
        self._closing = False
        self._task_group: TaskGroup | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._change_log: list[ChangeLogEntry] | None = None
        self._deck_environ: dict[str, Mapping[str, str]] = {}
        self._deck_masks: dict[str, SecretMask] = {}
        """What each deck's errors, results and output lines have masked (runner.masking)."""
        self._deck_umask: dict[str, int] = {}
        self._job_environments: dict[str, JobEnvironment] = {}
        """Only for jobs added to a deck from a shell whose environment or umask is not the deck's."""
        self._froze = False
        self._history = history
        self.on_jobs_added: Callable[[str, list[Job]], None] | None = None
        """Called with the jobs a fan-out from a result has just been expanded into (the journal keeps them)."""
        self._admission = Admission(
            config,
            offer=self._offer_again,
            lane_of=self._lane_of,
            touched=self._touch,
            start_soon=lambda *task: self._require_running().start_soon(*task),
        )
        self.on_attempt_start: Callable[[Job, Attempt], None] | None = None
        """Called as each attempt starts, before its work begins (the journal notes it where a killed server
        leaves it); must be quick and must not raise."""
        self.decks_loaded = 0
        """Decks ever loaded: `decks` shrinks when a deck is forgotten, this only grows."""
        self._next_order = 0
        self._forgotten_names: set[str] = set()
        self._deck_loaded_at: dict[str, float] = {}
        """Names of forgotten decks: never given again in this engine's life, so a job id always means one job."""
        self.results_folder: Path | None = None
        """Where large results are kept (runner.stored_results); a temporary folder when None."""
        self.transfers: TransferBook = MemoryBook()
        """What downloads keep to be resumed (runner.kinds.transfer_book): the journal's, when there is one."""
        self.logs: JobLogs | None = None
        """Where the jobs' whole output is kept in files (runner.joblogs); set it before entering the engine.
        None: only the last OUTPUT_TAIL_LINES lines of each job are kept, in memory."""
        self._stopping = False
        """`stop_jobs` was called: decks that end now are not told as finished."""
        self._policies: dict[str, policies.DeckPolicy] = {}
        """Only for decks that need one (runner.engine.policies)."""
        self.hook_runs: dict[str, list[HookRun]] = {}
        """The hooks each deck ran, the last HOOKS_KEPT of them (runner.engine.hooks)."""

    # --- lifecycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        async with AsyncExitStack() as stack:  # if a kind fails to start, those started are left again
            self._kinds_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._kinds_released.set)  # once the jobs' task group and the logs are left
            await self._start_kinds(self._given_kinds)
            if self.logs is not None:  # left after the jobs' tasks: their last lines are written
                await stack.enter_async_context(self.logs)
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            self._task_group.start_soon(watch_awake_time, name="awake clock")
            self._exit_stack = stack.pop_all()  # left in __aexit__
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None and self._exit_stack is not None
        self._closing = True
        for job in self.jobs.values():
            if not job.state.finished and not self._runs[job.id].task_started:
                job.error = "cancelled: jobdeck stopped"
                self._finish(job, JobState.CANCELLED)
        self._task_group.cancel_scope.cancel()
        try:
            return await self._exit_stack.__aexit__(exc_type, exc, traceback)
        finally:
            self._task_group = None
            self._events.close()
            if self._froze:
                gc.unfreeze()

    async def _start_kinds(self, kinds: Iterable[Kind]) -> None:
        """Make and start the runners of these kinds, those not started yet (without a checkpoint when all are)."""
        missing = [kind for kind in kinds if kind not in self._kinds]
        if not missing:
            return
        async with self._kinds_lock:
            assert self._kinds_group is not None, "use the engine as `async with`"
            for kind in missing:
                if kind not in self._kinds:
                    runner = self._given_kinds.get(kind) or KIND_SPECS[kind].runner()
                    await self._kinds_group.start(self._keep_kind, runner)
                    self._kinds[kind] = runner

    async def _keep_kind(self, runner: JobKind, *, task_status: TaskStatus[None]) -> None:
        async with runner:
            task_status.started()
            await self._kinds_released.wait()

    # --- observing -------------------------------------------------------------------------------------

    def subscribe(self) -> Subscription:
        """A stream of every event from now on."""
        return self._events.subscribe()

    def enable_change_log(self) -> None:
        """Start keeping every change of state in a plain list, for `take_changes`: far cheaper per change
        than an event (no event object, no stream), for an observer such as the journal that must see every
        change but can read the rest of what it needs from `jobs` when it gets round to it."""
        if self._change_log is None:
            self._change_log = []

    def take_changes(self) -> list[ChangeLogEntry]:
        """The changes of state since the last call, oldest first; empty unless `enable_change_log` was called.
        The states are JobState members, which are str (and JSON-encode) as their values."""
        changes = self._change_log
        if not changes:
            return []
        self._change_log = []
        return changes

    def job(self, ref: JobRef) -> Job:
        """The job with this id (`deck/name`), or a unique job of that name; CommandError if none."""
        if isinstance(ref, Job):
            return ref
        found = self.jobs.get(ref)
        if found is not None:
            return found
        matches = [job for job in self.jobs.values() if job.name == ref]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise CommandError(f"{ref!r} names jobs in several decks; use deck/name")
        raise CommandError(f"no job named {ref!r}")

    def changed_since(self, revision: int) -> list[Job]:
        """Jobs changed after `revision`, in load order: pull this at a steady rate instead of redrawing per event.
        A viewer's pull looks at the jobs changed since its last one, not at every job (a feed of a deck of
        10,000 spent 2 ms on each of its 20 updates a second), unless it is far behind."""
        if revision < self._recent_floor:
            return [job for job in self.jobs.values() if job.revision > revision]
        changed = []
        for job in reversed(self._recent.values()):
            if job.revision <= revision:
                break
            changed.append(job)
        changed.sort(key=_load_order)
        return changed

    def kind_status(self) -> list[str]:
        """One line per thing the job kinds run on, e.g. a Dask cluster's address, workers and threads."""
        return [line for kind in self._kinds.values() for line in kind.describe()]

    def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state (kept up to date as states change, so this is cheap)."""
        return dict(self._state_counts)

    @property
    def settled(self) -> bool:
        return self._unfinished == 0

    async def wait_for_change(self, revision: int) -> None:
        """Return once `revision` (the engine's) has moved past `revision`: at once if it has already. For an
        observer that pushes changes to others instead of pulling at a steady rate: it wakes at the first change
        after it asked, never once per change, and the engine pays only a check per change for it."""
        while self.revision <= revision:
            if self._revision_moved is None:
                self._revision_moved = anyio.Event()
            await self._revision_moved.wait()

    def _wake_revision_waiters(self) -> None:
        moved, self._revision_moved = self._revision_moved, None
        if moved is not None:
            moved.set()

    async def wait_until_settled(self) -> None:
        """Wait until no job is queued, running, paused or retrying."""
        while self._unfinished:
            await self._idle.wait()

    # --- commands --------------------------------------------------------------------------------------

    async def load(
        self,
        path: str | Path,
        *,
        environ: Mapping[str, str] | None = None,
        umask: int | None = None,
        again: bool = True,
    ) -> Deck:
        """Parse a job file and start its jobs. Raises DeckError, changing nothing, when the file is bad.

        `environ` (default: the engine's) expands the file's `${VAR}`s and is the environment its jobs run in;
        `umask` (default: the process's) is the one its shell jobs run with and its saved files are made with:
        a server loads each client's decks with that client's environment and umask. `again=False` refuses
        (DeckAlreadyLoaded, nothing loaded) a file whose same jobs are loaded already and not all finished."""
        environ = self.environ if environ is None else dict(environ)
        deck = await anyio.to_thread.run_sync(lambda: load_deck(path, environ=environ))
        if not again:
            repeated_deck(self, deck, again=False)
        return await self.add_deck(deck, environ=environ, umask=umask)

    @_collector_paused
    async def add_deck(
        self,
        deck: Deck,
        *,
        environ: Mapping[str, str] | None = None,
        restored: Mapping[str, RestoredJob] | None = None,
        umask: int | None = None,
        environments: Mapping[str, JobEnvironment] | None = None,
    ) -> Deck:
        """Start the jobs of an already parsed deck. Its name is made unique among loaded decks.

        `restored` (by job name) brings back what a journal recorded: finished jobs stay finished (and count
        for their dependents), the others are queued again with their earlier attempts kept. `environments`
        (by job name) are the jobs that run with an environment of their own (added from another shell)."""
        self._require_running()
        await self._start_kinds({spec.kind for spec in deck.jobs})
        task_group = self._require_running()
        name = self._unique_deck_name(deck.name)
        if name != deck.name:
            deck = Deck(name=name, path=deck.path, settings=deck.settings, jobs=deck.jobs)
        self.decks[name] = deck
        self.decks_loaded += 1
        self._deck_loaded_at[name] = time.time()
        if environ is not None:
            self._deck_environ[name] = environ
        self._deck_masks[name] = deck_secret_mask(deck, self.environ if environ is None else environ)
        if umask is not None:
            self._deck_umask[name] = umask
        restored = restored or {}
        new_jobs = []
        for spec in deck.jobs:
            job = Job(id=f"{name}/{spec.name}", deck=name, spec=spec, order=self._next_order)
            self._next_order += 1
            self.jobs[job.id] = job
            self._runs[job.id] = _Run(retries_left=spec.retries)
            if environments and spec.name in environments:
                self._job_environments[job.id] = environments[spec.name]
            earlier = restored.get(spec.name)
            if earlier is not None:
                self._restore(job, earlier)
                if job.state.finished:
                    del self._runs[job.id]
                else:  # attempts a dead server cut short are given back; failed ones stay spent
                    self._runs[job.id].retries_left = retries_left(job.attempts, spec.retries)
            self._state_counts[job.state] += 1
            if not job.state.finished:
                self._job_lanes[job.id] = self._lane_for(job, deck)
            self._touch(job)
            if job.state.finished:
                job.finished_seq = job.revision
            new_jobs.append(job)
        for job in new_jobs:
            for dependency in job.spec.after:
                self._dependents.setdefault(f"{name}/{dependency}", []).append(job.id)
        if policies.needs_policy(deck):
            self._policies[name] = policies.make_policy(deck, new_jobs, self._dependents)
        for kind in {spec.kind for spec in deck.jobs}:
            task_group.start_soon(self._kinds[kind].deck_loaded, deck)
        self._events.publish(DeckLoaded(name, str(deck.path), tuple(job.id for job in new_jobs)))
        if len(new_jobs) >= FREEZE_MIN_JOBS:
            # The jobs live as long as the engine: take them (and all else alive now) out of the cyclic
            # collector's way, so that the collections the journal's and the dashboard's short-lived objects
            # trigger do not walk every job each time. Measured: the journal's cost on 100,000 state changes
            # fell from 1.19x to 1.12x. Unfrozen when the engine ends.
            gc.freeze()
            self._froze = True
        to_run = [job for job in new_jobs if not job.state.finished]
        self._count_unfinished(len(to_run))
        for job in new_jobs:
            if isinstance(job.spec, PendingFanOut) and job.state is JobState.SUCCEEDED:
                self._expand(job, restored)  # expanded before a restart: its members come back as they were
        for job in to_run:
            if not job.state.finished:  # a restored failure may already have skipped it
                self._queue(job)
        return deck

    def _restore(self, job: Job, earlier: RestoredJob) -> None:
        job.attempts = list(earlier.attempts)
        if earlier.output:
            job.output.extend(earlier.output)
        job.output_total = len(earlier.output)
        job.note = earlier.note
        if earlier.state.finished:
            job.state = earlier.state
            job.error = earlier.error
            job.result = earlier.result

    def deck_environment(self, deck: str) -> JobEnvironment:
        """The environment and umask the deck's jobs run with (unless a job has its own)."""
        return self._deck_environ.get(deck, self.environ), self._deck_umask.get(deck)

    @_collector_paused
    async def add_jobs(
        self, deck_name: str, specs: Sequence[JobSpec], *, environment: JobEnvironment | None = None
    ) -> list[Job]:
        """Add jobs to a loaded deck, after its others, and queue them (`jobdeck add`). Their `after` names jobs
        of that deck, finished or not (a failed one skips them at once). They run with `environment` when given
        and other than the deck's. CommandError, changing nothing, for an unknown deck, a name the deck has
        already, or an `after` that names no job of it."""
        self._require_running()
        if self._closing:
            raise CommandError("jobdeck is stopping: no jobs can be added")
        await self._start_kinds({spec.kind for spec in specs})  # before the checks: nothing can change after them
        deck = self.decks.get(deck_name)
        if deck is None:
            raise CommandError(f"no deck named {deck_name!r}; loaded: {', '.join(self.decks) or 'none'}")
        self._check_added(deck, specs)
        return self._add_specs(deck, specs, environment)

    def _add_specs(
        self,
        deck: Deck,
        specs: Sequence[JobSpec],
        environment: JobEnvironment | None = None,
        restored: Mapping[str, RestoredJob] | None = None,
    ) -> list[Job]:
        """Add checked jobs to a loaded deck and queue them; `restored` (by name) as in `add_deck`."""
        task_group = self._require_running()
        deck_name = deck.name
        self.decks[deck_name] = added_to = Deck(deck.name, deck.path, deck.settings, deck.jobs + tuple(specs))
        if environment is not None and environment == self.deck_environment(deck_name):
            environment = None
        environ = self.deck_environment(deck_name)[0] if environment is None else environment[0]
        names = referenced_names(Deck(deck.name, deck.path, deck.settings, tuple(specs)))
        if names:
            mask = self._deck_masks.get(deck_name, NO_SECRETS)
            self._deck_masks[deck_name] = mask.adding(environ[name] for name in sorted(names) if name in environ)
        jobs = []
        for spec in specs:
            job = Job(id=f"{deck_name}/{spec.name}", deck=deck_name, spec=spec, order=self._next_order)
            self._next_order += 1
            self.jobs[job.id] = job
            self._runs[job.id] = _Run(retries_left=spec.retries)
            if environment is not None:
                self._job_environments[job.id] = environment
            earlier = restored.get(spec.name) if restored else None
            if earlier is not None:
                self._restore(job, earlier)
                if job.state.finished:
                    del self._runs[job.id]
                else:
                    self._runs[job.id].retries_left = retries_left(job.attempts, spec.retries)
            self._state_counts[job.state] += 1
            if not job.state.finished:
                self._job_lanes[job.id] = self._lane_for(job, added_to)
            self._touch(job)
            if job.state.finished:
                job.finished_seq = job.revision
            for dependency in spec.after:
                self._dependents.setdefault(f"{deck_name}/{dependency}", []).append(job.id)
            jobs.append(job)
        policy = self._policies.get(deck_name)
        if policy is not None:
            policy.jobs += len(jobs)
            for job in jobs:
                policies.added(policy, job)
        only_these = Deck(deck.name, deck.path, deck.settings, tuple(specs))
        for kind in {spec.kind for spec in specs}:
            task_group.start_soon(self._kinds[kind].deck_loaded, only_these)
        self._events.publish(JobsAdded(deck_name, tuple(job.id for job in jobs)))
        self._count_unfinished(sum(1 for job in jobs if not job.state.finished))
        for job in jobs:
            if not job.state.finished:  # a dependency added with it may have skipped it already
                self._queue(job)
        return jobs

    def _check_added(self, deck: Deck, specs: Sequence[JobSpec]) -> None:
        new: set[str] = set()
        for spec in specs:
            if f"{deck.name}/{spec.name}" in self.jobs or spec.name in new:
                raise CommandError(f"deck {deck.name!r} has a job named {spec.name!r} already: choose another name")
            for dependency in spec.after:
                if f"{deck.name}/{dependency}" in self.jobs or dependency in new:
                    continue
                near = closest(dependency, (job.name for job in itertools.islice(deck.jobs, SUGGESTION_CANDIDATES)))
                hint = f"; did you mean {near!r}?" if near else ""
                raise CommandError(f"deck {deck.name!r} has no job named {dependency!r} to wait for{hint}")
            new.add(spec.name)

    async def pause(self, ref: JobRef) -> None:
        """Hold back a queued or retrying job, or suspend a running one (its processes really stop)."""
        job = self.job(ref)
        run = self._runs[job.id]
        if job.state in (JobState.QUEUED, JobState.RETRYING):
            run.held = True
            run.state_before_hold = job.state
            self._lane_of(job).discard(job)
            if job.note in WAITING_NOTES:
                job.note = None
            self._set_state(job, JobState.PAUSED)
        elif job.state is JobState.RUNNING and run.pause is not None:
            run.pause.pause()
            attempt = job.attempts[-1]
            attempt.active_s, attempt.running_since = run.pause.active_seconds(), None
            job.note = self._kinds[job.kind].pause_note(job.spec)
            self._set_state(job, JobState.PAUSED)
        else:
            raise CommandError(f"cannot pause {job.name}: it is {job.state}")

    async def resume(self, ref: JobRef) -> None:
        job = self.job(ref)
        run = self._runs[job.id]
        if job.state is not JobState.PAUSED:
            raise CommandError(f"cannot resume {job.name}: it is {job.state}, not paused")
        if run.held:
            run.held = False
            self._set_state(job, run.state_before_hold)
            if run.ready and not run.in_backoff:
                self._offer(job)
        elif run.pause is not None:
            run.pause.resume()
            job.attempts[-1].running_since = time.time()
            job.note = None
            self._set_state(job, JobState.RUNNING)

    async def cancel(self, ref: JobRef) -> None:
        """Stop a job: a fetch is abandoned, a shell's process group gets SIGTERM then SIGKILL, a process
        job's worker process is killed (and replaced); a thread job stops at its next checkpoint."""
        job = self.job(ref)
        if job.state.finished:
            raise CommandError(f"cannot cancel {job.name}: it already {job.state}")
        self._cancel(job)

    async def retry(self, ref: JobRef) -> None:
        """Queue a finished job again as a new attempt; jobs skipped because of it are queued again too."""
        job = self.job(ref)
        if not job.state.finished:
            raise CommandError(f"cannot retry {job.name}: it is {job.state}; only finished jobs can be retried")
        self._requeue(job)

    async def retry_failed(self) -> int:
        """Retry every failed job; returns how many."""
        failed = [job for job in self.jobs.values() if job.state is JobState.FAILED]
        for job in failed:
            if job.state is JobState.FAILED:
                self._requeue(job)
        return len(failed)

    async def pause_all(self) -> None:
        """Stop dispatching: queued jobs stay queued; running ones go on."""
        if self.dispatching:
            self.dispatching = False
            self.revision += 1
            self._wake_revision_waiters()
            self._events.publish(DispatchChanged(False))

    async def resume_all(self) -> None:
        if not self.dispatching:
            self.dispatching = True
            self.revision += 1
            self._wake_revision_waiters()
            self._events.publish(DispatchChanged(True))
            for lane in self._lanes.values():
                self._dispatch(lane)

    async def stop_jobs(self) -> None:
        """Cancel every job that has not finished because jobdeck stops: the decks this ends are not told as
        finished (no hooks, no notification), since a server started later runs them on."""
        self._stopping = True
        await self.cancel_all()

    async def cancel_all(self) -> None:
        """Cancel every job that has not finished."""
        for job in self.jobs.values():
            if not job.state.finished:
                self._cancel(job)

    def set_environment(self, deck: str, environ: Mapping[str, str], umask: int | None = None) -> None:
        """Run the deck's attempts that start from now on with this environment (and umask, when given);
        those under way keep theirs. Its file is not read again: `${VAR}`s it checked at load stay checked."""
        if deck not in self.decks:
            raise CommandError(f"no deck named {deck!r}")
        self._deck_environ[deck] = dict(environ)
        if umask is not None:
            self._deck_umask[deck] = umask
        prefix = f"{deck}/"
        for job_id in [job_id for job_id in self._job_environments if job_id.startswith(prefix)]:
            del self._job_environments[job_id]  # the deck's environment is now every one of its jobs'

    # --- scheduling ------------------------------------------------------------------------------------

    def _require_running(self) -> TaskGroup:
        if self._task_group is None:
            raise CommandError("the engine is not running")
        return self._task_group

    def _lane_for(self, job: Job, deck: Deck) -> Lane:
        key, size = self._kinds[job.kind].slot(job.spec, deck.settings)
        lane = self._lanes.get((deck.name, key))
        if lane is None:
            lane = self._lanes[(deck.name, key)] = Lane(size)
        return lane

    def _count_unfinished(self, change: int) -> None:
        if self._unfinished == 0 and change > 0:
            self._idle = anyio.Event()
        self._unfinished += change
        if change < 0:
            self._finished_since_trim -= change
        if self._unfinished == 0:
            self._idle.set()
            if self._finished_since_trim >= FREEZE_MIN_JOBS:
                self._finished_since_trim = 0
                give_back_freed_memory()

    def _queue(self, job: Job) -> None:
        """A job just loaded or queued again: skip it, wait for its dependencies, or offer it to its lane."""
        run = self._runs[job.id]
        verdict = self._dependency_verdict(job)
        if verdict is None:
            run.ready = False
        elif verdict is not JobState.SUCCEEDED:
            self._finish(job, JobState.SKIPPED)
        else:
            if job.note is not None and job.note.startswith("waiting for "):
                job.note = None
            run.ready = True
            if not run.held:
                self._offer(job)

    def _dependency_verdict(self, job: Job) -> JobState | None:
        """SUCCEEDED when every dependency succeeded, SKIPPED (with the reason in job.error) when one ended
        otherwise, None while some are still to finish; a job with `run_if` as that says."""
        if self._policies and job.deck in self._policies and job.spec.run_if is not None:
            after = job.spec.after
            dependencies = [self.jobs[f"{job.deck}/{name}"] for name in after] if after else None
            return policies.run_if_verdict(job, dependencies, self._policies.get(job.deck))
        first_waiting: str | None = None
        waiting = 0  # counted, not listed: this runs again as each of a big fan-out's members ends
        for name in job.spec.after:
            dependency = self.jobs[f"{job.deck}/{name}"]
            if dependency.state is JobState.SUCCEEDED:
                continue
            if dependency.state.finished:
                job.error = f"not run: {dependency.name} {dependency.state}"
                return JobState.SKIPPED
            first_waiting = first_waiting or name
            waiting += 1
        if first_waiting is None:
            return JobState.SUCCEEDED
        spec = job.spec
        if isinstance(spec, PendingFanOut) or (spec.group is not None and not isinstance(spec, MemberSpec)):
            # A member waiting item by item (or a fan-out waiting for its items) says for what; the members of a
            # fan-out that waits as a whole share their wait, and a note each would cost a big fan-out dearly.
            note = waiting_note(job, first_waiting, waiting - 1)
            if note != job.note:
                job.note = note
                self._touch(job)
        return None

    def _expand(self, job: Job, restored: Mapping[str, RestoredJob] | None = None) -> None:
        """Make the members of a fan-out from a result, now that the result is there (or, `restored`, again
        after a restart, from the items its stand-in's result keeps), and let the stand-in end: succeeded,
        or failed with why the result gives no members."""
        spec = job.spec
        assert isinstance(spec, PendingFanOut)
        deck = self.decks[job.deck]
        prefix = f"{job.deck}/"
        try:
            if restored is not None:
                items = job.result.get(EXPANDED) if isinstance(job.result, dict) else None
                if not isinstance(items, list):
                    raise ExpansionError(f"the items of {job.name} were not kept: retry {spec.source}")
            else:
                items = items_of(self.jobs[prefix + spec.source])
            specs = member_specs(
                spec, items, lambda name: self._whole(job.deck, name), lambda name: prefix + name in self.jobs
            )
        except ExpansionError as failed:
            job.error = str(failed)
            if restored is None:
                self._finish(job, JobState.FAILED)
            return
        taken = [spec.name for spec in specs if prefix + spec.name in self.jobs]
        if taken:  # the stand-in retried after it expanded: its members are there already
            job.error = f"{job.name} has been expanded already ({taken[0]}...): retry its members instead"
            self._finish(job, JobState.FAILED)
            return
        jobs = self._add_specs(deck, specs, restored=restored)
        members = tuple(member.name for member in specs)
        for dependent_id in self._dependents.get(job.id, ()):
            dependent = self.jobs[dependent_id]
            if isinstance(dependent.spec, PendingFanOut) or dependent.state.finished:
                continue  # a fan-out from a result finds the members itself when it expands
            after = dependent.spec.after
            expanded = (member for name in after for member in (members if name == job.name else (name,)))
            dependent.spec = dependent.spec.with_after(tuple(expanded))
            for member in members:
                self._dependents.setdefault(prefix + member, []).append(dependent_id)
        if self.on_jobs_added is not None and restored is None:
            self.on_jobs_added(job.deck, jobs)
        if restored is None:
            job.note = None
            job.result = {"expanded": len(items), EXPANDED: items}
            self._finish(job, JobState.SUCCEEDED)

    def _whole(self, deck: str, name: str) -> tuple[str, ...]:
        """Every job an `after` name stands for in a deck: a fan-out's members, or the job of that name."""
        members = tuple(job.name for job in self.jobs_of(deck) if job.spec.group == name)
        return members or (name,)

    def _lane_of(self, job: Job) -> Lane:
        lane = self._job_lanes.get(job.id)
        if lane is None:
            lane = self._job_lanes[job.id] = self._lane_for(job, self.decks[job.deck])
        return lane

    def _offer(self, job: Job) -> None:
        if self._policies:
            policy = self._policies.get(job.deck)
            if policy is not None and policy.halted is not None and not policies.exempt(job):
                job.error = f"not run: {policy.halted}"
                policy.halt_skipped.append(job.id)
                self._finish(job, JobState.SKIPPED)
                return
        if isinstance(job.spec, PendingFanOut):  # ready: its stand-in has no work, its members do
            self._expand(job)
            return
        lane = self._lane_of(job)
        lane.push(job)
        self._dispatch(lane)

    def _dispatch(self, lane: Lane) -> None:
        """Start a lane task for each ready job while the lane has room and dispatching is open."""
        while lane.has_room and self.dispatching and not self._closing:
            job = self._take_next(lane)
            if job is None:
                return
            lane.running += 1
            self._require_running().start_soon(self._work_lane, lane, job, name=f"lane of {job.id}")

    def _take_next(self, lane: Lane) -> Job | None:
        """The lane's next job that may start now; those its host or a server-wide limit turns away wait there."""
        while True:
            job = lane.pop_startable(self._startable)
            if job is None:
                return None
            if self._admit(job):
                self._runs[job.id].task_started = True
                return job

    def _admit(self, job: Job) -> bool:
        settings = self.decks[job.deck].settings
        slot = self._kinds[job.kind].slot(job.spec, settings)[0] if self._admission.caps_lanes else None
        environ = (self._job_environments.get(job.id) or self.deck_environment(job.deck))[0]
        return self._admission.admit(job, slot, settings, environ)

    def _offer_again(self, job: Job) -> None:
        """A job its host or a server-wide limit held back: back to its lane, unless paused or ended since."""
        if self._startable(job) and not self._closing:
            self._offer(job)

    def _startable(self, job: Job) -> bool:
        run = self._runs[job.id]
        return job.state is JobState.QUEUED and run.ready and not run.held and not run.task_started

    async def _work_lane(self, lane: Lane, job: Job | None) -> None:
        """Hold one place in the lane and run its ready jobs one after another; starting a task per job
        would cost more than a tiny job itself."""
        try:
            while job is not None:
                # One cancel scope for the jobs run in a row, until one of them is cancelled: a scope per job cost
                # a tenth of the event loop's time in a run of tiny thread jobs. A cancelled scope ends before
                # the next job starts, whether its job ended by the cancellation or (shielded) in spite of it.
                with anyio.CancelScope() as scope:
                    while job is not None and not scope.cancel_called:
                        running, job = job, None
                        await self._run_attempt(running, scope)
                        job = self._take_next(lane) if self.dispatching and not self._closing else None
                if job is None and scope.cancel_called:  # the cancelled job's end left the scope before the next
                    job = self._take_next(lane) if self.dispatching and not self._closing else None
        finally:
            lane.running -= 1
            if not self._closing:
                self._dispatch(lane)

    async def _run_attempt(self, job: Job, scope: anyio.CancelScope) -> None:
        """One attempt, in `scope` (which cancelling the job cancels); then the job succeeds, fails, or waits out
        its backoff in a task of its own."""
        run = self._runs[job.id]
        outcome: JobState | None = None
        try:
            run.scope = scope
            if run.cancel_requested:
                scope.cancel()
            job.spec.keep_work()
            error = await self._attempt(job, run)
            if error is not None and error.retry_after is not None:
                self._admission.pause_host(job, error.retry_after)  # every job to that host waits, not only this
            if error is None:
                outcome = JobState.SUCCEEDED
            elif not error.retryable or run.retries_left <= 0:
                outcome = JobState.FAILED
            else:
                run.retries_left -= 1
                retry_number = job.spec.retries - run.retries_left
                run.in_backoff = True
                self._require_running().start_soon(self._back_off, job, error, retry_number)
                return
        finally:
            self._admission.release(job)
            job.spec.drop_work()  # a fan-out member's work is made again for its next attempt
            run.scope = None
            run.pause = None
            if not run.in_backoff:
                self._settle(job, outcome)

    def _settle(self, job: Job, outcome: JobState | None) -> None:
        """The job's task ended: it finished with `outcome`, or (None) it was cancelled."""
        run = self._runs[job.id]
        run.task_started = False
        if outcome is None:
            outcome = JobState.CANCELLED
            job.error = (run.cancel_reason or "cancelled") if run.cancel_requested else "cancelled: jobdeck stopped"
        self._finish(job, outcome)

    async def _back_off(self, job: Job, error: JobError, retry_number: int) -> None:
        """Wait before the next attempt, outside the lane; then queue the job again (unless held)."""
        run = self._runs[job.id]
        if error.retry_after is not None:
            delay = error.retry_after
        else:
            delay = job.spec.backoff * 2 ** (retry_number - 1) * random.uniform(1 - JITTER, 1 + JITTER)
        job.note = f"retry {retry_number} of {job.spec.retries} in {delay:.1f} s"
        if run.held:
            run.state_before_hold = JobState.RETRYING
        else:
            self._set_state(job, JobState.RETRYING)
        waited = False
        try:
            with anyio.CancelScope() as scope:
                run.scope = scope
                if run.cancel_requested:
                    scope.cancel()
                await anyio.sleep(delay)
                waited = True
        finally:
            run.scope = None
            run.in_backoff = False
            job.note = None
            if not waited:
                self._settle(job, None)
            else:
                run.task_started = False
                if run.held:
                    run.state_before_hold = JobState.QUEUED
                else:
                    self._set_state(job, JobState.QUEUED)
                    self._offer(job)

    async def _attempt(self, job: Job, run: _Run) -> JobError | None:
        """Run one attempt; returns its error, or None when it succeeded."""
        kind = self._kinds[job.kind]
        now = time.time()
        attempt = Attempt(number=len(job.attempts) + 1, started_at=now, running_since=now)
        job.attempts = job.attempts + [attempt]  # noqa: RUF005 - sized to fit; append or [*a, x] keep room for four
        if self.on_attempt_start is not None:
            self.on_attempt_start(job, attempt)
        logs = self.logs
        to_log = None if logs is None else logs.attempt_started(job, attempt.number, job.spec.log_limit_mb)
        pause = PauseControl()
        run.pause = pause
        job.progress = None
        job.status = None
        job.error = None
        job.traceback = None
        job.note = None  # what it said while waiting (run again after a restart, say); its attempts keep that
        self._set_state(job, JobState.RUNNING)
        environ, umask = self._job_environments.get(job.id) or self.deck_environment(job.deck)
        context = AttemptContext(
            job=job,
            settings=self.decks[job.deck].settings,
            pause=pause,
            environ=environ,
            umask=umask,
            report_progress=lambda done, total, unit: self._report_progress(job, done, total, unit),
            report_output=lambda stream, text: self._report_output(job, stream, text, to_log),
            grace_period=self.grace_period,
            report_place=lambda place: self._report_place(job, attempt, place),
            results_folder=self.results_folder,
            transfers=self.transfers,
            report_status=lambda text: self._report_status(job, text),
            throttle=self._admission.throttle(job, self.decks[job.deck].settings, pause),
        )
        error: JobError | None = None
        try:
            timeout = job.spec.timeout
            result = await (_run_with_timeout(kind, context, timeout) if timeout > 0 else kind.run(context))
            if needs_keeping(result):
                result = await keep_result_in_thread(result, self.results_folder, context.settings, job.id)
        except JobError as failure:
            error = failure
        except anyio.get_cancelled_exc_class():
            attempt.outcome = JobState.CANCELLED
            attempt.error = "cancelled"
            raise
        except Exception as bug:  # a fault in a kind must fail its job, not the engine
            error = disk_full_error(bug) or JobError(f"internal error: {describe_error(bug)}")
        finally:
            pause.stop_clock()
            attempt.active_s = pause.active_seconds()
            attempt.running_since = None
            attempt.ended_at = time.time()
            run.pause = None
            if logs is not None:
                logs.attempt_ended(job.id)
            if pause.paused and job.state is JobState.PAUSED:
                # Paused by the user, the attempt ended anyway: a retry stays held until resumed.
                run.held = True
                run.state_before_hold = JobState.QUEUED
        mask = self._deck_masks.get(job.deck, NO_SECRETS)
        if error is None:
            attempt.outcome = JobState.SUCCEEDED
            job.result = mask.value(result)
            return None
        if mask:
            error.message = mask.text(error.message)
            error.traceback = mask.optional_text(error.traceback)
        attempt.outcome = JobState.FAILED
        attempt.error = error.message
        job.error = error.message
        job.traceback = error.traceback
        job.result = mask.value(error.result)  # what a failed attempt still says (a shell's exit code), or None
        return error

    # --- state changes ---------------------------------------------------------------------------------

    def _touch(self, job: Job) -> None:
        self.revision += 1
        job.revision = self.revision
        recent = self._recent
        recent[job.id] = job
        recent.move_to_end(job.id)
        if len(recent) > RECENT_CHANGES:
            self._recent_floor = recent.popitem(last=False)[1].revision
        if self._revision_moved is not None:
            self._wake_revision_waiters()

    def _set_state(self, job: Job, state: JobState) -> None:
        old = job.state
        if old is state:
            return
        job.state = state
        self._state_counts[old] -= 1
        self._state_counts[state] += 1
        self._touch(job)
        change_log = self._change_log
        if change_log is not None:
            change_log.append(log_entry((job.id, old, state, len(job.attempts), job.error, time.time())))
        if self._events.has_subscribers:
            attempt = len(job.attempts)
            self._events.publish(StateChanged(job.id, old, state, attempt, job.error, job.output_total))

    def _finish(self, job: Job, outcome: JobState) -> None:
        run = self._runs[job.id]
        run.held = False
        run.ready = False
        lane = self._job_lanes.pop(job.id, None)
        if lane is not None:
            lane.discard(job)
        job.note = None
        self._set_state(job, outcome)
        job.finished_seq = job.revision  # the same int object: a finished job keeps one, not two
        if self.logs is not None:
            self.logs.job_finished(job.id)
        self._count_unfinished(-1)
        del self._runs[job.id]  # only an unfinished job needs one; `_requeue` gets a fresh one
        self._finished_since_shrink += 1
        unfinished = len(self._runs)
        if not unfinished or self._finished_since_shrink > SHRINK_AFTER_FINISHED + 4 * unfinished:
            self._shrink_unfinished_tables()
        if self._closing:
            return  # everything left is being cancelled; nothing new is queued or skipped
        for dependent_id in self._dependents.get(job.id, ()):
            dependent = self.jobs[dependent_id]
            if dependent.state.finished:
                continue
            dependent_run = self._runs[dependent_id]
            if not dependent_run.ready and not dependent_run.task_started:
                self._queue(dependent)
        if outcome is JobState.FAILED and job.spec.on_failure:
            self._start_job_hook(job)
        if self._policies:
            policy = self._policies.get(job.deck)
            if policy is not None:
                self._apply_policy(job, outcome, policy)

    def _apply_policy(self, job: Job, outcome: JobState, policy: policies.DeckPolicy) -> None:
        """What a job's end means for its deck: a halt, its wide `run_if` jobs' turn, its end."""
        news = policies.finished(policy, job, outcome)
        if news.halt:
            self._halt(policy)
        if news.rest_done:
            for wide_id in policy.wide:
                wide = self.jobs[wide_id]
                if not wide.state.finished and not self._runs[wide_id].ready and not self._runs[wide_id].task_started:
                    self._queue(wide)
        if news.deck_done and not self._stopping:
            # not `policy.unfinished == 0`: a halt above may have ended the deck (and told it) already
            policy.endings += 1
            policy.ending = policies.ending_summary(policy.deck.name, self.jobs_of(policy.deck.name), policy.halted)
            policy.ended_at = time.time()
            self._touch_deck()
            self._start_deck_hooks(policy)

    def _halt(self, policy: policies.DeckPolicy) -> None:
        """Stop dispatching the deck's jobs (but those with run_if): skip those not started, and with
        `halt = "now,..."` cancel those under way."""
        reason = policy.halted
        now = policies.halts_now(policy)
        self._touch_deck()
        for job in list(self.jobs_of(policy.deck.name)):
            if job.state.finished or policies.exempt(job):
                continue
            run = self._runs[job.id]
            if not run.task_started:
                job.error = f"not run: {reason}"
                policy.halt_skipped.append(job.id)
                self._finish(job, JobState.SKIPPED)
            elif now and not run.cancel_requested:
                run.cancel_reason = f"cancelled: {reason}"
                self._cancel(job)

    def _touch_deck(self) -> None:
        """A deck's halt or end changed: viewers pull again."""
        self.revision += 1
        self._wake_revision_waiters()

    @property
    def halted(self) -> dict[str, str]:
        """The decks whose dispatching a `halt` stopped, with why (`halted: 3 jobs failed`)."""
        return {name: policy.halted for name, policy in self._policies.items() if policy.halted is not None}

    @property
    def deck_endings(self) -> dict[str, DeckEnding]:
        """The decks with `notify = true` that have finished, with their latest end (a dashboard rings at each)."""
        return {
            name: DeckEnding(policy.endings, policy.ending, policy.ended_at)
            for name, policy in self._policies.items()
            if policy.deck.settings.notify and policy.endings
        }

    def hook_lines(self, deck: str) -> list[str]:
        """How the deck's hooks ended (or that they run), the latest last: `on_finish hook exited with status 0`."""
        return [run.line() for run in self.hook_runs.get(deck, ())]

    # --- hooks -----------------------------------------------------------------------------------------

    def _start_deck_hooks(self, policy: policies.DeckPolicy) -> None:
        settings = policy.deck.settings
        jobs = list(self.jobs_of(policy.deck.name))
        succeeded = all(job.state is JobState.SUCCEEDED for job in jobs)
        hooks = [("on_success", settings.on_success) if succeeded else ("on_failure", settings.on_failure)]
        hooks.append(("on_finish", settings.on_finish))
        calls = []
        for hook, command in hooks:
            if command:
                facts = deck_facts(policy.deck, hook, jobs, policy.halted)
                calls.append((hook, self._hook_call(policy.deck.name, command, deck_variables(facts), facts)))
        if calls:
            self._start_hooks(policy.deck.name, calls)

    def _start_job_hook(self, job: Job) -> None:
        command = job.spec.on_failure
        assert command is not None
        facts = job_facts(job, self.decks[job.deck])
        self._start_hooks(
            job.deck, [(f"{job.name} on_failure", self._hook_call(job.deck, command, job_variables(facts), facts))]
        )

    def _hook_call(self, deck: str, command: str, variables: dict[str, str], facts: dict[str, Any]) -> HookCall:
        environ, umask = self.deck_environment(deck)
        return HookCall(command, self.decks[deck].path.parent, environ, umask, variables, facts)

    async def _shell_guardian(self, deck: str) -> GroupGuardian | None:
        """The shell jobs' guardian, started if need be (as for a deck with shell jobs): it ends a hook's group
        too should jobdeck be killed."""
        await self._start_kinds([Kind.SHELL])
        shell = self._kinds.get(Kind.SHELL)
        if not isinstance(shell, ShellKind) or deck not in self.decks:
            return None
        await shell.deck_loaded(self.decks[deck])
        return shell.guardian if shell.guardian.running else None

    async def _keep_hook_log(self, deck: str, record: HookRun) -> None:
        """Add the hook's run to its deck's `hooks.log`, beside its jobs' logs (when the engine keeps logs)."""
        if self.logs is None or deck not in self.decks:
            return
        job = next(self.jobs_of(deck), None)
        if job is None:
            return
        folder = self.logs.place(job).folder.parent
        try:
            await anyio.to_thread.run_sync(add_to_hook_log, folder, record)
        except (OSError, UnsafeFolder) as failure:  # a full disk, say: the server's log has the lines
            record.outcome += f"; its output could not be kept: {describe_error(failure)}"

    def _start_hooks(self, deck: str, calls: list[tuple[str, HookCall]]) -> None:
        """Run the hooks one after another in a task of the engine; `wait_until_settled` waits for them."""
        mask = self._deck_masks.get(deck, NO_SECRETS)
        runs = self.hook_runs.setdefault(deck, [])
        records = [HookRun(deck, hook, mask.text(call.command), time.time()) for hook, call in calls]
        runs.extend(records)
        del runs[:-HOOKS_KEPT]
        self._count_unfinished(1)

        async def run_all() -> None:
            try:
                guardian = await self._shell_guardian(deck)
                for record, (_, call) in zip(records, calls, strict=True):
                    record.started_at = time.time()
                    await run_hook(call, record, mask=mask.text, grace_period=self.grace_period, guardian=guardian)
                    await self._keep_hook_log(deck, record)
                    self._touch_deck()
            finally:
                self._count_unfinished(-1)

        self._require_running().start_soon(run_all, name=f"hooks of {deck}")

    def _cancel(self, job: Job) -> None:
        run = self._runs[job.id]
        run.cancel_requested = True
        if not run.task_started:
            job.error = "cancelled"
            self._finish(job, JobState.CANCELLED)
            return
        if job.state in (JobState.RUNNING, JobState.PAUSED) and run.pause is not None:
            note = self._kinds[job.kind].cancel_note(job.spec)
            job.note = f"cancelling: {note}" if note else None
            self._touch(job)
        if run.scope is not None:
            run.scope.cancel()

    def _requeue(self, job: Job) -> None:
        was = job.state
        run = self._runs[job.id]
        run.retries_left = job.spec.retries
        run.cancel_requested = False
        job.error = None
        job.traceback = None
        job.note = None
        job.finished_seq = 0
        self._count_unfinished(1)
        self._set_state(job, JobState.QUEUED)
        policy = self._policies.get(job.deck) if self._policies else None
        skipped_by_halt: list[str] = []
        if policy is not None and policies.requeued(policy, job, was):
            self._touch_deck()  # the halt is lifted: what it skipped runs after all
            skipped_by_halt, policy.halt_skipped = policy.halt_skipped, []
        for dependent_id in self._dependents.get(job.id, ()):
            dependent = self.jobs[dependent_id]
            if dependent.state is JobState.SKIPPED:
                self._requeue(dependent)
        if policy is not None and policy.counts_as_rest(job.id):
            for wide_id in policy.wide:  # judged again once the rest of the deck has finished again
                if self.jobs[wide_id].state is JobState.SKIPPED:
                    self._requeue(self.jobs[wide_id])
        for skipped_id in skipped_by_halt:
            skipped = self.jobs[skipped_id]
            if skipped.state is JobState.SKIPPED and skipped is not job:
                self._requeue(skipped)
        self._queue(job)

    def _report_progress(self, job: Job, done: float, total: float | None, unit: str) -> None:
        if job.progress is None:
            job.progress = Progress(done, total, unit)
        else:
            job.progress.done, job.progress.total, job.progress.unit = done, total, unit
        self._touch(job)
        if not self._events.has_subscribers:
            return
        run = self._runs[job.id]
        now = time.monotonic()
        if now - run.last_progress_event >= PROGRESS_EVENT_INTERVAL_S or (total is not None and done >= total):
            run.last_progress_event = now
            self._events.publish(ProgressChanged(job.id, done, total, unit))

    def _report_status(self, job: Job, text: str | None) -> None:
        job.status = None if text is None else self._deck_masks.get(job.deck, NO_SECRETS).text(text)
        self._touch(job)

    def _report_place(self, job: Job, attempt: Attempt, place: str) -> None:
        attempt.worker = place
        self._touch(job)

    def _report_output(
        self, job: Job, stream: str, text: str, to_log: Callable[[str, str], None] | None = None
    ) -> None:
        """A line the job's attempt wrote: masked, kept in its tail, and handed to `to_log` (its attempt's log)."""
        text = self._deck_masks.get(job.deck, NO_SECRETS).text(text)
        job.output.append(OutputLine(stream, text))
        job.output_total += 1
        self._touch(job)
        if to_log is not None:
            to_log(stream, text)
        if self._events.has_subscribers:
            self._events.publish(OutputAdded(job.id, stream, text))

    def _unique_deck_name(self, name: str) -> str:
        taken = self.decks.keys() | self._forgotten_names
        if name not in taken:
            return name
        number = 2
        while f"{name}#{number}" in taken:
            number += 1
        return f"{name}#{number}"

    def jobs_of(self, deck: str) -> Iterable[Job]:
        return (job for job in self.jobs.values() if job.deck == deck)

    # --- forgetting finished decks -----------------------------------------------------------------------

    async def forget(self, deck: str) -> int:
        """Drop a deck whose jobs have all finished from memory; returns how many jobs it had. A journal keeps
        its history. CommandError, changing nothing, for an unknown deck or one with unfinished jobs (cancel
        them or let them end first): forgetting never stops work."""
        if deck not in self.decks:
            raise CommandError(f"no deck named {deck!r}; loaded: {', '.join(self.decks) or 'none'}")
        jobs = list(self.jobs_of(deck))
        self._forget(deck, jobs)
        self._compact()
        return len(jobs)

    async def forget_finished(self, *, ended_before: float | None = None) -> list[str]:
        """Forget every deck whose jobs have all finished (the last of them before `ended_before`, a
        time.time(), when given); returns their names. A deck whose last changes are not journaled yet is
        left for a later call."""
        by_deck: dict[str, list[Job]] = {name: [] for name in self.decks}
        for job in self.jobs.values():
            by_deck[job.deck].append(job)
        forgotten = []
        for deck, jobs in by_deck.items():
            if not all(job.state.finished for job in jobs):
                continue
            if ended_before is not None and max(self._deck_loaded_at[deck], _last_end(jobs)) >= ended_before:
                continue
            try:
                self._forget(deck, jobs)
            except CommandError:
                continue
            forgotten.append(deck)
        if forgotten:
            self._compact()
        return forgotten

    def _forget(self, deck: str, jobs: list[Job]) -> None:
        unfinished = sum(1 for job in jobs if not job.state.finished)
        if unfinished:
            raise CommandError(
                f"cannot forget {deck}: {unfinished} of its jobs {'has' if unfinished == 1 else 'have'} not finished; "
                "cancel them or let them end first"
            )
        prefix = f"{deck}/"
        if self._change_log and any(change.job_id.startswith(prefix) for change in self._change_log):
            # The journal has not taken this deck's last changes yet, and it reads their jobs when it does.
            raise CommandError(f"cannot forget {deck} yet: its last changes are still being journaled; try again")
        self._drop_deck(deck, jobs)

    def _shrink_unfinished_tables(self) -> None:
        """Copy the tables kept only for unfinished jobs once most of their entries are gone: a dict keeps its
        peak size after deletions, about 40 bytes per finished job for the two. Amortized: each copy follows
        at least four times as many finishes as it copies entries."""
        self._finished_since_shrink = 0
        self._runs = _Runs(self._runs)
        self._job_lanes = dict(self._job_lanes)

    def _compact(self) -> None:
        """Copy the tables by job id: a dict keeps its peak size after deletions (20 bytes a job, each)."""
        self.jobs = dict(self.jobs)
        self._runs = _Runs(self._runs)
        self._job_lanes = dict(self._job_lanes)
        self._dependents = dict(self._dependents)
        self._job_environments = dict(self._job_environments)
        give_back_freed_memory()

    def _drop_deck(self, deck: str, jobs: list[Job]) -> None:
        for job in jobs:
            job_id = job.id
            del self.jobs[job_id]
            self._recent.pop(job_id, None)
            self._runs.pop(job_id, None)
            self._dependents.pop(job_id, None)
            self._job_lanes.pop(job_id, None)
            self._job_environments.pop(job_id, None)
            self._state_counts[job.state] -= 1
        for key in [key for key in self._lanes if key[0] == deck]:
            del self._lanes[key]
        forgotten = self.decks.pop(deck)
        self._admission.forget_deck(deck)
        if self._task_group is not None:
            for kind in {spec.kind for spec in forgotten.jobs}:
                self._task_group.start_soon(self._kinds[kind].deck_forgotten, forgotten, self.transfers)
        self._deck_environ.pop(deck, None)
        self._deck_umask.pop(deck, None)
        self._deck_masks.pop(deck, None)
        self._policies.pop(deck, None)
        self.hook_runs.pop(deck, None)
        del self._deck_loaded_at[deck]
        self._forgotten_names.add(deck)
        self.revision += 1
        self._wake_revision_waiters()
        if self.logs is not None:
            self.logs.forget_deck(deck)

    # --- for viewers (EngineInterface) -------------------------------------------------------------------

    def spec_lines(self, job_id: str) -> SpecLines:
        """The job's spec as lines for reading, secrets redacted, with what it sends (a fetch's URL) as its deck's
        environment fills it in, the deck's secrets masked."""
        job = self.jobs[job_id]
        environ = (self._job_environments.get(job_id) or self.deck_environment(job.deck))[0]
        return spec_summary(job.spec, environ, self._deck_masks.get(job.deck, NO_SECRETS))

    def log_place(self, job_id: str) -> LogPlace | None:
        """Where the job's log files are; None without `logs` (or for a job no longer loaded)."""
        logs, job = self.logs, self.jobs.get(job_id)
        return None if logs is None or job is None else logs.place(job)

    def watch(self, job_id: str) -> None:
        """Nothing to do: in this process every job's output and spec are always at hand."""

    def unwatch(self, job_id: str) -> None:
        """Nothing to do (see `watch`)."""

    @property
    def history_available(self) -> bool:
        return self._history is not None and self._history.available

    async def history_runs(self) -> list[PastRun]:
        """Earlier runs from the history source, newest first; empty without one."""
        history = self._history
        return await history.runs() if history is not None and history.available else []

    async def history_jobs(self, run_id: str) -> list[PastJob]:
        history = self._history
        return await history.jobs(run_id) if history is not None and history.available else []

    @property
    def attached(self) -> bool:
        """Always False: the jobs run in this process and end with the engine's block."""
        return False

    @property
    def lost(self) -> str | None:
        """Always None: there is no connection to lose."""
        return None

    async def shut_down(self) -> None:
        """Cancel every job and wait until they have cleaned up (no child process left), for at most the
        grace period plus 5 s."""
        await self.stop_jobs()
        with anyio.move_on_after(self.grace_period + 5):
            await self.wait_until_settled()


def _last_end(jobs: list[Job]) -> float:
    """When the last of these finished jobs ended (0.0 if none of them ran)."""
    ends = [job.attempts[-1].ended_at or 0.0 for job in jobs if job.attempts]
    return max(ends, default=0.0)


async def _run_with_timeout(kind: JobKind, context: AttemptContext, timeout: float) -> Any:
    """Run one attempt, failing it once `timeout` seconds of active (unpaused) time have passed, unless its work
    has ended by then (noticed late, say because jobdeck itself was stopped): it is judged by how it ended."""
    if timeout <= 0:
        return await kind.run(context)
    timed_out = False
    result: Any = None
    error: JobError | None = None
    async with anyio.create_task_group() as watch_group:

        async def watch_clock() -> None:
            nonlocal timed_out
            await context.pause.sleep_active(timeout)
            if context.pause.work_ended():
                return
            timed_out = True
            watch_group.cancel_scope.cancel()

        watch_group.start_soon(watch_clock)
        try:
            result = await kind.run(context)
        except JobError as failure:
            error = failure
        watch_group.cancel_scope.cancel()
    if timed_out:
        raise JobError(f"timed out after {timeout:g} s of active time", retryable=True)
    if error is not None:
        raise error
    return result
