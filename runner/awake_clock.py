"""Time during which this process could run: the monotonic clock minus the spans it was seen frozen.

A process stopped with SIGSTOP (a Ctrl-Z, a debugger, a paused container or VM) or whose event loop was
blocked cannot look at its jobs, yet the monotonic clock runs on. A job's timeout counts only time jobdeck
could watch, as it counts only time the job was not paused: a job is not failed for seconds nobody could see,
and a job that ended during the freeze is judged by how it ended.

`watch_awake_time` (a task the engine runs) notes the time every TICK_S; a gap much longer than that is a
freeze, and its excess over the tick is taken out of `AWAKE.now()`. A freeze still being noticed (the task
has not run yet since the process woke) is taken out already, so no reader sees it counted and then removed.
The clock is one per process, since it is the whole process that gets stopped.
"""

from __future__ import annotations

import time

import anyio

TICK_S = 0.25
FREEZE_ALLOWANCE_S = 0.75
"""How much later than due a tick may come without counting as a freeze (a busy machine is slow to schedule)."""


class AwakeClock:
    def __init__(self) -> None:
        self._lost = 0.0
        self._last_tick: float | None = None
        self._watchers = 0

    def now(self) -> float:
        """Seconds on a monotonic clock that stands still while the process is frozen (as far as seen)."""
        moment = time.monotonic()
        return moment - self._lost - self._unseen(moment)

    @property
    def lost_seconds(self) -> float:
        """All the time this process was seen frozen so far."""
        return self._lost + self._unseen(time.monotonic())

    def _unseen(self, moment: float) -> float:
        if not self._watchers or self._last_tick is None:
            return 0.0
        return max(0.0, moment - self._last_tick - TICK_S - FREEZE_ALLOWANCE_S)

    def tick(self) -> None:
        moment = time.monotonic()
        self._lost += self._unseen(moment)
        self._last_tick = moment

    async def watch(self) -> None:
        """Note the time every TICK_S until cancelled; several watchers (engines) may share the clock."""
        if not self._watchers:
            self._last_tick = time.monotonic()  # the time no one watched before is not a freeze
        self._watchers += 1
        try:
            while True:
                await anyio.sleep(TICK_S)
                self.tick()
        finally:
            self._watchers -= 1


AWAKE = AwakeClock()


async def watch_awake_time() -> None:
    await AWAKE.watch()
