"""A download's stall limit: an attempt fails once too little data came for `stall_timeout` seconds of active time.

Separate from the job's `timeout` (the whole attempt's active time): a big file may take hours, a stalled one
should not take more than a minute to notice. "Too little" is fewer than STALL_FLOOR bytes, so a server that
trickles a byte a second counts as stalled too. Time while paused does not count (the clock is the attempt's
PauseControl), and neither does waiting for the partial file another attempt writes.
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


class Flow:
    """How much came since the stall clock was last wound, on the attempt's active clock."""

    def __init__(self, pause: PauseControl) -> None:
        self._pause = pause
        self.mark = pause.active_seconds()
        """Active time when STALL_FLOOR bytes had last come (or the clock was wound)."""
        self.since_mark = 0

    def wind(self) -> None:
        """Start counting afresh (a new request goes out)."""
        self.mark = self._pause.active_seconds()
        self.since_mark = 0

    def got(self, size: int) -> None:
        self.since_mark += size
        if self.since_mark >= STALL_FLOOR:
            self.wind()

    def stall_message(self, limit: float) -> str:
        if self.since_mark == 0:
            return f"stalled: no data for {limit:g} s (stall_timeout)"
        return f"stalled: only {self.since_mark} bytes in {limit:g} s (stall_timeout)"


async def watch_stalls(limit: float, pause: PauseControl, work: Callable[[Flow], Awaitable[ResultT]]) -> ResultT:
    """`work(flow)`, cancelled and failed with a retryable JobError once `flow` saw fewer than STALL_FLOOR bytes
    for `limit` seconds of active time; `limit` 0 watches nothing."""
    flow = Flow(pause)
    if limit <= 0:
        return await work(flow)
    stalled = False
    failure: Exception | None = None
    result: ResultT | None = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            nonlocal stalled
            while True:
                await pause.sleep_active(flow.mark + limit)
                if pause.active_seconds() >= flow.mark + limit:
                    stalled = True
                    group.cancel_scope.cancel()
                    return

        group.start_soon(watch)
        try:
            result = await work(flow)
        except Exception as error:  # raised outside the task group, unwrapped
            failure = error
        group.cancel_scope.cancel()
    if stalled:
        raise JobError(flow.stall_message(limit), retryable=True)
    if failure is not None:
        raise failure
    return result  # type: ignore[return-value]  # work returned it
