"""Plain-data views of jobs and decks: the `--json` report and the summary lines people read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from runner.model import Job, JobState
from runner.values import json_safe

RESULT_PREVIEW_CHARS = 200
LISTED_JOBS_PER_DECK = 20
"""The summary names at most this many unsuccessful jobs per deck; `--json` has them all."""
UNSUCCESSFUL_STATES = (JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED)
"""Finished but not succeeded, in the order the summary lists them: the causes first, their consequences last."""
STATE_WIDTH = max(len(state.value) for state in JobState)


def job_report(job: Job) -> dict[str, Any]:
    return {
        "name": job.name,
        "kind": job.kind.value,
        "state": job.state.value,
        "attempts": len(job.attempts),
        "duration_s": None if job.duration_s is None else round(job.duration_s, 3),
        "error": job.error,
        "result": json_safe(job.result) if job.state is JobState.SUCCEEDED else None,
    }


def deck_report(deck: str, jobs: Iterable[Job]) -> dict[str, Any]:
    return {"deck": deck, "jobs": [job_report(job) for job in jobs]}


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


def deck_summary_lines(deck: str, jobs: Iterable[Job], elapsed_s: float) -> list[str]:
    """A line of state totals for the deck, then a line for each job that did not succeed (up to a limit)."""
    deck_jobs = list(jobs)
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
