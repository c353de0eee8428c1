"""Which mirrored jobs changed at each of the mirror's recent revisions, so that `changed_since` costs in
proportion to the changes rather than to the deck.

A dashboard asks for the jobs changed since its last look ten times a second; with 10,000 jobs mirrored, a scan
of all of them (and the sort by load order after it) was the largest part of each look. The log keeps no more
entries than there are jobs: an older revision than it reaches gets the scan, which is still correct.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from runner.server.views import JobView


class ChangeLog:
    def __init__(self) -> None:
        self._entries: deque[tuple[int, list[JobView]]] = deque()
        self._logged = 0
        """How many views the entries hold together."""
        self._complete_after = 0
        """The log has every change made after this revision."""

    def record(self, revision: int, changed: Iterable[JobView], *, bound: int) -> None:
        """The views changed at `revision` (higher than any recorded before); entries beyond `bound` views in all
        are dropped, oldest first."""
        views = list(changed)
        if not views:
            return
        self._entries.append((revision, views))
        self._logged += len(views)
        while self._logged > max(bound, len(views)) and len(self._entries) > 1:
            dropped, gone = self._entries.popleft()
            self._logged -= len(gone)
            self._complete_after = dropped

    def reset(self, revision: int) -> None:
        """Changes not recorded happened up to `revision` (jobs dropped, say): older questions need the scan."""
        self._entries.clear()
        self._logged = 0
        self._complete_after = revision

    def since(self, revision: int, jobs: Mapping[str, JobView]) -> list[JobView]:
        """The jobs changed after `revision`, in load order, each once."""
        if revision < self._complete_after:
            changed: Iterable[JobView] = (job for job in jobs.values() if job.revision > revision)
        else:
            found: dict[str, JobView] = {}
            for logged_at, views in reversed(self._entries):
                if logged_at <= revision:
                    break
                for view in views:
                    found[view.id] = view
            changed = (view for view in found.values() if jobs.get(view.id) is view)
        return sorted(changed, key=_load_order)


def _load_order(job: JobView) -> int:
    return job.order
