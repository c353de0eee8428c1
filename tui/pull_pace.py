"""How often the timer pulls the engine's changes: ten times a second, fewer while a thousand jobs a second change.

A busy pull re-sorts the panes and redraws all three, which takes 20-30 ms on a small machine; ten a second
took a third of the event loop that also runs the jobs, so a run of tiny jobs in the dashboard took 1.3-1.9x
as long as without it. While pulls bring many changes, the next timer pull waits until the last one (and its
frame) has had BUSY_SHARE of the time since it began, at most BUSY_MAX_INTERVAL_S: three or more redraws a
second, which is as fast as anyone reads a pane of moving rows. A key's own redraw is never held back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

BUSY_CHANGES = 50
"""Jobs changed since the pull before: a pull bringing fewer keeps the timer's pace."""
BUSY_SHARE = 0.1
"""The share of the time a busy dashboard spends pulling and drawing."""
BUSY_MAX_INTERVAL_S = 0.3


class PullPace:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._not_before = 0.0

    def due(self) -> bool:
        """Whether the timer's pull should run now."""
        return self._clock() >= self._not_before

    def busy_pull(self, started: float) -> None:
        """A busy pull that began at `started` has been drawn: the next one waits for its share."""
        cost = self._clock() - started
        self._not_before = started + min(cost / BUSY_SHARE, BUSY_MAX_INTERVAL_S)

    def quiet_pull(self) -> None:
        self._not_before = 0.0
