"""The jobs a host (or a server-wide limit) holds back: a line per lane, each in the order its jobs were held back.

Kept by lane so that offering them again costs a step per lane, not per job: when a job goes back to a lane that
is full, the rest of that lane's line stay here until it has taken that one.
"""

from __future__ import annotations

from collections import deque

from runner.model import Job


class WaitingLine:
    def __init__(self) -> None:
        self._lines: dict[int, deque[Job]] = {}
        """By lane (its id), in the order lanes first held a job back."""

    def __bool__(self) -> bool:
        return bool(self._lines)

    def add(self, job: Job, lane: int, *, first: bool = False) -> None:
        line = self._lines.get(lane)
        if line is None:
            line = self._lines[lane] = deque()
        if first:
            line.appendleft(job)
        else:
            line.append(job)

    def lanes(self) -> list[int]:
        return list(self._lines)

    def first(self, lane: int) -> Job | None:
        line = self._lines.get(lane)
        return line[0] if line else None

    def pop(self, lane: int) -> Job | None:
        line = self._lines.get(lane)
        if not line:
            return None
        job = line.popleft()
        if not line:
            del self._lines[lane]
        return job
