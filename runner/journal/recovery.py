"""Bringing a server's decks back after it died: the journal's unfinished runs, loaded again and continued.

Jobs the journal shows finished stay finished; jobs that were running are marked interrupted and queued
again with queued ones (at-least-once: an interrupted job's work may have been partly done, or even done,
before the crash). A run whose file is gone or no longer loads is left as the journal has it, and said so.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from runner.deck.parser import load_deck
from runner.errors import DeckError
from runner.model import Attempt, JobState, OutputLine, RestoredJob

if TYPE_CHECKING:
    from runner.engine.engine import Engine
    from runner.journal.recorder import Recorder
    from runner.journal.store import DeckRun, Journal

log = logging.getLogger("jobdeck.server")
INTERRUPTED_NOTE = "interrupted when the jobdeck server stopped: queued again"


def restored_job(row: dict[str, Any]) -> RestoredJob:
    """One journal job row as the engine restores it."""
    try:
        state = JobState(row["state"])
    except ValueError:  # "interrupted", which is not an engine state: its work is to be done again
        state = JobState.QUEUED
    tail = row.get("output_tail") or []
    note = None if state.finished or row["state"] == JobState.QUEUED.value else INTERRUPTED_NOTE
    attempts = []
    for attempt in row.get("attempt_list") or []:
        try:
            outcome: JobState | None = JobState(attempt["outcome"])
        except ValueError:  # "interrupted": the attempt was cut short; its error says so
            outcome = None
        started_at, ended_at = attempt["started_at"], attempt["ended_at"]
        attempts.append(
            Attempt(
                number=attempt["number"],
                started_at=started_at,
                ended_at=ended_at,
                outcome=outcome,
                error=attempt["error"],
                # The journal keeps no pauses: an ended attempt's wall time stands for its active time.
                active_s=max(0.0, ended_at - started_at) if ended_at is not None else 0.0,
                worker=attempt.get("worker"),
            )
        )
    return RestoredJob(
        state=state if state.finished else JobState.QUEUED,
        attempts=attempts,
        error=row.get("error") if state.finished else None,
        result=row.get("result"),
        output=[OutputLine(stream, text) for stream, text in tail],
        note=note,
    )


async def restore_unfinished(engine: Engine, journal: Journal, recorder: Recorder) -> list[str]:
    """Mark what a dead server left running as interrupted, then load each unfinished run again and continue
    it in the journal. Returns one line per run, for the log and `status`."""
    interrupted = await anyio.to_thread.run_sync(journal.mark_interrupted)
    runs: list[DeckRun] = await anyio.to_thread.run_sync(journal.unfinished_runs)
    lines: list[str] = []
    if interrupted:
        lines.append(f"{interrupted} job(s) were interrupted by the previous server's end and are queued again")
    for run in runs:
        try:
            deck = await anyio.to_thread.run_sync(load_deck, run.path)
        except DeckError as bad:
            lines.append(f"could not restore {run.name} from {run.path}: {bad.problems[0]}")
            continue
        rows = await anyio.to_thread.run_sync(journal.jobs, run.id)
        restored = {name: restored_job(row) for name, row in rows.items()}
        recorder.continue_run(run.name, run.id)
        await engine.add_deck(replace(deck, name=run.name), restored=restored)
        again = sum(1 for job in restored.values() if not job.state.finished)
        lines.append(f"restored {run.name} from {run.path}: {again} job(s) to run")
    for line in lines:
        log.info("%s", line)
    return lines


def run_to_dict(run: DeckRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "path": run.path,
        "loaded_at": run.loaded_at,
        "counts": dict(run.counts),
        "total": run.total,
        "unfinished": run.unfinished,
    }


def run_jobs_to_list(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One run's job rows (Journal.jobs) as the history view lists them."""
    return [
        {"name": name, "state": row["state"], "attempts": row["attempts"], "error": row["error"]}
        for name, row in rows.items()
    ]
