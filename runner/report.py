"""Plain-data views of jobs and decks: the `--json` report and the one-line summaries."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from runner.model import Job, JobState

RESULT_PREVIEW_CHARS = 200


def json_safe(value: Any) -> Any:
    """The value itself when JSON can carry it unchanged, else its repr."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value


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
    counts = Counter(job.state for job in jobs)
    return ", ".join(f"{counts[state]} {state.value}" for state in JobState if counts[state])
