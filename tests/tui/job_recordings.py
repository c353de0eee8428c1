"""Recorded runs of real decks, for testing the header's estimates against what really happened.

`record` runs a deck on an in-process engine (its fetches against the demo HTTP server) and notes, every
TICK_S, the jobs that changed since the last look, as the dashboard pulls them; `replay` gives them back as
jobs a viewer can read, tick by tick. Times are seconds from the start of the recording.

`record_dashboard` instead runs the demo in the dashboard itself (in a terminal; quit it with `q` once done) and
records what its estimator is given at each pull: in one busy process the dashboard's drawing slows the engine's
reading, so downloads go in fits and starts.

Record again (each takes as long as its deck runs):

    .venv/bin/python -m tests.tui.job_recordings demo tests/tui/recordings/demo.json
    .venv/bin/python -m tests.tui.job_recordings long tests/tui/recordings/long_after_quick.json
    .venv/bin/python -m tests.tui.job_recordings dashboard tests/tui/recordings/demo_dashboard_busy.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from runner.model import Attempt, JobState, Kind, Progress

TICK_S = 0.25
RECORDINGS = Path(__file__).parent / "recordings"

LONG_AFTER_QUICK = """
# The issue's case, shortened: quick jobs finish at first, then a download of 6 MB at about 300 kB/s and two CPU
# jobs of about 20 s (reporting their progress) are left running.
[deck]
name = "long"
fetch_limit = 4
process_limit = 2

[[job]]
name = "quick"
fetch = "${JOBDECK_DEMO_URL}/page/{item}"
each = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]

[[job]]
name = "download"
fetch = "${JOBDECK_DEMO_URL}/bytes/6000000?chunk=30000&delay=0.1"
save = "big.bin"

[[job]]
name = "crunch"
call = "tasks:count_primes"
args = ["{item}", 1_100_000]
each = [0, 1_100_000]
"""


# --- recording -------------------------------------------------------------------------------------------------


def _attempt(attempt: Attempt, t0: float) -> list[Any]:
    def since(value: float | None) -> float | None:
        return None if value is None else round(value - t0, 3)

    outcome = attempt.outcome.value if attempt.outcome is not None else None
    return [
        attempt.number,
        since(attempt.started_at),
        since(attempt.ended_at),
        outcome,
        round(attempt.active_s, 3),
        since(attempt.running_since),
    ]


def _job(job: Any, t0: float) -> list[Any]:
    progress = job.progress
    return [
        job.id,
        job.kind.value,
        job.spec.group,
        list(job.spec.after),
        job.state.value,
        job.finished_seq,
        None if progress is None else [progress.done, progress.total, progress.unit],
        [_attempt(attempt, t0) for attempt in job.attempts],
    ]


async def _record(deck_text: str, folder: Path) -> dict[str, Any]:
    from runner.deck.parser import load_deck
    from runner.demo.server import DemoServer
    from runner.engine.engine import Engine

    source = Path(__file__).resolve().parents[2] / "runner" / "demo"
    (folder / "tasks.py").write_text((source / "tasks.py").read_text())
    path = folder / "deck.toml"
    path.write_text(deck_text)
    with DemoServer(latency=0.05) as server:
        environ = {**os.environ, "JOBDECK_DEMO_URL": server.url}
        deck = load_deck(path, environ=environ)
        ticks: list[list[Any]] = []
        async with Engine(environ=environ) as engine:
            t0 = time.time()
            await engine.add_deck(deck)
            revision = -1
            while True:
                now = time.time()
                changed = engine.changed_since(revision)
                revision = engine.revision
                ticks.append([round(now - t0, 3), [_job(job, t0) for job in changed]])
                if engine.settled:
                    break
                await anyio.sleep(TICK_S)
            ends = [job.attempts[-1].ended_at or 0.0 for job in engine.jobs.values() if job.attempts]
    return {"tick_s": TICK_S, "end": round(max(ends) - t0, 3), "ticks": ticks}


def record_dashboard(out: Path) -> None:
    from runner.demo.server import DemoServer
    from runner.demo.workspace import prepare_workspace
    from runner.engine import estimate
    from tui.app import JobdeckApp

    ticks: list[list[Any]] = []
    pending: dict[str, list[Any]] = {}
    t0 = time.time()
    observe = estimate.Estimator.observe

    def recording_observe(estimator: estimate.Estimator, changed: Any, now: float) -> None:
        changed = list(changed)
        pending.update((job.id, _job(job, t0)) for job in changed)
        if not ticks or now - t0 - ticks[-1][0] >= TICK_S:
            ticks.append([round(now - t0, 3), list(pending.values())])
            pending.clear()
        observe(estimator, changed, now)

    estimate.Estimator.observe = recording_observe  # type: ignore[method-assign]
    workspace = prepare_workspace()
    with DemoServer(latency=0.05) as server:
        os.environ["JOBDECK_DEMO_URL"] = server.url
        from runner.deck.parser import load_deck

        app = JobdeckApp([load_deck(workspace / "demo.toml")], start_dir=workspace)
        app.run()
    assert app.engine is not None
    ends = [job.attempts[-1].ended_at or 0.0 for job in app.engine.jobs.values() if job.attempts]
    recording = {"tick_s": TICK_S, "end": round(max(ends) - t0, 3), "ticks": ticks}
    out.write_text(json.dumps(recording, separators=(",", ":")) + "\n")


def record(name: str, out: Path) -> None:
    if name == "dashboard":
        record_dashboard(out)
        return
    demo = Path(__file__).parents[2] / "runner" / "demo" / "demo.toml"
    deck_text = LONG_AFTER_QUICK if name == "long" else demo.read_text()
    with tempfile.TemporaryDirectory() as folder:
        recording = anyio.run(_record, deck_text, Path(folder))
    out.write_text(json.dumps(recording, separators=(",", ":")) + "\n")


# --- replaying -------------------------------------------------------------------------------------------------


@dataclass
class ReplayedSpec:
    group: str | None
    after: tuple[str, ...]
    retries: int = 0


@dataclass
class ReplayedJob:
    """A recorded job as a viewer reads it (runner.engine.interface.ObservedJob)."""

    id: str
    kind: Kind
    spec: ReplayedSpec
    state: JobState = JobState.QUEUED
    finished_seq: int = 0
    progress: Progress | None = None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def deck(self) -> str:
        return self.id.partition("/")[0]

    @property
    def name(self) -> str:
        return self.id.partition("/")[2]

    @property
    def current_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def attempt_running(self) -> bool:
        attempt = self.current_attempt
        return attempt is not None and attempt.ended_at is None


@dataclass
class Recording:
    end: float
    """When the last job ended."""
    ticks: list[tuple[float, list[list[Any]]]]

    def replay(self) -> Iterator[tuple[float, list[ReplayedJob]]]:
        """Each tick's time and the jobs that changed by then, kept current in place as a live engine does."""
        jobs: dict[str, ReplayedJob] = {}
        for now, changes in self.ticks:
            changed = []
            for job_id, kind, group, after, state, finished_seq, progress, attempts in changes:
                job = jobs.get(job_id)
                if job is None:
                    job = jobs[job_id] = ReplayedJob(job_id, Kind(kind), ReplayedSpec(group, tuple(after)))
                job.state = JobState(state)
                job.finished_seq = finished_seq
                job.progress = None if progress is None else Progress(*progress)
                job.attempts = [
                    Attempt(
                        number=number,
                        started_at=started_at,
                        ended_at=ended_at,
                        outcome=None if outcome is None else JobState(outcome),
                        active_s=active_s,
                        running_since=running_since,
                    )
                    for number, started_at, ended_at, outcome, active_s, running_since in attempts
                ]
                changed.append(job)
            yield now, changed


def load(name: str) -> Recording:
    data = json.loads((RECORDINGS / name).read_text())
    return Recording(end=data["end"], ticks=[(now, changes) for now, changes in data["ticks"]])


if __name__ == "__main__":
    record(sys.argv[1], Path(sys.argv[2]))
