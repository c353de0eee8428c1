"""Plain-data views of jobs and decks: the `--json` report and the summary lines people read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.hosts.waiting import waiting_for
from runner.model import Job, JobState
from runner.values import json_safe

RESULT_PREVIEW_CHARS = 200
LISTED_JOBS_PER_DECK = 20
"""The summary names at most this many unsuccessful jobs per deck; `--json` has them all."""
UNSUCCESSFUL_STATES = (JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED)
"""Finished but not succeeded, in the order the summary lists them: the causes first, their consequences last."""
STATE_WIDTH = max(len(state.value) for state in JobState)
RESULT_STATES = (JobState.SUCCEEDED, JobState.FAILED)
"""A job reports its result in these states: a succeeded job's value, and what a failed one still says (a shell
job's exit code; a failed call has none)."""


def job_report(job: Job) -> dict[str, Any]:
    waiting = waiting_for(job.state.value, job.note)
    row = {
        "name": job.name,
        "kind": job.kind.value,
        "state": job.state.value,
        "attempts": len(job.attempts),
        "duration_s": None if job.duration_s is None else round(job.duration_s, 3),
        "error": job.error,
        "result": json_safe(job.result) if job.state in RESULT_STATES else None,
    }
    if waiting is not None:
        row["waiting"] = waiting  # queued, held back by its host or a server-wide limit: "host busy", "pacing"...
    return row


def deck_object(
    deck: str,
    path: str,
    counts: dict[str, int],
    span: tuple[float | None, float | None],
    jobs: list[dict[str, Any]],
    **more: Any,
) -> dict[str, Any]:
    """A deck as `run --json` and `status --json` both show it (README, "The JSON of run and status"): its name,
    file, how many jobs are in each state, when its first attempt started and (once every job has finished) when
    its last one ended, anything more the caller has to say of it (`note`), and its jobs, each a `job_report`."""
    started_at, ended_at = span
    return {
        "deck": deck,
        "path": path,
        "counts": counts,
        "started_at": started_at,
        "ended_at": ended_at,
        **more,
        "jobs": jobs,
    }


def state_counts(jobs: Iterable[Job]) -> dict[str, int]:
    """How many of the jobs are in each state, in JobState's order; states with none are left out."""
    counts = Counter(job.state for job in jobs)
    return {state.value: counts[state] for state in JobState if counts[state]}


def deck_span(jobs: Iterable[Job]) -> tuple[float | None, float | None]:
    """When the jobs' first attempt started, and when their last one ended if every job has finished (wall-clock
    seconds, as time.time(); None when not known)."""
    started: float | None = None
    ended: float | None = None
    finished = True
    for job in jobs:
        finished = finished and job.state.finished
        if job.attempts:
            first, last = job.attempts[0].started_at, job.attempts[-1].ended_at
            started = first if started is None else min(started, first)
            if last is not None:
                ended = last if ended is None else max(ended, last)
    return (
        None if started is None else round(started, 3),
        round(ended, 3) if finished and ended is not None else None,
    )


def deck_report(
    deck: str,
    jobs: Iterable[Job],
    *,
    path: str | Path,
    earlier: Mapping[str, dict[str, Any]] | None = None,
    order: Sequence[str] = (),
) -> dict[str, Any]:
    """The deck object of `run --json`. `earlier`: by name, the objects of the jobs that did not run because they
    had succeeded in an earlier run (`run --resume`); every job is listed in `order` (the deck's), if given."""
    ran = list(jobs)
    objects = [job_report(job) for job in ran]
    counts = state_counts(ran)
    if earlier:
        succeeded = JobState.SUCCEEDED.value
        counts[succeeded] = counts.get(succeeded, 0) + len(earlier)
        counts = {state.value: counts[state.value] for state in JobState if counts.get(state.value)}
        by_name = {**earlier, **{job["name"]: job for job in objects}}
        objects = [by_name.pop(name) for name in order if name in by_name] + list(by_name.values())
    return deck_object(deck, str(path), counts, deck_span(ran), objects)


def preview_result(value: Any) -> str:
    """A one-line, truncated rendering of a call's result."""
    text = repr(value).replace("\n", " ")
    if len(text) > RESULT_PREVIEW_CHARS:
        text = text[: RESULT_PREVIEW_CHARS - 1] + "…"
    return text


def state_counts_text(jobs: Iterable[Job]) -> str:
    """E.g. `3 succeeded, 1 failed`; `no jobs` for an empty deck."""
    counts = Counter(job.state for job in jobs)
    return ", ".join(f"{counts[state]} {state.value}" for state in JobState if counts[state]) or "no jobs"


def last_error_output(job: Job) -> str | None:
    """The last non-blank line the job wrote to stderr, when its error message does not already say it."""
    for line in reversed(job.output):
        text = line.text.strip()
        if line.stream == "stderr" and text:
            return None if job.error and text in job.error else text
    return None


def reason(job: Job) -> str | None:
    """Why the job is in its state, unless its error only repeats the state (a plain `cancelled`)."""
    return job.error if job.error and job.error != job.state.value else None


def unsuccessful_job_line(job: Job) -> str:
    """E.g. `  failed    nightly/home (attempt 3): HTTP 503 | stderr: connection refused`."""
    text = f"  {job.state.value:<{STATE_WIDTH}} {job.id}"
    if job.attempts:
        text += f" (attempt {len(job.attempts)})"
    why = reason(job)
    if why:
        text += f": {why}"
    detail = last_error_output(job) if job.state is JobState.FAILED else None
    if detail:
        text += f" | stderr: {detail}"
    return text


def deck_summary_lines(deck: str, jobs: Iterable[Job], elapsed_s: float, *, earlier: int = 0) -> list[str]:
    """A line of state totals for the deck, then a line for each job that did not succeed (up to a limit).
    `earlier`: how many more jobs had succeeded in an earlier run and were not run again (`run --resume`)."""
    deck_jobs = list(jobs)
    if earlier:
        counts = Counter(job.state for job in deck_jobs)
        counts[JobState.SUCCEEDED] += earlier
        totals = ", ".join(f"{counts[state]} {state.value}" for state in JobState if counts[state])
        lines = [f"{deck}: {totals} in {elapsed_s:.1f} s ({earlier} of them in an earlier run, not run again)"]
    else:
        lines = [f"{deck}: {state_counts_text(deck_jobs)} in {elapsed_s:.1f} s"]
    unsuccessful = sorted(
        (job for job in deck_jobs if job.state in UNSUCCESSFUL_STATES),
        key=lambda job: UNSUCCESSFUL_STATES.index(job.state),
    )
    lines += [unsuccessful_job_line(job) for job in unsuccessful[:LISTED_JOBS_PER_DECK]]
    if len(unsuccessful) > LISTED_JOBS_PER_DECK:
        hidden = len(unsuccessful) - LISTED_JOBS_PER_DECK
        lines.append(f"  … and {hidden} more that did not succeed (run with --json to see every job)")
    return lines
