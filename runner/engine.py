"""The engine: the single source of truth about jobs. Commands in, events out.

Every job is driven by one task in the engine's task group, started when its deck loads: it waits for
its dependencies, for dispatching to be open and for a place in its deck's limiter for its kind, then
runs attempts until one succeeds, retries run out, or it is cancelled. Only this module changes job
state; observers read jobs, pull what changed since a revision, or subscribe to events.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from runner.deck import load_deck
from runner.errors import CommandError, JobError
from runner.events import (
    DeckLoaded,
    DispatchChanged,
    EventHub,
    OutputAdded,
    ProgressChanged,
    StateChanged,
    Subscription,
)
from runner.kinds.base import AttemptContext, JobKind
from runner.kinds.call import CallKind
from runner.kinds.fetch import FetchKind
from runner.kinds.shell import ShellKind
from runner.model import Attempt, Deck, Job, JobState, Kind, OutputLine, Progress
from runner.pausing import PauseControl

PROGRESS_EVENT_INTERVAL_S = 0.1
JITTER = 0.25
"""Backoff delays vary by up to this fraction either way, so retries of many jobs do not arrive together."""

JobRef = str | Job


def default_kinds() -> dict[Kind, JobKind]:
    return {Kind.FETCH: FetchKind(), Kind.CALL: CallKind(), Kind.SHELL: ShellKind()}


@dataclass
class _Run:
    """The engine's private bookkeeping for one job."""

    active: bool = False
    """A driver task exists for the job."""
    settled: anyio.Event = field(default_factory=anyio.Event)
    """Set when the current driver ends; replaced when a new one starts."""
    scope: anyio.CancelScope | None = None
    pause: PauseControl | None = None
    """The running attempt's pause control, if an attempt is running."""
    held: bool = False
    unheld: anyio.Event = field(default_factory=anyio.Event)
    state_before_hold: JobState = JobState.QUEUED
    cancel_requested: bool = False
    last_progress_event: float = 0.0


class Engine:
    """Runs decks of jobs. Use as `async with Engine() as engine:`; leaving the block cancels what still runs.

    Commands (`load`, `pause`, `resume`, `cancel`, `retry`, `pause_all`, `resume_all`, `retry_failed`,
    `cancel_all`) are coroutines so a client of a remote engine can offer the same interface; they act at
    once and raise `CommandError` when a command does not apply to a job's state.
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        grace_period: float = 5.0,
        kinds: Mapping[Kind, JobKind] | None = None,
    ) -> None:
        self.environ: Mapping[str, str] = dict(os.environ) if environ is None else environ
        self.grace_period = grace_period
        self._kinds: dict[Kind, JobKind] = dict(kinds) if kinds is not None else default_kinds()
        self.jobs: dict[str, Job] = {}
        self.decks: dict[str, Deck] = {}
        self.revision = 0
        self.dispatching = True
        self._dispatch_open = anyio.Event()
        self._dispatch_open.set()
        self._runs: dict[str, _Run] = {}
        self._dependents: dict[str, list[str]] = {}
        self._limiters: dict[tuple[str, str], anyio.CapacityLimiter] = {}
        self._events = EventHub()
        self._active_drivers = 0
        self._idle = anyio.Event()
        self._idle.set()
        self._finished_count = 0
        self._task_group: TaskGroup | None = None
        self._exit_stack: AsyncExitStack | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            for kind in self._kinds.values():
                await stack.enter_async_context(kind)
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        self._exit_stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None and self._exit_stack is not None
        self._task_group.cancel_scope.cancel()
        try:
            return await self._exit_stack.__aexit__(exc_type, exc, traceback)
        finally:
            self._task_group = None
            self._events.close()

    # --- observing -------------------------------------------------------------------------------------

    def subscribe(self) -> Subscription:
        """A stream of every event from now on."""
        return self._events.subscribe()

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
        """Jobs changed after `revision`, in load order: pull this at a steady rate instead of redrawing per event."""
        return [job for job in self.jobs.values() if job.revision > revision]

    def counts(self) -> dict[JobState, int]:
        totals = dict.fromkeys(JobState, 0)
        for job in self.jobs.values():
            totals[job.state] += 1
        return totals

    @property
    def settled(self) -> bool:
        return self._active_drivers == 0

    async def wait_until_settled(self) -> None:
        """Wait until no job is queued, running, paused or retrying."""
        while self._active_drivers:
            await self._idle.wait()

    # --- commands --------------------------------------------------------------------------------------

    async def load(self, path: str | Path) -> Deck:
        """Parse a job file and start its jobs. Raises DeckError, changing nothing, when the file is bad."""
        deck = await anyio.to_thread.run_sync(lambda: load_deck(path, environ=self.environ))
        return await self.add_deck(deck)

    async def add_deck(self, deck: Deck) -> Deck:
        """Start the jobs of an already parsed deck. Its name is made unique among loaded decks."""
        task_group = self._require_running()
        name = self._unique_deck_name(deck.name)
        if name != deck.name:
            deck = Deck(name=name, path=deck.path, settings=deck.settings, jobs=deck.jobs)
        self.decks[name] = deck
        new_jobs = []
        for spec in deck.jobs:
            job = Job(id=f"{name}/{spec.name}", deck=name, spec=spec, order=len(self.jobs))
            self.jobs[job.id] = job
            self._runs[job.id] = _Run()
            self._dependents[job.id] = []
            self._touch(job)
            new_jobs.append(job)
        for job in new_jobs:
            for dependency in job.spec.after:
                self._dependents[f"{name}/{dependency}"].append(job.id)
        for kind in {spec.kind for spec in deck.jobs}:
            task_group.start_soon(self._kinds[kind].deck_loaded, deck)
        self._events.publish(DeckLoaded(name, str(deck.path), tuple(job.id for job in new_jobs)))
        for job in new_jobs:
            self._start_driver(job)
        return deck

    async def pause(self, ref: JobRef) -> None:
        """Hold back a queued or retrying job, or suspend a running one (its processes really stop)."""
        job = self.job(ref)
        run = self._runs[job.id]
        if job.state in (JobState.QUEUED, JobState.RETRYING):
            run.held = True
            run.unheld = anyio.Event()
            run.state_before_hold = job.state
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
            run.unheld.set()
            self._set_state(job, run.state_before_hold)
        elif run.pause is not None:
            run.pause.resume()
            job.attempts[-1].running_since = time.time()
            job.note = None
            self._set_state(job, JobState.RUNNING)

    async def cancel(self, ref: JobRef) -> None:
        """Stop a job: a fetch is abandoned, a shell's process group gets SIGTERM then SIGKILL, a process
        job's worker is killed (and replaced); a thread job stops at its next checkpoint."""
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
            self._dispatch_open = anyio.Event()
            self.revision += 1
            self._events.publish(DispatchChanged(False))

    async def resume_all(self) -> None:
        if not self.dispatching:
            self.dispatching = True
            self._dispatch_open.set()
            self.revision += 1
            self._events.publish(DispatchChanged(True))

    async def cancel_all(self) -> None:
        """Cancel every job that has not finished."""
        for job in self.jobs.values():
            if not job.state.finished:
                self._cancel(job)

    # --- driving one job -------------------------------------------------------------------------------

    def _require_running(self) -> TaskGroup:
        if self._task_group is None:
            raise CommandError("the engine is not running")
        return self._task_group

    def _start_driver(self, job: Job) -> None:
        run = self._runs[job.id]
        run.active = True
        run.settled = anyio.Event()
        run.cancel_requested = False
        if self._active_drivers == 0:
            self._idle = anyio.Event()
        self._active_drivers += 1
        self._require_running().start_soon(self._drive, job, name=f"job {job.id}")

    async def _drive(self, job: Job) -> None:
        run = self._runs[job.id]
        outcome: JobState = JobState.CANCELLED
        try:
            with anyio.CancelScope() as scope:
                run.scope = scope
                if run.cancel_requested:
                    scope.cancel()
                outcome = await self._run_to_outcome(job, run)
        finally:
            run.scope = None
            run.pause = None
            if run.held:
                run.held = False
                run.unheld.set()
            if outcome is JobState.CANCELLED:
                job.error = "cancelled" if run.cancel_requested else "cancelled: jobdeck stopped"
            self._finish(job, outcome)
            run.active = False
            run.settled.set()
            self._active_drivers -= 1
            if self._active_drivers == 0:
                self._idle.set()

    async def _run_to_outcome(self, job: Job, run: _Run) -> JobState:
        if not await self._dependencies_succeeded(job):
            return JobState.SKIPPED
        retries_left = job.spec.retries
        limiter = self._limiter(job)
        while True:
            await self._wait_until_dispatchable(run)
            async with limiter:
                if run.held or not self.dispatching:
                    continue
                error = await self._attempt(job, run)
            if error is None:
                return JobState.SUCCEEDED
            if not error.retryable or retries_left <= 0:
                return JobState.FAILED
            retries_left -= 1
            retry_number = job.spec.retries - retries_left
            await self._back_off(job, run, error, retry_number)

    async def _dependencies_succeeded(self, job: Job) -> bool:
        for name in job.spec.after:
            dependency = self.jobs[f"{job.deck}/{name}"]
            dependency_run = self._runs[dependency.id]
            while dependency_run.active:
                await dependency_run.settled.wait()
            if dependency.state is not JobState.SUCCEEDED:
                job.error = f"not run: {dependency.name} {dependency.state}"
                return False
        return True

    async def _wait_until_dispatchable(self, run: _Run) -> None:
        while run.held or not self.dispatching:
            if run.held:
                await run.unheld.wait()
            else:
                await self._dispatch_open.wait()

    async def _back_off(self, job: Job, run: _Run, error: JobError, retry_number: int) -> None:
        if error.retry_after is not None:
            delay = error.retry_after
        else:
            delay = job.spec.backoff * 2 ** (retry_number - 1) * random.uniform(1 - JITTER, 1 + JITTER)
        job.note = f"retry {retry_number} of {job.spec.retries} in {delay:.1f} s"
        if not run.held:
            self._set_state(job, JobState.RETRYING)
        else:
            run.state_before_hold = JobState.RETRYING
        await anyio.sleep(delay)
        job.note = None
        if not run.held:
            self._set_state(job, JobState.QUEUED)
        else:
            run.state_before_hold = JobState.QUEUED

    async def _attempt(self, job: Job, run: _Run) -> JobError | None:
        """Run one attempt; returns its error, or None when it succeeded."""
        kind = self._kinds[job.kind]
        now = time.time()
        attempt = Attempt(number=len(job.attempts) + 1, started_at=now, running_since=now)
        job.attempts.append(attempt)
        pause = PauseControl()
        run.pause = pause
        job.progress = None
        job.error = None
        job.traceback = None
        self._set_state(job, JobState.RUNNING)
        context = AttemptContext(
            job=job,
            settings=self.decks[job.deck].settings,
            pause=pause,
            environ=self.environ,
            report_progress=lambda done, total, unit: self._report_progress(job, done, total, unit),
            report_output=lambda stream, text: self._report_output(job, stream, text),
            grace_period=self.grace_period,
        )
        error: JobError | None = None
        try:
            result = await _run_with_timeout(kind, context, job.spec.timeout)
        except JobError as failure:
            error = failure
        except anyio.get_cancelled_exc_class():
            attempt.outcome = JobState.CANCELLED
            attempt.error = "cancelled"
            raise
        except Exception as bug:  # a fault in a kind must fail its job, not the engine
            error = JobError(f"internal error: {type(bug).__name__}: {bug}")
        finally:
            pause.stop_clock()
            attempt.active_s = pause.active_seconds()
            attempt.running_since = None
            attempt.ended_at = time.time()
            run.pause = None
            if pause.paused and job.state is JobState.PAUSED:
                # Paused by the user, the attempt ended anyway: a retry stays held until resumed.
                run.held = True
                run.unheld = anyio.Event()
        if error is None:
            attempt.outcome = JobState.SUCCEEDED
            job.result = result
            return None
        attempt.outcome = JobState.FAILED
        attempt.error = error.message
        job.error = error.message
        job.traceback = error.traceback
        return error

    # --- state changes ---------------------------------------------------------------------------------

    def _touch(self, job: Job) -> None:
        self.revision += 1
        job.revision = self.revision

    def _set_state(self, job: Job, state: JobState) -> None:
        old = job.state
        if old is state:
            return
        job.state = state
        self._touch(job)
        if self._events.has_subscribers:
            attempt = len(job.attempts)
            self._events.publish(StateChanged(job.id, old, state, attempt, job.error))

    def _finish(self, job: Job, outcome: JobState) -> None:
        self._finished_count += 1
        job.finished_seq = self._finished_count
        job.note = None
        self._set_state(job, outcome)

    def _cancel(self, job: Job) -> None:
        run = self._runs[job.id]
        run.cancel_requested = True
        if job.state in (JobState.RUNNING, JobState.PAUSED) and run.pause is not None:
            job.note = self._kinds[job.kind].cancel_note(job.spec)
            if job.note:
                job.note = "cancelling: " + job.note
            self._touch(job)
        if run.scope is not None:
            run.scope.cancel()

    def _requeue(self, job: Job) -> None:
        job.error = None
        job.traceback = None
        job.note = None
        job.finished_seq = 0
        self._runs[job.id].held = False
        self._set_state(job, JobState.QUEUED)
        self._start_driver(job)
        for dependent_id in self._dependents[job.id]:
            dependent = self.jobs[dependent_id]
            if dependent.state is JobState.SKIPPED:
                self._requeue(dependent)

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

    def _report_output(self, job: Job, stream: str, text: str) -> None:
        job.output.append(OutputLine(stream, text))
        self._touch(job)
        if self._events.has_subscribers:
            self._events.publish(OutputAdded(job.id, stream, text))

    def _limiter(self, job: Job) -> anyio.CapacityLimiter:
        settings = self.decks[job.deck].settings
        key, size = self._kinds[job.kind].slot(job.spec, settings)
        limiter = self._limiters.get((job.deck, key))
        if limiter is None:
            limiter = anyio.CapacityLimiter(size)
            self._limiters[(job.deck, key)] = limiter
        return limiter

    def _unique_deck_name(self, name: str) -> str:
        if name not in self.decks:
            return name
        number = 2
        while f"{name}#{number}" in self.decks:
            number += 1
        return f"{name}#{number}"

    def jobs_of(self, deck: str) -> Iterable[Job]:
        return (job for job in self.jobs.values() if job.deck == deck)


async def _run_with_timeout(kind: JobKind, context: AttemptContext, timeout: float) -> Any:
    """Run one attempt, failing it once `timeout` seconds of active (unpaused) time have passed."""
    if timeout <= 0:
        return await kind.run(context)
    timed_out = False
    result: Any = None
    error: JobError | None = None
    async with anyio.create_task_group() as watch_group:

        async def watch_clock() -> None:
            nonlocal timed_out
            await context.pause.sleep_active(timeout)
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
