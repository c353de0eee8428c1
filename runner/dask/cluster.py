"""One Dask cluster as an engine sees it: a client connected once and shared by the engine's Dask jobs.

Connecting starts the local cluster first when the address is "local" (`process_limit` single-threaded
worker processes on 127.0.0.1, whose scheduler gives up on a task after one worker death so that each death
shows as a failed attempt, and whose workers leave the terminal's process group: runner.dask.preload).
Then the client, scheduler and workers must run the same Python (major.minor), dask, distributed and
cloudpickle (runner.dask.versions), and the client subscribes to the events workers send about their tasks
(runner.dask.worker.TOPIC), which it hands to whoever watches each task's key. Before the first task of a
function, every worker is asked to find it, so that a module missing there fails at once instead of hanging.

Dask is imported only here and only when connecting, on asyncio (Dask's client is built on it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from runner.deck.dask_address import LOCAL_CLUSTER
from runner.errors import JobError, describe_error
from runner.model import CallSpec

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 10.0


@dataclass(eq=False)
class _Asking:
    """Workers being asked to find a function, for the jobs that wait for the answer."""

    done: anyio.Event = field(default_factory=anyio.Event)
    error: JobError | None = None


class DaskCluster:
    """One scheduler (or the local cluster): its client, connected once and shared by the engine's jobs.

    `close()` it when done: it closes the client and stops the local cluster, if it started one."""

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
        self.watches: dict[str, Callable[[Mapping[str, Any]], None]] = {}
        """Task key -> what to do with the events of that task."""
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
                watch(message)

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

    def start_connecting(self, task_group: TaskGroup) -> anyio.Event:
        """Connect in a task of `task_group`, unless that is under way; the event is set once it ended."""
        if self.connecting is None:
            self.connecting = anyio.Event()
            task_group.start_soon(self._connect, self.connecting, name=f"connect {self.address}")
        return self.connecting

    async def connected(self, task_group: TaskGroup) -> None:
        """Return once connected (connecting if need be); JobError if that fails."""
        while not self.usable:
            if self.lasting_error and self.error is not None:
                raise self.error
            await self.start_connecting(task_group).wait()
            if not self.usable and self.error is not None:
                raise self.error

    async def _connect(self, done: anyio.Event) -> None:
        """Connect (starting the local cluster first if need be), check versions, subscribe to events.

        Shielded from start to end: a LocalCluster or Client cancelled half-way can leave processes or tasks
        behind, and each step is bounded by its own timeout anyway (jobdeck's exit waits for it)."""
        try:
            _require_asyncio()
            with anyio.CancelScope(shield=True):
                await self._connect_shielded()
        except JobError as error:
            self.error = error
        except Exception as error:
            self.error = JobError(
                f"cannot connect to the Dask scheduler at {self.label}: {describe_error(error)}", retryable=True
            )
        finally:
            self.connecting = None
            done.set()

    async def _connect_shielded(self) -> None:
        from distributed import Client

        old, self.client = self.client, None
        if old is not None:
            await _close_client(old)
        if self.address == LOCAL_CLUSTER and self.local is None:
            self.local = await _start_local_cluster(self.local_workers)
        address = self.local.scheduler_address if self.local is not None else self.address
        client = await Client(address, asynchronous=True, set_as_default=False, timeout=CONNECT_TIMEOUT_S)
        try:
            mismatch = await _version_mismatch(client)
        except BaseException:
            await _close_client(client)
            raise
        if mismatch is not None:
            await _close_client(client)
            self.lasting_error = True
            raise JobError(
                f"the Dask cluster at {self.label} runs other versions than jobdeck here: {mismatch} "
                "(install the same versions of python, dask, distributed and cloudpickle everywhere)"
            )
        client.subscribe_topic(_topic(), self.on_event)
        self.client, self.error = client, None

    async def find_everywhere(self, spec: CallSpec) -> None:
        """Ask every worker once to find the job's function; fail with their answer if one cannot. Jobs that
        ask while the workers are being asked share the answer."""
        wanted = (spec.module, spec.function, str(spec.base_dir))
        while wanted not in self.found:
            asking = self.finding.get(wanted)
            if asking is not None:
                await asking.done.wait()
                if asking.error is not None:
                    raise JobError(asking.error.message, retryable=asking.error.retryable)
                continue
            asking = self.finding[wanted] = _Asking()
            try:
                await self._ask_workers(spec)
                self.found.add(wanted)
            except JobError as error:
                asking.error = error
                raise
            finally:
                del self.finding[wanted]
                asking.done.set()

    async def _ask_workers(self, spec: CallSpec) -> None:
        from runner.dask.worker import check_callable

        assert self.client is not None
        try:
            answers = await self.client.run(
                check_callable, spec.module, spec.function, str(spec.base_dir), on_error="return"
            )
        except Exception as error:
            raise self.lost(error) from None
        if not answers:
            raise JobError(f"the Dask cluster at {self.label} has no workers", retryable=True)
        for worker, answer in sorted(answers.items()):
            if isinstance(answer, BaseException):
                raise JobError(
                    f"jobdeck cannot run on Dask worker {worker}: {describe_error(answer)} "
                    "(install jobdeck with its dask extra in the workers' environment)"
                )
            if answer is not None:
                raise JobError(
                    f"Dask worker {worker}: {answer} (the module must be importable on every worker: "
                    "install it there, or share the job file's folder, which workers search first)"
                )

    def lost(self, error: BaseException | None = None) -> JobError:
        detail = f": {describe_error(error)}" if error is not None else ""
        return JobError(f"lost the connection to the Dask scheduler at {self.label}{detail}", retryable=True)

    async def close(self) -> None:
        client, local = self.client, self.local
        self.client = self.local = None
        if client is not None:
            await _close_client(client)
        if local is not None:
            with anyio.move_on_after(CLOSE_TIMEOUT_S), suppress(Exception):
                await local.close()


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
        preload=["runner.dask.preload"],
    )


async def _version_mismatch(client: Client) -> str | None:
    from runner.dask.versions import version_mismatch

    with anyio.fail_after(CONNECT_TIMEOUT_S):
        versions = await client.get_versions()
    return version_mismatch(versions)


async def _close_client(client: Client) -> None:
    with anyio.move_on_after(CLOSE_TIMEOUT_S), suppress(Exception):
        await client.close()


def _require_asyncio() -> None:
    import sniffio

    if sniffio.current_async_library() != "asyncio":
        raise JobError("Dask jobs need jobdeck to run on asyncio (Dask's client is built on it)")


def _topic() -> str:
    from runner.dask.worker import TOPIC

    return TOPIC


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
