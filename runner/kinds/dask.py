"""Call jobs on a Dask cluster: `on = "dask"` (the deck's cluster) or `on = "dask://host:8786"` (that one).

Which cluster an `on = "dask"` job uses, most specific first: the `address` given to `DaskCalls`, else
`JOBDECK_DASK` in the deck's environment (the loader's: `--dask ADDRESS` sets it, and a server runs each
client's decks in that client's environment), else the deck's `[deck] dask`; an inline `dask://host:port`
always names its own. `"local"` means one `LocalCluster` on 127.0.0.1 per engine,
started on first use and closed with the engine (runner.dask.cluster connects, checks and closes).

What jobdeck keeps, and what it leaves to Dask:

- Each attempt is one task with a unique key (never a cached result); retries, backoff and timeouts stay
  the engine's. A worker that dies mid-task surfaces as `KilledWorker`, a retryable failure. (A remote
  scheduler re-runs the task on its own up to `distributed.scheduler.allowed-failures` times first; each
  restart is noted in the job's output and its new worker shown.) A lost scheduler is retryable too.
- Limits: each deck's Dask jobs take places in a lane of `dask_limit` (default `process_limit`) per
  cluster; only that many are submitted at once, the rest wait in jobdeck where pause and cancel are exact
  and no timeout clock runs.
- Cancel: a task not yet started is cancelled in Dask. A running Python function cannot be interrupted,
  so the Dask Event its job context polls is set, and `run` waits (up to the attempt's grace period) for
  the function to notice at its next `checkpoint()`; the job shows "cancelling" meanwhile.
- Pause: a task that has not been submitted is held back; one that runs cannot be suspended (said so).
- Progress and placement travel as worker events (runner.dask.worker), pushed to this client.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from runner.dask.cluster import CLOSE_TIMEOUT_S, DaskCluster
from runner.deck.dask_address import LOCAL_CLUSTER, scheduler_address
from runner.errors import JobError, describe_error
from runner.kinds.base import AttemptContext
from runner.model import CallSpec, Settings

if TYPE_CHECKING:
    from distributed import Client, Future

DASK_VARIABLE = "JOBDECK_DASK"
CANCEL_NOTE = "dask jobs stop at their next checkpoint"
PAUSE_NOTE = "a running Dask job cannot be suspended; it goes on until it ends"
NO_CLUSTER = (
    'on = "dask" needs a cluster: set dask = "tcp://host:8786" (or "local") under [deck], '
    f"or give --dask ADDRESS or {DASK_VARIABLE}"
)


def address_from_environment(environ: Mapping[str, str]) -> str | None:
    return environ.get(DASK_VARIABLE, "").strip() or None


def normalized_address(written: str) -> str:
    """The cluster a user wrote (--dask, JOBDECK_DASK) as "local" or "tcp://host:port"; ValueError if bad."""
    if written.strip() == LOCAL_CLUSTER:
        return LOCAL_CLUSTER
    address, problem = scheduler_address(written.strip())
    if address is None:
        raise ValueError(f'{written!r} is not "local" or a Dask scheduler address: {problem}')
    return address


@dataclass(eq=False)
class _Watch:
    """The client's side of one submitted attempt: events from its task land here."""

    attempt: AttemptContext
    started_on: str | None = None

    def on_event(self, message: Mapping[str, Any]) -> None:
        if "started" in message:
            address = str(message["started"])
            if self.started_on is not None:
                self.attempt.report_output(
                    "log", f"Dask started this job again on {address}: the worker {self.started_on} was lost"
                )
            self.started_on = address
            self.attempt.report_place(address)
        elif "note" in message:
            self.attempt.report_output("log", str(message["note"]))
        elif "done" in message:
            total = message.get("total")
            self.attempt.report_progress(float(message["done"]), None if total is None else float(total), "")


class DaskCalls:
    """The call jobs of an engine that run on Dask clusters. Use as an async context manager: leaving it
    closes every client and the local cluster, if one was started."""

    def __init__(self, address: str | None = None) -> None:
        """`address`, if given, is the cluster of every `on = "dask"` job, whatever its deck and environment
        say: "local" or a scheduler address."""
        self.address = address
        self._clusters: dict[str, DaskCluster] = {}
        self._task_group: TaskGroup | None = None
        self._exit_stack = AsyncExitStack()

    async def __aenter__(self) -> DaskCalls:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._close_clusters)  # last out: after the task group has ended
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()
        try:
            await self._exit_stack.__aexit__(*exc_info)
        finally:
            self._task_group = None

    async def _close_clusters(self) -> None:
        with anyio.CancelScope(shield=True):
            for cluster in self._clusters.values():
                await cluster.close()

    # --- what the engine asks -----------------------------------------------------------------------------

    def slot(self, spec: CallSpec, settings: Settings) -> tuple[str, int]:
        return ("dask" if spec.cluster is None else f"dask {spec.cluster}"), settings.dask_slots

    def describe(self) -> list[str]:
        return [cluster.describe() for cluster in self._clusters.values()]

    async def run(self, attempt: AttemptContext) -> Any:
        spec = attempt.job.spec.work
        assert isinstance(spec, CallSpec)
        cluster = self._cluster_for(spec, attempt.settings, attempt.environ)
        await cluster.connected(self._open_task_group())
        await cluster.find_everywhere(spec)
        await attempt.pause.wait_resumed()  # paused while connecting: submit nothing until resumed
        return await self._submit(cluster, spec, attempt)

    # --- clusters -----------------------------------------------------------------------------------------

    def _open_task_group(self) -> TaskGroup:
        """Where connections are made: ours, so that a job cancelled while waiting does not cancel them."""
        if self._task_group is None:
            raise JobError("the Dask connection is closed: jobdeck is stopping")
        return self._task_group

    def _cluster_for(self, spec: CallSpec, settings: Settings, environ: Mapping[str, str]) -> DaskCluster:
        written = spec.cluster or self.address or address_from_environment(environ) or settings.dask
        if written is None:
            raise JobError(NO_CLUSTER)
        try:
            address = normalized_address(written)
        except ValueError as error:
            raise JobError(f"{DASK_VARIABLE} or --dask: {error}") from None
        cluster = self._clusters.get(address)
        if cluster is None:
            cluster = self._clusters[address] = DaskCluster(address, local_workers=settings.process_limit)
        return cluster

    # --- one attempt --------------------------------------------------------------------------------------

    async def _submit(self, cluster: DaskCluster, spec: CallSpec, attempt: AttemptContext) -> Any:
        from runner.dask.worker import run_call

        client = cluster.client
        assert client is not None
        key = f"jobdeck-{spec.function}-{uuid.uuid4().hex}"
        request = (key, attempt.job.name, spec.module, spec.function, spec.args, spec.kwargs, str(spec.base_dir))
        watch = _Watch(attempt)
        cluster.watches[key] = watch.on_event
        try:
            future = client.submit(run_call, request, key=key, pure=False)
            try:
                outcome = await future
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):
                    await _stop(client, future, key, watch, attempt.grace_period)
                raise
            except Exception as error:
                raise _task_error(cluster, error) from None
        finally:
            del cluster.watches[key]
        return _result(outcome)


async def _stop(client: Client, future: Future[Any], key: str, watch: _Watch, grace_period: float) -> None:
    """Stop an attempt whose caller was cancelled: cancel its task, or ask its function to stop and give it
    the grace period to reach a checkpoint. The Event stays set while the function may still be running."""
    from runner.dask.worker import cancel_event_name

    name = cancel_event_name(key)
    with anyio.move_on_after(CLOSE_TIMEOUT_S), suppress(Exception):
        await client.scheduler.event_set(name=name)
    if watch.started_on is not None:
        with anyio.move_on_after(grace_period), suppress(Exception):
            await future
    with anyio.move_on_after(CLOSE_TIMEOUT_S), suppress(Exception):
        stopped = future.status in ("finished", "error")
        await client.cancel([future])
        if stopped or watch.started_on is None:
            await client.scheduler.event_clear(name=name)


def _result(outcome: tuple[Any, ...]) -> Any:
    from runner.procs.pool import ResultRepr

    tag = outcome[0]
    if tag == "ok":
        return outcome[1]
    if tag == "repr":
        return ResultRepr(outcome[1])
    if tag == "error":
        _, message, traceback_text, retryable = outcome
        raise JobError(message, retryable=retryable, traceback=traceback_text)
    raise JobError("the function stopped at a checkpoint: it was cancelled")


def _task_error(cluster: DaskCluster, error: Exception) -> JobError:
    """A failure of Dask rather than of the function (which reports its own in the outcome)."""
    from concurrent.futures import CancelledError  # distributed's FutureCancelledError, and older versions' own

    from distributed import KilledWorker

    if isinstance(error, KilledWorker):
        worker = getattr(error.last_worker, "address", error.last_worker)
        return JobError(
            f"the Dask worker running this job died ({worker}); Dask gave up on the task (KilledWorker)",
            retryable=True,
        )
    if isinstance(error, CancelledError):
        reason = str(getattr(error, "reason", "") or "")
        connected = cluster.client is not None and cluster.client.status == "running"
        if connected and "connection" not in reason:
            return JobError(f"Dask cancelled the task ({reason or 'no reason given'})", retryable=True)
        return cluster.lost()
    if isinstance(error, OSError) or not cluster.usable:
        return cluster.lost(error)
    import traceback

    return JobError(
        f"the Dask task failed: {describe_error(error)}",
        retryable=True,
        traceback="".join(traceback.format_exception(error)),
    )
