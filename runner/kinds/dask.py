"""Call jobs on a Dask cluster: `on = "dask"` (the deck's cluster) or `on = "dask://host:8786"` (that one).

Which cluster an `on = "dask"` job uses, most specific first: the `--dask ADDRESS` option, else the
`JOBDECK_DASK` variable (both given to `DaskCalls` as `address`), else the deck's `[deck] dask`; an inline
`dask://host:port` always names its own. `"local"` means one `LocalCluster` on 127.0.0.1 per engine
(`process_limit` single-threaded worker processes of the first deck that asks), started on first use and
closed with the engine.

What jobdeck keeps, and what it leaves to Dask:

- Each attempt is one task with a unique key (never a cached result); retries, backoff and timeouts stay
  the engine's. A worker that dies mid-task surfaces as `KilledWorker`, a retryable failure; the local
  cluster's scheduler gives up after the first death (`allowed_failures=0`) so that every attempt shows.
  (A remote scheduler re-runs the task on its own up to `distributed.scheduler.allowed-failures` times
  first; each restart is noted in the job's output and its worker shown.)
- Limits: each deck's Dask jobs take places in a lane of `dask_limit` (default `process_limit`) per
  cluster; only that many are submitted at once, the rest wait in jobdeck where pause and cancel are exact.
- Cancel: a task not yet started is cancelled in Dask. A running Python function cannot be interrupted,
  so its job context's Dask Event is set, and `run` waits (up to the attempt's grace period) for the
  function to notice at its next `checkpoint()`; the job shows "cancelling" meanwhile.
- Pause: a task that has not been submitted is held back; one that runs cannot be suspended (said so).
- Progress and placement travel as worker events (runner.dask_worker.TOPIC), pushed to this client.
- On connect the client, scheduler and workers must run the same Python (major.minor), dask, distributed
  and cloudpickle (runner.dask_versions); before the first job of a function, every worker is asked to find
  it, so a module missing there fails the job at once with the worker's answer instead of hanging.

Dask is imported only when a Dask job arrives, and only on asyncio (Dask's client runs on asyncio).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from runner.deck import LOCAL_CLUSTER, scheduler_address
from runner.errors import JobError
from runner.kinds.base import AttemptContext
from runner.model import CallSpec, Deck, Kind, Settings

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

DASK_VARIABLE = "JOBDECK_DASK"
CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 10.0
CANCEL_NOTE = "dask jobs stop at their next checkpoint"
PAUSE_NOTE = "a running Dask job cannot be suspended; it goes on until it ends"
NO_CLUSTER = (
    'on = "dask" needs a cluster: set dask = "tcp://host:8786" (or "local") under [deck], '
    f"or give --dask ADDRESS or {DASK_VARIABLE}"
)


def address_from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    value = (os.environ if environ is None else environ).get(DASK_VARIABLE, "").strip()
    return value or None


def normalized_address(written: str) -> str:
    """ "local" or "tcp://host:port" for what a user wrote (--dask, JOBDECK_DASK); ValueError says what is wrong."""
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
        elif "done" in message:
            total = message.get("total")
            self.attempt.report_progress(float(message["done"]), None if total is None else float(total), "")


@dataclass(eq=False)
class _Asking:
    """Workers being asked to find a function, for the jobs that wait for the answer."""

    done: anyio.Event = field(default_factory=anyio.Event)
    error: JobError | None = None


class _Cluster:
    """One scheduler (or the local cluster): its client, connected once and shared by the engine's jobs."""

    def __init__(self, address: str, local_workers: int) -> None:
        self.address = address
        """"local" or "tcp://host:port"."""
        self.local_workers = local_workers
        self.local: LocalCluster | None = None
        self.client: Client | None = None
        self.error: JobError | None = None
        self.lasting_error = False
        """The error will not go away by connecting again (a version mismatch)."""
        self.connecting: anyio.Event | None = None
        self.watches: dict[str, _Watch] = {}
        self.found: set[tuple[str, str, str]] = set()
        """(module, function, job file's folder) that every worker found."""
        self.finding: dict[tuple[str, str, str], _Asking] = {}

    @property
    def label(self) -> str:
        if self.address == LOCAL_CLUSTER:
            return f"local {self.local.scheduler_address}" if self.local is not None else "local"
        return self.address

    @property
    def usable(self) -> bool:
        return self.client is not None and self.client.status not in ("closing", "closed")

    def on_event(self, event: tuple[float, Any]) -> None:
        message = event[1]
        if isinstance(message, Mapping):
            watch = self.watches.get(str(message.get("key")))
            if watch is not None:
                watch.on_event(message)

    def describe(self) -> str:
        if self.usable:
            assert self.client is not None
            info = self.client.scheduler_info()  # cached by the client, refreshed every few seconds
            listed = info.get("workers") or {}
            workers = info.get("n_workers", len(listed))
            threads = info.get("total_threads", sum(worker.get("nthreads", 0) for worker in listed.values()))
            return f"dask {self.label} · {_count(workers, 'worker')} · {_count(threads, 'thread')}"
        if self.connecting is not None:
            return f"dask {self.label} · connecting"
        if self.error is not None:
            return f"dask {self.label} · {self.error.message}"
        return f"dask {self.label} · not connected"


class DaskCalls:
    """The call jobs of an engine that run on Dask clusters. Use as an async context manager: leaving it
    closes every client and the local cluster, if one was started."""

    def __init__(self, address: str | None = None) -> None:
        """`address` is the cluster of `on = "dask"` jobs that overrides their deck's (--dask,
        JOBDECK_DASK): "local" or a scheduler address."""
        self.address = address
        self._clusters: dict[str, _Cluster] = {}
        self._task_group: TaskGroup | None = None

    async def __aenter__(self) -> DaskCalls:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()
        try:
            await self._task_group.__aexit__(*exc_info)
        finally:
            self._task_group = None
            with anyio.CancelScope(shield=True):
                for cluster in self._clusters.values():
                    await _close(cluster)

    # --- what the engine asks -----------------------------------------------------------------------------

    def slot(self, spec: CallSpec, settings: Settings) -> tuple[str, int]:
        return ("dask" if spec.cluster is None else f"dask {spec.cluster}"), settings.dask_slots

    async def deck_loaded(self, deck: Deck) -> None:
        """Start connecting (or the local cluster) while the first jobs are dispatched; errors wait for them."""
        for spec in deck.jobs:
            if spec.kind is Kind.CALL and isinstance(spec.work, CallSpec) and spec.work.on == "dask":
                with suppress(JobError):
                    self._start_connecting(self._cluster_for(spec.work, deck.settings))

    def describe(self) -> list[str]:
        return [cluster.describe() for cluster in self._clusters.values()]

    async def run(self, attempt: AttemptContext) -> Any:
        spec = attempt.job.spec.work
        assert isinstance(spec, CallSpec)
        cluster = self._cluster_for(spec, attempt.settings)
        await self._connected(cluster)
        await self._find_everywhere(cluster, spec)
        await attempt.pause.wait_resumed()  # paused while connecting: submit nothing until resumed
        return await self._submit(cluster, spec, attempt)

    # --- clusters -----------------------------------------------------------------------------------------

    def _cluster_for(self, spec: CallSpec, settings: Settings) -> _Cluster:
        written = spec.cluster or self.address or settings.dask
        if written is None:
            raise JobError(NO_CLUSTER)
        try:
            address = normalized_address(written)
        except ValueError as error:
            raise JobError(f"{DASK_VARIABLE} or --dask: {error}") from None
        cluster = self._clusters.get(address)
        if cluster is None:
            cluster = self._clusters[address] = _Cluster(address, local_workers=settings.process_limit)
        return cluster

    def _start_connecting(self, cluster: _Cluster) -> anyio.Event:
        if cluster.connecting is None:
            if self._task_group is None:
                raise JobError("the Dask connection is closed: jobdeck is stopping")
            cluster.connecting = anyio.Event()
            self._task_group.start_soon(self._connect, cluster, cluster.connecting, name=f"connect {cluster.address}")
        return cluster.connecting

    async def _connected(self, cluster: _Cluster) -> None:
        while not cluster.usable:
            if cluster.lasting_error and cluster.error is not None:
                raise cluster.error
            await self._start_connecting(cluster).wait()
            if not cluster.usable and cluster.error is not None:
                raise cluster.error

    async def _connect(self, cluster: _Cluster, done: anyio.Event) -> None:
        """Connect (starting the local cluster first if need be), check versions, subscribe to events.

        Shielded from start to end: a LocalCluster or Client cancelled half-way can leave processes or tasks
        behind, and each step is bounded by its own timeout anyway (jobdeck's exit waits for it)."""
        try:
            _require_asyncio()
            with anyio.CancelScope(shield=True):
                await self._connect_shielded(cluster)
        except JobError as error:
            cluster.error = error
        except Exception as error:
            cluster.error = JobError(
                f"cannot connect to the Dask scheduler at {cluster.label}: {_describe(error)}", retryable=True
            )
        finally:
            cluster.connecting = None
            done.set()

    async def _connect_shielded(self, cluster: _Cluster) -> None:
        from distributed import Client

        old, cluster.client = cluster.client, None
        if old is not None:
            await _close_client(old)
        if cluster.address == LOCAL_CLUSTER and cluster.local is None:
            cluster.local = await _start_local_cluster(cluster.local_workers)
        address = cluster.local.scheduler_address if cluster.local is not None else cluster.address
        client = await Client(address, asynchronous=True, set_as_default=False, timeout=CONNECT_TIMEOUT_S)
        try:
            mismatch = await _version_mismatch(client)
        except BaseException:
            await _close_client(client)
            raise
        if mismatch is not None:
            await _close_client(client)
            cluster.lasting_error = True
            raise JobError(
                f"the Dask cluster at {cluster.label} runs other versions than jobdeck here: {mismatch} "
                "(install the same versions of python, dask, distributed and cloudpickle everywhere)"
            )
        client.subscribe_topic(_topic(), cluster.on_event)
        cluster.client, cluster.error = client, None

    async def _find_everywhere(self, cluster: _Cluster, spec: CallSpec) -> None:
        """Ask every worker once to find the job's function; fail with their answer if one cannot. Jobs that
        ask while the workers are being asked share the answer."""
        wanted = (spec.module, spec.function, str(spec.base_dir))
        while wanted not in cluster.found:
            asking = cluster.finding.get(wanted)
            if asking is not None:
                await asking.done.wait()
                if asking.error is not None:
                    raise JobError(asking.error.message, retryable=asking.error.retryable)
                continue
            asking = cluster.finding[wanted] = _Asking()
            try:
                await self._ask_workers(cluster, spec)
                cluster.found.add(wanted)
            except JobError as error:
                asking.error = error
                raise
            finally:
                del cluster.finding[wanted]
                asking.done.set()

    async def _ask_workers(self, cluster: _Cluster, spec: CallSpec) -> None:
        from runner.dask_worker import check_callable

        assert cluster.client is not None
        try:
            answers = await cluster.client.run(
                check_callable, spec.module, spec.function, str(spec.base_dir), on_error="return"
            )
        except Exception as error:
            raise _lost(cluster, error) from None
        if not answers:
            raise JobError(f"the Dask cluster at {cluster.label} has no workers", retryable=True)
        for worker, answer in sorted(answers.items()):
            if isinstance(answer, BaseException):
                raise JobError(
                    f"jobdeck cannot run on Dask worker {worker}: {_describe(answer)} "
                    "(install jobdeck with its dask extra in the workers' environment)"
                )
            if answer is not None:
                raise JobError(
                    f"Dask worker {worker}: {answer} (the module must be importable on every worker: "
                    "install it there, or share the job file's folder, which workers search first)"
                )

    # --- one attempt --------------------------------------------------------------------------------------

    async def _submit(self, cluster: _Cluster, spec: CallSpec, attempt: AttemptContext) -> Any:
        from runner.dask_worker import run_call

        client = cluster.client
        assert client is not None
        key = f"jobdeck-{spec.function}-{uuid.uuid4().hex}"
        request = (key, attempt.job.name, spec.module, spec.function, spec.args, spec.kwargs, str(spec.base_dir))
        watch = cluster.watches[key] = _Watch(attempt)
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
    from runner.dask_worker import cancel_event_name

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
    from runner.workers import ResultRepr

    tag = outcome[0]
    if tag == "ok":
        return outcome[1]
    if tag == "repr":
        return ResultRepr(outcome[1])
    if tag == "error":
        _, message, traceback_text, retryable = outcome
        raise JobError(message, retryable=retryable, traceback=traceback_text)
    raise JobError("the function stopped at a checkpoint: it was cancelled")


def _task_error(cluster: _Cluster, error: Exception) -> JobError:
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
        return _lost(cluster)
    if isinstance(error, OSError) or not cluster.usable:
        return _lost(cluster, error)
    import traceback

    return JobError(
        f"the Dask task failed: {_describe(error)}",
        retryable=True,
        traceback="".join(traceback.format_exception(error)),
    )


def _lost(cluster: _Cluster, error: BaseException | None = None) -> JobError:
    detail = f": {_describe(error)}" if error is not None else ""
    return JobError(f"lost the connection to the Dask scheduler at {cluster.label}{detail}", retryable=True)


async def _start_local_cluster(workers: int) -> LocalCluster:
    import logging

    from distributed import LocalCluster

    return await LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        asynchronous=True,
        silence_logs=logging.ERROR,
        scheduler_kwargs={"allowed_failures": 0},
        preload=["runner.dask_preload"],
    )


async def _version_mismatch(client: Client) -> str | None:
    from runner.dask_versions import version_mismatch

    with anyio.fail_after(CONNECT_TIMEOUT_S):
        versions = await client.get_versions()
    return version_mismatch(versions)


async def _close(cluster: _Cluster) -> None:
    client, local = cluster.client, cluster.local
    cluster.client = cluster.local = None
    if client is not None:
        await _close_client(client)
    if local is not None:
        with anyio.move_on_after(CLOSE_TIMEOUT_S), suppress(Exception):
            await local.close()


async def _close_client(client: Client) -> None:
    with anyio.move_on_after(CLOSE_TIMEOUT_S), suppress(Exception):
        await client.close()


def _require_asyncio() -> None:
    import sniffio

    if sniffio.current_async_library() != "asyncio":
        raise JobError("Dask jobs need jobdeck to run on asyncio (Dask's client is built on it)")


def _topic() -> str:
    from runner.dask_worker import TOPIC

    return TOPIC


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
