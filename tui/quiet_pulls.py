"""A dashboard whose jobs have all finished stops pulling until the engine changes.

The timer pulls the engine's changes ten times a second. With nothing changing, each pull finds nothing, yet
the timer's ticks alone took 0.7% of a core (headless) and an attached dashboard in a terminal 0.9-1.5%
(bench/bench_push.py, idle). So once every job has finished (no running clock in a row, no ETA counting down)
and nothing has changed for QUIET_AFTER_S, the timer stops, and a worker waits for the engine's next change,
or QUIET_LOOK_S at most; then the timer runs again. What changes with no change of the engine (the header's
rate, which counts the jobs finished in its last minute; a Dask cluster's line) is brought up to date that
often meanwhile. A key's command pulls by itself, and a detail screen has its own timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
from textual.app import App
from textual.timer import Timer

from runner.engine.interface import EngineInterface

QUIET_AFTER_S = 2.0
"""How long nothing must have changed before the timer stops."""
QUIET_LOOK_S = 5.0
"""The longest a stopped timer stays stopped."""


class QuietPulls:
    def __init__(
        self,
        app: App[object],
        interval: float,
        pull: Callable[[], None],
        engine: Callable[[], EngineInterface | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = app
        self._interval = interval
        self._pull = pull
        self._engine = engine
        self._clock = clock
        self._timer: Timer | None = None
        self._revision = -1
        self._changed_at = clock()
        self.quiet = False
        """Whether the timer is stopped, waiting for a change."""

    def start(self) -> None:
        self._timer = self._app.set_interval(self._interval, self._tick)

    def _tick(self) -> None:
        self._pull()
        engine = self._engine()
        if engine is None:
            return
        now = self._clock()
        if engine.revision != self._revision:
            self._revision, self._changed_at = engine.revision, now
        elif now - self._changed_at >= QUIET_AFTER_S and _all_finished(engine) and engine.lost is None:
            self._go_quiet(engine)

    def _go_quiet(self, engine: EngineInterface) -> None:
        assert self._timer is not None
        self._timer.pause()
        self.quiet = True
        self._app.run_worker(self._until_changed(engine, self._revision), group="quiet-pulls", exclusive=True)

    async def _until_changed(self, engine: EngineInterface, revision: int) -> None:
        with anyio.move_on_after(QUIET_LOOK_S):
            await engine.wait_for_change(revision)
        self.quiet = False
        assert self._timer is not None
        self._timer.reset()  # ticks again from now on
        self._tick()


def _all_finished(engine: EngineInterface) -> bool:
    return all(state.finished or count == 0 for state, count in engine.counts().items())
