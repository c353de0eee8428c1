"""The mirror's change log answers `changed_since` as a scan of every job would, from its recent entries."""

from __future__ import annotations

import random
from dataclasses import dataclass

from runner.server.change_log import ChangeLog


@dataclass(eq=False)
class FakeView:
    id: str
    order: int
    revision: int = 0


def scan(jobs: dict[str, FakeView], revision: int) -> list[str]:
    return [job.id for job in sorted(jobs.values(), key=lambda job: job.order) if job.revision > revision]


def test_every_question_gets_the_scans_answer_in_load_order() -> None:
    shuffled = random.Random(7)
    jobs = {f"j{n}": FakeView(f"j{n}", order=n) for n in range(50)}
    log = ChangeLog()
    for revision in range(1, 200):
        changed = shuffled.sample(list(jobs.values()), shuffled.randint(1, 12))
        for job in changed:
            job.revision = revision
        log.record(revision, changed, bound=len(jobs))  # type: ignore[arg-type]
        for asked in (-1, 0, revision - 1, revision - 3, revision - 20, revision):
            got = [job.id for job in log.since(asked, jobs)]  # type: ignore[arg-type]
            assert got == scan(jobs, asked), (revision, asked)


def test_it_keeps_no_more_views_than_its_bound_and_scans_for_older_questions() -> None:
    jobs = {f"j{n}": FakeView(f"j{n}", order=n) for n in range(10)}
    log = ChangeLog()
    for revision in range(1, 30):
        job = jobs[f"j{revision % 10}"]
        job.revision = revision
        log.record(revision, [job], bound=4)  # type: ignore[list-item]
    assert len(log._entries) == 4
    assert [job.id for job in log.since(2, jobs)] == scan(jobs, 2)  # type: ignore[arg-type]


def test_jobs_gone_from_the_mirror_are_not_answered() -> None:
    jobs = {name: FakeView(name, order=n, revision=1) for n, name in enumerate(("a", "b"))}
    log = ChangeLog()
    log.record(1, list(jobs.values()), bound=2)  # type: ignore[arg-type]
    del jobs["a"]
    assert [job.id for job in log.since(0, jobs)] == ["b"]  # type: ignore[arg-type]
    log.reset(2)
    assert [job.id for job in log.since(0, jobs)] == ["b"]  # type: ignore[arg-type]
