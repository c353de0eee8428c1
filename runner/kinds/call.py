"""Call jobs: a Python function run on a worker process (default), on a worker thread, or on a Dask cluster
(`on = "dask"`, handed to runner.kinds.dask, which imports Dask only when such a job arrives).

Wherever it runs, the function runs in its job file's folder (runner.procs.job_folder); on a thread, what it
prints is its own output (runner.kinds.thread_output), as on a process."""

from __future__ import annotations

import time
import traceback
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

import anyio

from runner.context import JobContext, reset_job_context, set_job_context
from runner.deck.job_environment import UnsetVariable, expanded_env
from runner.errors import JobError, describe_error
from runner.kinds.base import AttemptContext, JobKind
from runner.kinds.dask import CANCEL_NOTE, PAUSE_NOTE, DaskCalls
from runner.kinds.thread_calls import ThreadCall, ThreadCalls
from runner.kinds.thread_output import ThreadJobOutput, ThreadOutputs, route_output_by_thread, write_to
from runner.model import CallSpec, Deck, JobSpec, Settings, replaced
from runner.pausing import PauseControl
from runner.procs.callables import resolve_callable
from runner.procs.job_folder import FolderError, job_folder
from runner.procs.pool import WorkerPool
from runner.procs.prestart import process_workers_wanted
from runner.stored_results import temporary_results_folder

THREAD_NOTE = "thread jobs cannot be interrupted: this takes effect at the job's next checkpoint"
PROGRESS_INTERVAL_S = 0.05
WORKER_IDLE_TIMEOUT_S = 600.0
"""Worker processes stay warm from deck to deck (in a server) until no call started or ended for this long."""


class CallKind(JobKind):
    def __init__(self, dask_address: str | None = None) -> None:
        """`dask_address`, if given, is the cluster of every `on = "dask"` job; by default each job's deck
        names it, or JOBDECK_DASK in the deck's environment (see runner.kinds.dask)."""
        self.pool = WorkerPool(idle_timeout=WORKER_IDLE_TIMEOUT_S)
        self.dask = DaskCalls(dask_address)
        # The engine's per-deck lanes decide which thread jobs run; every job they start gets a thread at once.
        self._threads = ThreadCalls()
        self._outputs = ThreadOutputs()
        self._cancelled_class: type[BaseException] = BaseException  # the event loop's, once entered
        self._exit_stack = AsyncExitStack()

    async def __aenter__(self) -> CallKind:
        self._cancelled_class = anyio.get_cancelled_exc_class()
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.pool)
            await stack.enter_async_context(self.dask)
            await stack.enter_async_context(self._threads)
            task_group = await stack.enter_async_context(anyio.create_task_group())
            task_group.start_soon(self._outputs.pass_on, name="thread jobs' output")
            stack.callback(task_group.cancel_scope.cancel)  # on the way out, before the task group is left
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._exit_stack.__aexit__(*exc_info)  # Dask's clients and cluster first, then the worker pool

    def slot(self, spec: JobSpec, settings: Settings) -> tuple[str, int]:
        call = _call_outline(spec)
        if call.on == "dask":
            return self.dask.slot(call, settings)
        if call.on == "thread":
            return "thread", settings.thread_limit
        return "process", settings.process_limit

    def describe(self) -> list[str]:
        return self.dask.describe()

    async def deck_loaded(self, deck: Deck) -> None:
        workers = process_workers_wanted(deck)
        if workers:
            self.pool.keep_idle = max(self.pool.keep_idle, workers)
            await self.pool.warm_up(workers)

    def pause_note(self, spec: JobSpec) -> str | None:
        return {"thread": THREAD_NOTE, "dask": PAUSE_NOTE}.get(_call_outline(spec).on)

    def cancel_note(self, spec: JobSpec) -> str | None:
        return {"thread": THREAD_NOTE, "dask": CANCEL_NOTE}.get(_call_outline(spec).on)

    async def run(self, attempt: AttemptContext) -> Any:
        spec = _call_spec(attempt.job.spec)
        if spec.on == "dask":
            return await self.dask.run(attempt)
        if spec.on == "thread":
            return await self._run_on_thread(spec, attempt)
        if spec.env:
            try:
                spec = replaced(spec, env=expanded_env(spec.env, attempt.environ))
            except UnsetVariable as unset:
                raise JobError(f"{unset}: export it and run jobdeck env for the deck") from None
        return await self.pool.call(
            spec,
            job_name=attempt.job.name,
            pause=attempt.pause,
            on_progress=lambda done, total: attempt.report_progress(done, total, ""),
            on_output=attempt.report_output,
            umask=attempt.umask,
            results=(attempt.results_folder or temporary_results_folder(), attempt.settings.result_limit_mb),
        )

    async def _run_on_thread(self, spec: CallSpec, attempt: AttemptContext) -> Any:
        cancelled_class = self._cancelled_class

        def call(output: ThreadJobOutput) -> Any:
            token = set_job_context(context)
            write_to(output)
            try:
                with job_folder(str(spec.folder), alone=False) as note:
                    if note is not None:
                        output.note(note)
                    function = resolve_callable(spec.module, spec.function, spec.base_dir)
                    try:
                        return function(*spec.args, **spec.kwargs)
                    except cancelled_class:
                        raise
                    except Exception as error:
                        trace = traceback.format_exc()
                        raise JobError(describe_error(error), retryable=True, traceback=trace) from None
            except FolderError as error:
                raise JobError(str(error)) from None
            finally:
                write_to(None)
                output.finish()
                attempt.pause.mark_ended()
                reset_job_context(token)

        route_output_by_thread()
        output = self._outputs.start(attempt.report_output)
        try:
            thread_call = ThreadCall(self._threads, partial(call, output))
            context = ThreadJobContext(attempt, thread_call, cancelled_class)
            return await self._threads.run(thread_call)
        finally:
            self._outputs.stop(output)


def _call_spec(spec: JobSpec) -> CallSpec:
    work = spec.work
    assert isinstance(work, CallSpec)
    return work


def _call_outline(spec: JobSpec) -> CallSpec:
    """Where the call runs and what it calls, without making the job's arguments (see JobSpec.outline)."""
    outline = spec.outline
    assert isinstance(outline, CallSpec)
    return outline


class ThreadJobContext(JobContext):
    """The job context of a call running on a worker thread: pause and cancel wait for `checkpoint()`."""

    def __init__(self, attempt: AttemptContext, call: ThreadCall, cancelled_class: type[BaseException]) -> None:
        self._cancelled_class = cancelled_class
        self._attempt = attempt
        self._call = call
        self._pause: PauseControl = attempt.pause
        self._last_progress = 0.0

    @property  # type: ignore[override]
    def job_name(self) -> str:
        """Made when asked: most jobs never do (a fan-out member's name is made anew at each read)."""
        return self._attempt.job.name

    def progress(self, done: float, total: float | None = None) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL_S and (total is None or done < total):
            return
        self._last_progress = now
        self._call.send(self._attempt.report_progress, done, total, "")

    def checkpoint(self) -> None:
        self._check_cancelled()
        while not self._pause.wait_running(0.1):
            self._check_cancelled()

    def _check_cancelled(self) -> None:
        if self._call.cancelled:
            raise self._cancelled_class("the job was cancelled")

    @property
    def cancelled(self) -> bool:
        return self._call.cancelled
