"""A download's stall limit: an attempt fails once too little data came for `stall_timeout` seconds of active time.

Separate from the job's `timeout` (the whole attempt's active time): a big file may take hours, a stalled one
should not take more than a minute to notice. "Too little" is fewer than STALL_FLOOR bytes, so a server that
trickles a byte a second counts as stalled too. Time while paused does not count, nor time jobdeck itself was
frozen (the clock is the attempt's PauseControl), nor waiting for the partial file another attempt writes.

One `StallWatch` task per fetch kind looks at every running download a few times a second, rather than a task
per download: a task group and a timer per fetch cost about half a millisecond each (measured), which 1,500
small fetches at once would pay on the event loop that runs them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from runner.errors import JobError
from runner.pausing import PauseControl

ResultT = TypeVar("ResultT")
STALL_FLOOR = 1024
"""Bytes that must come within each stall_timeout for a download to count as moving."""
LOOK_EVERY_S = 0.1
"""How often the watch looks at the running downloads (so a stall is noticed up to this late)."""


class Flow:
    """How much came since the stall clock was last wound, on the attempt's active clock."""

    def __init__(self, pause: PauseControl, limit: float) -> None:
        self._pause = pause
        self.limit = limit
        self.mark = pause.active_seconds()
        """Active time when STALL_FLOOR bytes had last come (or the clock was wound)."""
        self.since_mark = 0
        self.stalled = False
        self.scope: anyio.CancelScope | None = None

    def wind(self) -> None:
        """Start counting afresh (a new request goes out)."""
        self.mark = self._pause.active_seconds()
        self.since_mark = 0

    def got(self, size: int) -> None:
        self.since_mark += size
        if self.since_mark >= STALL_FLOOR:
            self.wind()

    def look(self) -> None:
        """Cancel the download if it has stalled."""
        if self.scope is not None and not self.stalled and self._pause.active_seconds() >= self.mark + self.limit:
            self.stalled = True
            self.scope.cancel()

    def stall_message(self) -> str:
        if self.since_mark == 0:
            return f"stalled: no data for {self.limit:g} s (stall_timeout)"
        return f"stalled: only {self.since_mark} bytes in {self.limit:g} s (stall_timeout)"


class StallWatch:
    """Looks at the downloads being watched every LOOK_EVERY_S while there are any; `run` it in a task."""

    def __init__(self) -> None:
        self._flows: set[Flow] = set()
        self._some: anyio.Event | None = None
        self.running = False

    async def run(self) -> None:
        self.running = True
        try:
            while True:
                if not self._flows:
                    self._some = anyio.Event()
                    await self._some.wait()
                await anyio.sleep(LOOK_EVERY_S)
                for flow in list(self._flows):
                    flow.look()
        finally:
            self.running = False

    async def watch(self, limit: float, pause: PauseControl, work: Callable[[Flow], Awaitable[ResultT]]) -> ResultT:
        """`work(flow)`, cancelled and failed with a retryable JobError once `flow` saw fewer than STALL_FLOOR bytes
        for `limit` seconds of active time; `limit` 0 watches nothing. Without `run` going, a task of its own
        watches this one download."""
        flow = Flow(pause, limit)
        if limit <= 0:
            return await work(flow)
        if not self.running:
            return await _watch_alone(flow, work)
        try:
            with anyio.CancelScope() as scope:
                flow.scope = scope
                self._flows.add(flow)
                if self._some is not None:
                    self._some.set()
                try:
                    result = await work(flow)
                finally:
                    self._flows.discard(flow)
        except Exception:
            if flow.stalled:
                raise JobError(flow.stall_message(), retryable=True) from None
            raise
        if scope.cancelled_caught:  # only the watch cancels this scope
            raise JobError(flow.stall_message(), retryable=True)
        return result


async def _watch_alone(flow: Flow, work: Callable[[Flow], Awaitable[ResultT]]) -> ResultT:
    result: ResultT | None = None
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        flow.scope = group.cancel_scope

        async def watch() -> None:
            while not flow.stalled:
                await anyio.sleep(LOOK_EVERY_S)
                flow.look()

        group.start_soon(watch)
        try:
            result = await work(flow)
        except Exception as error:  # raised outside the task group, unwrapped
            failure = error
        group.cancel_scope.cancel()
    if flow.stalled:
        raise JobError(flow.stall_message(), retryable=True)
    if failure is not None:
        raise failure
    return result  # type: ignore[return-value]  # work returned it
