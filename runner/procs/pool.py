"""Worker processes for process call jobs, supervised so that pause, cancel and crashes behave.

Each worker is `python -m runner.procs.worker_main` in its own session and process group (pgid == pid), so a
signal to the group reaches the worker and every process its job started:

- pause sends SIGSTOP to the group, resume SIGCONT;
- cancel sends SIGKILL to the group; that worker is never reused and the next call starts a new one;
- a worker that dies mid-call fails that call with a JobError naming its exit status or signal; the pool
  goes on;
- leaving the pool kills every worker's group and reaps the workers.

Warm workers: the pool keeps up to `keep_idle` workers between calls (a server keeps them from deck to deck),
replaces one that died or was killed (a cancelled call's, or one killed from outside) so that `keep_idle` stay
ready, and with `idle_timeout` stops them once it went that long without a call. A worker may have been started
before the pool (runner.procs.prestart): the pool takes those over first. A warm worker never runs stale code:
runner.procs.callables imports a job's module again when its file changed.

The protocol is described in runner.procs.worker_main.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
from collections import deque
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import Process, TaskGroup
from anyio.streams.buffered import BufferedByteReceiveStream

from runner.errors import JobError
from runner.model import CallSpec
from runner.pausing import PauseControl
from runner.procs.child_environment import python_child_environment as python_child_environment
from runner.procs.lines import LineSplitter
from runner.procs.prestart import start_worker_process, take_prestarted
from runner.procs.process_groups import describe_exit, kill_group, signal_group
from runner.procs.worker_main import CALL_END_MARKER, HEADER, MAX_OUTPUT_LINE_CHARS, encode_message

logger = logging.getLogger(__name__)

START_TIMEOUT = 60.0
"""Seconds a new worker may take to report ready (generous: a loaded machine starts Python slowly)."""
REAP_TIMEOUT = 2.0
"""Seconds to wait for a killed worker to be reaped before giving up on it."""
STDERR_DRAIN_TIMEOUT = 0.5
"""Seconds to keep reading a dead worker's stderr (a crash message) after it exited."""
STDERR_SYNC_TIMEOUT = 1.0
"""Seconds to wait, after a call's outcome, for the stderr lines the call wrote before it ended."""
CLOSE_TIMEOUT = 5.0
LOAD_IN_THREAD_BYTES = 1 << 20
"""Results pickled larger than this are unpickled on a worker thread, to keep the event loop responsive."""
ENDING_TAGS = frozenset({"result", "result_repr", "error"})
"""Replies after which the call has ended: what is left is reading its value."""


class ResultRepr:
    """Stands in for a result that could not travel from the worker process; repr() is the worker's repr()."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


@dataclass
class _Outcome:
    value: Any = None
    error: JobError | None = None


@dataclass(eq=False)
class _WorkerProcess:
    """One worker process, as the pool supervises it."""

    process: Process
    replies: BufferedByteReceiveStream
    in_use: anyio.Lock = field(default_factory=anyio.Lock)
    """Held by the call using the worker; the supervisor closes the pipes only after that call let go."""
    gone: anyio.Event = field(default_factory=anyio.Event)
    """Set once the worker exited, was reaped, its group was killed and its stderr was read to the end."""
    stderr_closed: anyio.Event = field(default_factory=anyio.Event)
    stderr_synced: anyio.Event = field(default_factory=anyio.Event)
    """Set when the stderr reader sees the current call's end marker."""
    exit_status: int | None = None
    ready: bool = False
    """It reported ready: once gone, it is worth replacing (one that cannot even start is not retried)."""
    killed: bool = False
    stopped: bool = False
    output: Callable[[str, str], None] | None = None
    """The on_output of the call using the worker, for its stderr lines."""
    recent_stderr: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return not self.killed and self.exit_status is None and not self.gone.is_set()

    # The group's signals are also valid after the worker was reaped: a process group id is not reused while
    # any member lives.

    def suspend(self) -> None:
        self.stopped = True
        signal_group(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        self.stopped = False
        signal_group(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        self.killed = True
        kill_group(self.pid)

    async def send(self, message: tuple[Any, ...] | bytes) -> bool:
        """Send a message (or a ready frame); False if the worker's stdin is closed."""
        frame = message if isinstance(message, bytes) else encode_message(message)
        assert self.process.stdin is not None
        try:
            await self.process.stdin.send(frame)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    async def receive(self) -> tuple[Any, ...] | None:
        """The next message from the worker, or None at end of file (the worker is gone)."""
        try:
            (size,) = HEADER.unpack(await self.replies.receive_exactly(HEADER.size))
            payload = await self.replies.receive_exactly(size)
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return None
        try:
            return pickle.loads(payload)
        except Exception as error:
            raise JobError(f"worker process sent an unreadable message: {error}", retryable=True) from None

    def take_stderr_line(self, text: str) -> None:
        if CALL_END_MARKER in text:
            text = text.replace(CALL_END_MARKER, "")
            if text:
                self._forward_stderr(text)
            self.stderr_synced.set()
        else:
            self._forward_stderr(text)

    def _forward_stderr(self, text: str) -> None:
        self.recent_stderr.append(text)
        if self.output is None:
            return
        try:
            self.output("stderr", text)
        except Exception:
            logger.exception("on_output failed for a stderr line of worker %d", self.pid)


@dataclass(eq=False)
class _Waiter:
    """A call waiting for a worker that warm_up is starting (or for one another call gives back)."""

    ready: anyio.Event = field(default_factory=anyio.Event)
    worker: _WorkerProcess | None = None
    """The worker handed over; None when woken without one (its start failed, or the pool is closing)."""


class WorkerPool:
    """Runs call jobs in worker processes it supervises. Use as `async with WorkerPool() as pool:`.

    The pool does not limit concurrency: each `call` takes an idle worker, or waits for one that warm_up is
    starting and no other call has claimed, or else starts one. Afterwards the worker goes to a waiting
    call, or is kept for reuse if fewer than `keep_idle` are idle, else it is stopped.
    """

    def __init__(self, *, keep_idle: int = 0, idle_timeout: float | None = None) -> None:
        self.keep_idle = keep_idle
        self.idle_timeout = idle_timeout
        """Seconds without a call after which the idle workers are stopped and keep_idle falls to 0 (until a
        warm_up asks again); None: kept for as long as the pool."""
        self._calls = 0
        self._activity = anyio.Event()
        """Set when a call starts or ends, or warm_up is asked: the idle clock starts again."""
        self._idle: list[_WorkerProcess] = []
        self._workers: set[_WorkerProcess] = set()
        self._starting = 0
        """Workers being started, by warm_up or by a call for itself."""
        self._starting_for_pool = 0
        """Of those, the ones warm_up started: each goes to a waiting call, or else to the idle list."""
        self._waiters: deque[_Waiter] = deque()
        """Calls waiting for a worker; never more than `_starting_for_pool`, so each has one coming."""
        self._task_group: TaskGroup | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._closed = False
        self._all_reaped = anyio.Event()

    async def __aenter__(self) -> WorkerPool:
        async with AsyncExitStack() as stack:
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            if self.idle_timeout is not None:
                self._task_group.start_soon(self._retire_when_unused, self.idle_timeout)
            self._exit_stack = stack.pop_all()  # left in __aexit__
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Kill every worker's process group and reap the workers; nothing is left running."""
        assert self._task_group is not None and self._exit_stack is not None
        self._closed = True
        self._idle.clear()
        while self._waiters:
            self._waiters.popleft().ready.set()  # woken without a worker: their calls fail
        for worker in list(self._workers):
            worker.kill()
        if not self._workers:
            self._all_reaped.set()
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
            await self._all_reaped.wait()
        self._task_group.cancel_scope.cancel()
        return await self._exit_stack.__aexit__(exc_type, exc, tb)

    @property
    def idle_count(self) -> int:
        return sum(1 for worker in self._idle if worker.alive)

    async def warm_up(self, count: int) -> None:
        """Start workers concurrently until `count` are idle, so the first calls don't wait for start-up.

        Workers already starting count towards `count` unless a waiting call has claimed them, so calls
        that began just before (each starting its own worker) or just after (waiting for these) do not
        make the pool start more workers than `count`. Calls arriving meanwhile take these workers as
        they become ready. Raises JobError if a worker cannot be started. Does not change `keep_idle`.
        """
        self._check_open()
        self._activity.set()
        wanted = count - self.idle_count - (self._starting - len(self._waiters))
        errors = await self._start_for_pool(wanted)
        if errors:
            raise errors[0]

    async def _start_for_pool(self, wanted: int) -> list[JobError]:
        """Start `wanted` workers concurrently, each for a waiting call or else the idle list; the errors of
        those that did not start."""
        errors: list[JobError] = []
        if wanted <= 0:
            return errors
        # Counted now, before any task runs, so a call arriving in the meantime waits for one of these.
        self._starting += wanted
        self._starting_for_pool += wanted

        async def start_one() -> None:
            worker: _WorkerProcess | None = None
            try:
                worker = await self._spawn()
            except JobError as error:
                errors.append(error)
            finally:
                self._starting -= 1
                self._starting_for_pool -= 1
                if worker is None:
                    self._wake_unprovided_waiters()
            if worker is not None:
                self._hand_over(worker)

        async with anyio.create_task_group() as task_group:
            for _ in range(wanted):
                task_group.start_soon(start_one)
        return errors

    async def _top_up(self) -> None:
        """Start workers until `keep_idle` are alive (idle, busy or starting), after one of them was lost."""
        if self._closed:
            return
        alive = sum(1 for worker in self._workers if worker.alive)
        for error in await self._start_for_pool(self.keep_idle - alive - self._starting):
            logger.warning("could not replace a worker process: %s", error.message)

    async def _retire_when_unused(self, timeout: float) -> None:
        """Stop the idle workers once the pool went `timeout` seconds without a call starting or ending."""
        while True:
            self._activity = anyio.Event()
            with anyio.move_on_after(timeout) as quiet:
                await self._activity.wait()
            if quiet.cancelled_caught and self._calls == 0 and self._idle:
                self.keep_idle = 0
                while self._idle:
                    self._idle.pop().kill()  # the supervisor reaps it

    async def call(
        self,
        spec: CallSpec,
        *,
        job_name: str,
        pause: PauseControl,
        on_progress: Callable[[float, float | None], None],
        on_output: Callable[[str, str], None],
        umask: int | None = None,
        results: tuple[Path, int] | None = None,
    ) -> Any:
        """Run `spec` in a worker process and return its result; with `umask`, the worker has that umask for
        the call (a server's client's), and its own again afterwards.

        With `results` (a folder and a limit in MiB), the worker keeps a large result in a file there itself
        (runner.stored_results) and sends only a StoredResult: the value never crosses the pipe.

        Raises JobError when the function raised (retryable, with the worker's traceback), when it cannot
        be found or its arguments cannot be sent (not retryable), or when the worker died (retryable).
        A result that cannot be pickled comes back as a ResultRepr. If the caller is cancelled, the worker's
        process group is killed and reaped before the cancellation propagates.
        """
        request = _encode_request(spec, job_name, umask, results)
        self._check_open()
        self._calls += 1
        self._activity.set()
        try:
            worker = await self._take_worker()
            try:
                outcome = await self._run_call(worker, request, pause, on_progress, on_output)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._discard(worker)
                raise
            self._give_back(worker)
        finally:
            self._calls -= 1
            self._activity.set()
        if outcome.error is not None:
            raise outcome.error
        return outcome.value

    async def _run_call(
        self,
        worker: _WorkerProcess,
        request: bytes,
        pause: PauseControl,
        on_progress: Callable[[float, float | None], None],
        on_output: Callable[[str, str], None],
    ) -> _Outcome:
        async with worker.in_use:
            worker.output = on_output
            worker.stderr_synced = anyio.Event()
            detach = pause.attach(suspend=worker.suspend, resume=worker.resume)
            try:
                if not await worker.send(request):
                    raise await self._death_error(worker)
                outcome = await self._receive_outcome(worker, pause, on_progress, on_output)
                with anyio.move_on_after(STDERR_SYNC_TIMEOUT):
                    await worker.stderr_synced.wait()
                return outcome
            finally:
                detach()
                worker.output = None
                if worker.stopped:
                    # Paused just as the call ended: an idle worker must not stay stopped.
                    worker.resume()

    async def _receive_outcome(
        self,
        worker: _WorkerProcess,
        pause: PauseControl,
        on_progress: Callable[[float, float | None], None],
        on_output: Callable[[str, str], None],
    ) -> _Outcome:
        while True:
            message = await worker.receive()
            if message is None:
                raise await self._death_error(worker)
            tag = message[0]
            if tag in ENDING_TAGS:
                pause.mark_ended()
            if tag == "progress":
                on_progress(message[1], message[2])
            elif tag == "output":
                on_output(message[1], message[2])
            elif tag == "result":
                try:
                    return _Outcome(value=await _load_result(message[1]))
                except Exception:
                    # e.g. the value's class lives in a module only the worker can import.
                    if not await worker.send(("describe_result",)):
                        raise await self._death_error(worker) from None
            elif tag == "result_repr":
                return _Outcome(value=ResultRepr(message[1]))
            elif tag == "error":
                _, text, traceback_text, retryable = message
                return _Outcome(error=JobError(text, retryable=retryable, traceback=traceback_text))
            else:
                raise JobError(f"worker process sent an unexpected message: {tag!r}", retryable=True)

    async def _death_error(self, worker: _WorkerProcess) -> JobError:
        """Wait for a worker that closed its pipe to be reaped; the error that says how it ended."""
        with anyio.move_on_after(REAP_TIMEOUT):
            await worker.gone.wait()
        if not worker.gone.is_set():
            worker.kill()
            with anyio.move_on_after(REAP_TIMEOUT):
                await worker.gone.wait()
        if self._closed:
            return JobError("worker process was stopped: the worker pool is shutting down")
        return JobError(
            f"worker process died while running the job: {describe_exit(worker.exit_status)}", retryable=True
        )

    async def _take_worker(self) -> _WorkerProcess:
        while True:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
            if self._starting_for_pool <= len(self._waiters):
                break  # every worker warm_up is starting is spoken for: start one for this call
            waiter = _Waiter()
            self._waiters.append(waiter)
            try:
                await waiter.ready.wait()
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.worker is not None:
                    self._hand_over(waiter.worker)  # handed over just as this call was cancelled
                raise
            if waiter.worker is not None:
                return waiter.worker
            if self._closed:
                raise JobError("worker process was stopped: the worker pool is shutting down")
            # The worker it waited for did not start: look again, and start one if none is coming.
        self._starting += 1
        try:
            return await self._spawn()
        finally:
            self._starting -= 1

    def _give_back(self, worker: _WorkerProcess) -> None:
        if not worker.alive or self._closed:
            worker.kill()
            return
        if self._waiters:
            self._hand_over(worker)
            return
        self._idle.append(worker)
        while len(self._idle) > max(self.keep_idle, 0):
            self._idle.pop(0).kill()  # the supervisor reaps it

    def _hand_over(self, worker: _WorkerProcess) -> None:
        """Give a ready worker to the longest-waiting call, or else to the idle list."""
        if not worker.alive or self._closed:
            worker.kill()
            self._wake_unprovided_waiters()
            return
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.worker = worker
            waiter.ready.set()
        else:
            self._idle.append(worker)

    def _wake_unprovided_waiters(self) -> None:
        """Wake (without a worker) the calls that no starting worker is coming for any more."""
        while len(self._waiters) > self._starting_for_pool:
            self._waiters.pop().ready.set()

    async def _discard(self, worker: _WorkerProcess) -> None:
        """Kill the worker's process group and wait (bounded) until it is reaped."""
        worker.kill()
        if worker in self._idle:
            self._idle.remove(worker)
        with anyio.move_on_after(REAP_TIMEOUT):
            await worker.gone.wait()

    async def _spawn(self) -> _WorkerProcess:
        assert self._task_group is not None
        try:
            # Shielded, as a shell job's start: a cancel during the spawn would leave the process unsupervised;
            # it reaches this call at its next await instead, which discards the worker.
            with anyio.CancelScope(shield=True):
                process = take_prestarted() or start_worker_process()
        except OSError as error:
            raise JobError(f"could not start a worker process: {error}", retryable=True) from error
        if self._closed:
            # The pool shut down while this worker was starting (its task group may be gone): nothing would
            # supervise it, so it is ended here.
            kill_group(process.pid)
            with anyio.CancelScope(shield=True), anyio.move_on_after(REAP_TIMEOUT):
                await process.aclose()
            raise JobError("worker process was stopped: the worker pool is shutting down")
        assert process.stdout is not None
        worker = _WorkerProcess(process, BufferedByteReceiveStream(process.stdout))
        self._workers.add(worker)
        self._task_group.start_soon(self._supervise, worker)
        try:
            with anyio.fail_after(START_TIMEOUT):
                message = await worker.receive()
        except BaseException as error:
            with anyio.CancelScope(shield=True):
                await self._discard(worker)
            if isinstance(error, TimeoutError):
                raise JobError(
                    f"could not start a worker process: no sign of life after {START_TIMEOUT:g} s", retryable=True
                ) from None
            raise
        if message is None or message[0] != "ready":
            await self._discard(worker)
            detail = f"{describe_exit(worker.exit_status)}"
            if worker.recent_stderr:
                detail += f": {worker.recent_stderr[-1]}"
            raise JobError(f"could not start a worker process ({detail})")
        worker.ready = True
        return worker

    async def _supervise(self, worker: _WorkerProcess) -> None:
        """Forward the worker's stderr; once it exits, kill its group, reap it and close its pipes."""
        try:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(_read_stderr, worker)
                worker.exit_status = await worker.process.wait()
                kill_group(worker.pid)  # whatever its job started and left behind
                with anyio.move_on_after(STDERR_DRAIN_TIMEOUT):
                    await worker.stderr_closed.wait()
                task_group.cancel_scope.cancel()
            if worker in self._idle:
                self._idle.remove(worker)
            worker.gone.set()
            async with worker.in_use:
                await worker.process.aclose()
        finally:
            self._workers.discard(worker)
            if self._closed and not self._workers:
                self._all_reaped.set()
            elif worker.ready and not self._closed:
                self._task_group.start_soon(self._top_up)

    def _check_open(self) -> None:
        if self._task_group is None:
            raise RuntimeError("WorkerPool is not running: use it as `async with WorkerPool() as pool:`")
        if self._closed:
            raise RuntimeError("WorkerPool is closed")


async def _read_stderr(worker: _WorkerProcess) -> None:
    """Read the worker's stderr to the end, line by line, so the worker never blocks on a full pipe."""
    assert worker.process.stderr is not None
    splitter = LineSplitter(MAX_OUTPUT_LINE_CHARS)
    try:
        async for chunk in worker.process.stderr:
            for line in splitter.feed_bytes(chunk):
                worker.take_stderr_line(line)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass
    for line in splitter.finish():
        worker.take_stderr_line(line)
    worker.stderr_closed.set()


async def _load_result(payload: bytes) -> Any:
    if len(payload) > LOAD_IN_THREAD_BYTES:
        return await anyio.to_thread.run_sync(pickle.loads, payload)
    return pickle.loads(payload)


def _encode_request(
    spec: CallSpec, job_name: str, umask: int | None = None, results: tuple[Path, int] | None = None
) -> bytes:
    # Absolute: the worker runs the call in the job file's folder, not in this process's.
    stored = None if results is None else (os.path.abspath(results[0]), results[1])
    message = (
        "call",
        spec.module,
        spec.function,
        spec.args,
        dict(spec.kwargs),
        str(spec.base_dir),
        job_name,
        umask,
        stored,
        None if spec.cwd is None else str(spec.cwd),
        dict(spec.env) or None,  # expanded by the call kind
    )
    try:
        return encode_message(message)
    except Exception as error:
        raise JobError(f"cannot send the arguments of {spec.target} to a worker process: {error}") from None
