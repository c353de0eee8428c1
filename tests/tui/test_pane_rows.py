"""The pane model finds a job's row by bisection, also among jobs sorted alike (two decks' first jobs)."""

from __future__ import annotations

from dataclasses import dataclass

from runner.model import JobState
from tui.panes import Pane, PaneModel


@dataclass(eq=False)
class Row:
    id: str
    order: int
    state: JobState = JobState.QUEUED
    deck: str = "d"
    name: str = ""
    attempt_running: bool = False
    finished_seq: int = 0


def test_index_of_finds_each_job_where_it_is_shown_and_nowhere_else() -> None:
    jobs = [Row(f"{deck}:{n}", order=n, deck=deck) for n in range(5) for deck in ("a", "b")]
    model = PaneModel()
    model.apply(jobs)  # type: ignore[arg-type]
    queued = model.rows[Pane.QUEUED].jobs
    for job in jobs:
        index = model.index_of(Pane.QUEUED, job.id)
        assert index is not None and queued[index] is job
    moved = jobs[3]
    moved.state, moved.finished_seq = JobState.SUCCEEDED, 1
    model.apply([moved])  # type: ignore[list-item]
    assert model.index_of(Pane.QUEUED, moved.id) is None
    assert model.index_of(Pane.FINISHED, moved.id) == 0
    assert model.index_of(Pane.QUEUED, "nobody") is None
    assert [job.id for job in model.rows[Pane.QUEUED].jobs] == [job.id for job in jobs if job is not moved]
