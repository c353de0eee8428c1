"""Which pane each job belongs in, and in what order: the dashboard's model, kept apart from widgets.

Queued and Running keep deck (load) order; Finished has the job that finished last on top, in a dashboard
started with a file as in one attached to jobs that finished long ago. The model is updated
from the jobs that changed since the last pull, so a tick costs in proportion to the changes, not the deck.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from runner.engine.interface import ObservedJob
from runner.model import JobState


class Pane(Enum):
    QUEUED = "Queued"
    RUNNING = "Running"
    FINISHED = "Finished"


def pane_of(job: ObservedJob) -> Pane:
    if job.state.finished:
        return Pane.FINISHED
    if job.state is JobState.RUNNING or (job.state is JobState.PAUSED and job.attempt_running):
        return Pane.RUNNING
    return Pane.QUEUED


def in_pane(pane: Pane, job: ObservedJob) -> bool:
    return pane_of(job) is pane


def _sort_key(pane: Pane) -> Callable[[ObservedJob], int]:
    if pane is Pane.FINISHED:
        return lambda job: -job.finished_seq
    return lambda job: job.order


def matches(job: ObservedJob, text: str) -> bool:
    """The filter: a case-insensitive part of the job's name, or its state's name."""
    needle = text.lower()
    return needle in job.name.lower() or job.state.value.startswith(needle) or needle in job.deck.lower()


@dataclass
class PaneRows:
    """One pane's visible jobs, kept sorted by the pane's key."""

    pane: Pane
    jobs: list[ObservedJob] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)

    def insert(self, job: ObservedJob, key: int) -> None:
        index = bisect.bisect_right(self.keys, key)
        self.keys.insert(index, key)
        self.jobs.insert(index, job)

    def index(self, job_id: str, key: int) -> int | None:
        """Where the job sorted by `key` sits, found by bisection (not a scan of thousands of rows)."""
        index = bisect.bisect_left(self.keys, key)
        while index < len(self.jobs) and self.keys[index] == key:
            if self.jobs[index].id == job_id:
                return index
            index += 1
        return None

    def remove(self, job: ObservedJob, key: int) -> None:
        index = self.index(job.id, key)
        if index is not None:
            del self.jobs[index]
            del self.keys[index]


class PaneModel:
    def __init__(self) -> None:
        self.rows = {pane: PaneRows(pane) for pane in Pane}
        self.filter_text = ""
        self._placed: dict[str, tuple[Pane, int]] = {}
        """Where each visible job sits now: its pane and the key it was sorted by."""
        self._all: dict[str, ObservedJob] = {}

    def apply(self, changed: Iterable[ObservedJob]) -> set[Pane]:
        """Move changed jobs to their panes; returns the panes whose rows (membership or order) changed."""
        touched: set[Pane] = set()
        for job in changed:
            self._all[job.id] = job
            pane = pane_of(job)
            key = _sort_key(pane)(job)
            visible = not self.filter_text or matches(job, self.filter_text)
            placed = self._placed.get(job.id)
            if placed == (pane, key) and visible:
                continue
            if placed is not None:
                self.rows[placed[0]].remove(job, placed[1])
                touched.add(placed[0])
                del self._placed[job.id]
            if visible:
                self.rows[pane].insert(job, key)
                self._placed[job.id] = (pane, key)
                touched.add(pane)
        return touched

    def drop_decks(self, decks: set[str]) -> set[Pane]:
        """Take the jobs of these (forgotten) decks out; returns the panes that changed."""
        touched: set[Pane] = set()
        for job_id, job in list(self._all.items()):
            if job.deck not in decks:
                continue
            del self._all[job_id]
            placed = self._placed.pop(job_id, None)
            if placed is not None:
                self.rows[placed[0]].remove(job, placed[1])
                touched.add(placed[0])
        return touched

    def set_filter(self, text: str) -> None:
        """Show only jobs matching `text` (all jobs when empty); rebuilds every pane."""
        self.filter_text = text
        self.rows = {pane: PaneRows(pane) for pane in Pane}
        self._placed.clear()
        self.apply(sorted(self._all.values(), key=lambda job: job.order))

    def index_of(self, pane: Pane, job_id: str) -> int | None:
        """The job's row in the pane, None when it is not shown there."""
        placed = self._placed.get(job_id)
        if placed is None or placed[0] is not pane:
            return None
        return self.rows[pane].index(job_id, placed[1])

    def count(self, pane: Pane) -> int:
        return len(self.rows[pane].jobs)
