"""Worker threads of jobdeck's own for thread call jobs, cheaper per call than `anyio.to_thread.run_sync`.

anyio's hand-off costs the event loop a checkpoint, a capacity limiter, a cancel scope and a wake-up for each
call that ends. Here a call is a `ThreadCall` put on a queue that idle workers take from (a worker is started
when none is idle; one idle for IDLE_TIMEOUT_S leaves); what the threads tell the event loop (a call's end, a
job's progress) goes into one queue, emptied by a single wake-up for everything that came meanwhile.

How many calls run at once is the engine's business (its per-deck thread lanes): every call submitted gets a
thread at once. Cancelling the task that waits for a call does not stop its thread: the call is told
(`ThreadCall.cancelled`, which a job's `checkpoint()` reads) and the task waits, shielded, for it to end.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio

from runner.kinds.loop_bell import LoopBell

IDLE_TIMEOUT_S = 10.0
"""A worker thread with nothing to do for this long ends (as anyio's do)."""


class ThreadCall:
    """One call of `function` on a worker thread, and what its thread and the event loop share about it."""

    __slots__ = ("_calls", "_waiter", "cancelled", "ended", "error", "function", "result")

    def __init__(self, calls: ThreadCalls, function: Callable[[], Any]) -> None:
        self._calls = calls
        self.function = function
        self.cancelled = False
        """Set on the event loop once the waiting task was cancelled; read by the call's thread."""
        self.ended = False
        self.result: Any = None
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def send(self, callback: Callable[..., object], *args: Any) -> None:
        """From the call's thread: run `callback(*args)` on the event loop, before the call's end is known there."""
        self._calls._tell_loop(callback, args)

    def _run(self) -> None:
        """On a worker thread."""
        try:
            self.result = self.function()
        except BaseException as error:  # handed back whole to the waiting task
            self.error = error

    def _end(self) -> None:
        """On the event loop."""
        self.ended = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class ThreadCalls:
    """The worker threads; `async with` it on the event loop that awaits the calls."""

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[ThreadCall | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        """Workers waiting for work that no submitted call has claimed yet (under _lock)."""
        self._workers = 0
        self._told: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._wake_up_sent = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bell: LoopBell | None = None
        self._closed = False

    async def __aenter__(self) -> ThreadCalls:
        self._loop = asyncio.get_running_loop()
        self._bell = LoopBell(self._loop, self._hear)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Idle workers end now, busy ones after their call (their threads are daemons: a call that never
        returns does not keep jobdeck's process alive)."""
        with self._lock:
            self._closed = True
            workers, self._workers, self._idle = self._workers, 0, 0
        for _ in range(workers):
            self._work.put(None)
        if self._bell is not None:
            self._bell.close()  # calls still running end unheard: nobody waits for them any more

    @property
    def workers(self) -> int:
        return self._workers

    async def run(self, call: ThreadCall) -> Any:
        """Run `call` on a worker thread and return what it returned (or raise what it raised). When the waiting
        task is cancelled, the call is marked cancelled and waited for, then the cancellation goes on."""
        loop = self._loop
        assert loop is not None, "ThreadCalls used outside its `async with`"
        waiter = call._waiter = loop.create_future()
        self._submit(call)
        try:
            await waiter
        except anyio.get_cancelled_exc_class():
            call.cancelled = True
            with anyio.CancelScope(shield=True):
                while not call.ended:
                    waiter = call._waiter = loop.create_future()
                    await waiter
            raise
        if call.error is not None:
            error, call.error = call.error, None  # no reference cycle through its traceback
            raise error
        return call.result

    def _submit(self, call: ThreadCall) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("thread calls submitted after their pool closed")
            if self._idle:
                self._idle -= 1
                start = False
            else:
                self._workers += 1
                start = True
        self._work.put(call)
        if start:
            threading.Thread(target=self._serve, name="jobdeck-thread-job", daemon=True).start()

    def _serve(self) -> None:
        """A worker thread: run calls until told to end, or idle for IDLE_TIMEOUT_S."""
        work = self._work
        while True:
            try:
                call = work.get(timeout=IDLE_TIMEOUT_S)
            except queue.Empty:
                with self._lock:
                    if not self._idle:
                        continue  # a call was just given to the idle workers: it is on its way
                    self._idle -= 1
                    self._workers -= 1
                return
            if call is None:  # closed: the counts were reset then
                return
            contextvars.Context().run(call._run)  # a fresh context: what a job sets stays with it
            with self._lock:
                self._idle += 1  # before the end is told: the next call the loop hands out then finds this worker
            self._tell_loop(call._end, ())

    def _tell_loop(self, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        """From a worker thread: queue `callback(*args)` for the event loop, waking it only if no wake-up is
        on its way (the loop clears the flag before it empties the queue, so nothing queued is left behind)."""
        self._told.append((callback, args))
        if not self._wake_up_sent:
            self._wake_up_sent = True
            assert self._bell is not None
            self._bell.ring()

    def _hear(self) -> None:
        """On the event loop: everything the threads told since the last wake-up, in the order told."""
        assert self._bell is not None
        self._bell.quiet()  # first: a ring from now on wakes the loop again
        self._wake_up_sent = False
        told = self._told
        while told:
            callback, args = told.popleft()
            callback(*args)
