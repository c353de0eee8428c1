"""The engine's recent changes of state, kept for the server's event streams (runner.server.feeds).

One subscription to the engine's events, however many streams read the log, and only while one does: without
a reader the engine makes no event objects. The log keeps the last STATE_LOG_ENTRIES changes; each reader has
a cursor (a sequence number), and a reader that falls further behind than that is told how many it missed.
The log is drained into its bounded deque as the engine publishes, so a stalled reader never makes the
engine's event stream grow.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, NamedTuple

import anyio

from runner.engine.events import Event, StateChanged, Subscription
from runner.model import JobState
from runner.server.previews import cut_text

if TYPE_CHECKING:
    from runner.engine.engine import Engine

STATE_LOG_ENTRIES = 10_000
"""Changes of state kept: 10 s of a busy engine (1,000 changes a second), about 2 MB."""
ERROR_BYTES = 1024
"""An error longer than this is cut in the log: an event says why, the job's detail says all."""


class Change(NamedTuple):
    """One change of state as the log keeps it."""

    job_id: str
    previous: JobState
    state: JobState
    attempt: int
    error: str | None
    at: float
    """time.time() when the log took it: the same moment, give or take the event loop's turn."""
    revision: int
    """The engine's revision when the log took it: at or after the change's own. A stream shows the change
    once the journal has committed that far, as it shows the job (runner.server.server Server.committed_changes)."""
    output_at: int
    """How many lines the job had written when it changed: a stream tells the lines before it first."""


class StateLog:
    """Use `reading()` around a reader's life; `run()` in a task of the server's for as long as it serves."""

    def __init__(self, engine: Engine, capacity: int = STATE_LOG_ENTRIES) -> None:
        self.engine = engine
        self.entries: deque[Change] = deque(maxlen=capacity)
        self.end = 0
        """The sequence number the next change gets (the first ever is 0)."""
        self._readers = 0
        self._wanted = anyio.Event()
        self._subscription: Subscription | None = None

    @property
    def start(self) -> int:
        """The sequence number of the oldest change still kept."""
        return self.end - len(self.entries)

    def open_reader(self) -> int:
        """A new reader's cursor: it reads the changes from now on. Pair with `close_reader`."""
        self._readers += 1
        if self._subscription is None:
            self._subscription = self.engine.subscribe()
            self._wanted.set()
        return self.end

    def close_reader(self) -> None:
        self._readers -= 1
        if not self._readers and self._subscription is not None:
            self._subscription.close()
            self._subscription = None
            self._wanted = anyio.Event()

    async def run(self) -> None:
        """Drain the engine's events into the log while it has readers."""
        while True:
            await self._wanted.wait()
            subscription = self._subscription
            if subscription is None:
                await anyio.sleep(0)  # closed again before this task's turn: wait for the next reader
                continue
            try:
                event = await subscription.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                continue  # the last reader left, or the engine closed its events
            self._take(event, self.engine.revision, time.time())
            self.catch_up()

    def catch_up(self) -> None:
        """Take every event the engine has published so far (a reader does, before it reads: so that what it
        sends of the jobs is never ahead of the changes it sends)."""
        subscription = self._subscription
        if subscription is None:
            return
        revision, now = self.engine.revision, time.time()
        while True:
            try:
                event = subscription.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return
            self._take(event, revision, now)

    def _take(self, event: Event, revision: int, now: float) -> None:
        if isinstance(event, StateChanged):
            lines = event.output_at  # as the job changed: the log may take it after the job wrote more
            error = cut_text(event.error, ERROR_BYTES, keep_end=True)
            change = Change(event.job_id, event.old, event.new, event.attempt, error, now, revision, lines)
            self.entries.append(change)
            self.end += 1

    def since(self, cursor: int, upto_revision: int) -> Iterator[Change]:
        """The kept changes from sequence number `cursor` on (at least `start`), in order, up to the first one
        taken after engine revision `upto_revision`."""
        for change in islice(self.entries, max(cursor - self.start, 0), None):
            if change.revision > upto_revision:
                return
            yield change
