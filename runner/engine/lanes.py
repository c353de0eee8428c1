"""A lane: the jobs of one deck that share one limit (its fetches, its shell jobs, its worker processes...).

A lane keeps its ready jobs in deck order and counts the places taken. Jobs wait here as plain data, not
as tasks, so a deck of 10,000 jobs costs 10,000 heap entries, and only running jobs have a task.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from runner.model import Job


@dataclass
class Lane:
    size: int
    running: int = 0
    _ready: list[tuple[int, int, Job]] = field(default_factory=list)
    _tickets: dict[str, int] = field(default_factory=dict)
    _next_ticket: int = 0

    def push(self, job: Job) -> None:
        """Make the job ready to start; a job pushed again keeps only its latest place."""
        self._next_ticket += 1
        self._tickets[job.id] = self._next_ticket
        heapq.heappush(self._ready, (job.order, self._next_ticket, job))

    def discard(self, job: Job) -> None:
        """Forget the job's place (it was held back, cancelled or skipped)."""
        self._tickets.pop(job.id, None)

    def pop_startable(self, can_start: Callable[[Job], bool]) -> Job | None:
        """The first ready job in deck order that `can_start` accepts, removed; None when none."""
        while self._ready:
            _order, ticket, job = heapq.heappop(self._ready)
            if self._tickets.get(job.id) != ticket:
                continue  # a stale place: pushed again since, or discarded
            tickets = self._tickets
            del tickets[job.id]
            if not tickets:
                self._tickets = {}  # a dict keeps its peak size: a lane of 100,000 jobs kept 2 MiB once empty
            if can_start(job):
                return job
        return None

    @property
    def has_room(self) -> bool:
        return self.running < self.size
