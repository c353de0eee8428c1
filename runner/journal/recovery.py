"""Bringing a server's decks back after it died: the journal's unfinished runs, loaded again and continued.

Jobs the journal shows finished stay finished; jobs that were running are marked interrupted and queued
again with queued ones (at-least-once: an interrupted job's work may have been partly done, or even done,
before the crash). A run whose file is gone or no longer loads is left as the journal has it, and said so.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from runner.deck.parser import load_deck
from runner.errors import DeckError
from runner.journal.faults import JournalError, cannot_use_message, is_write_failure
from runner.journal.schema import INTERRUPTED
from runner.journal.store import CUT_SHORT_ATTEMPT, UNRECORDED_ATTEMPT
from runner.model import Attempt, JobState, OutputLine, RestoredJob

if TYPE_CHECKING:
    from runner.engine.engine import Engine
    from runner.journal.recorder import Recorder
    from runner.journal.store import DeckRun, Journal

log = logging.getLogger("jobdeck.server")
INTERRUPTED_NOTE = "interrupted when the jobdeck server stopped: queued again"
RUN_AGAIN_NOTE = "run again as attempt #{number}: attempt #{last} {why}"
"""The note of a job whose last recorded attempt a dead server cut short (or started without recording it)."""


def restored_job(row: dict[str, Any]) -> RestoredJob:
    """One journal job row as the engine restores it."""
    try:
        state = JobState(row["state"])
    except ValueError:  # "interrupted", which is not an engine state: its work is to be done again
        state = JobState.QUEUED
    tail = row.get("output_tail") or []
    note = None if state.finished or row["state"] == JobState.QUEUED.value else INTERRUPTED_NOTE
    if note is not None and run_again(row):
        last = row["attempt_list"][-1]
        error = str(last["error"])
        if error == CUT_SHORT_ATTEMPT:
            why = f"was {error}"
        else:
            why = error if error == UNRECORDED_ATTEMPT else f"ended: {error}"
        note = RUN_AGAIN_NOTE.format(number=last["number"] + 1, last=last["number"], why=why)
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


def run_again(row: dict[str, Any]) -> bool:
    """Whether a journal row is of a job that runs again because a dead server cut its last attempt short, or
    started it without recording it: the work may have been done (at least once)."""
    attempts = row.get("attempt_list") or []
    return bool(attempts) and attempts[-1]["outcome"] == INTERRUPTED and row["state"] == INTERRUPTED


async def restore_unfinished(engine: Engine, journal: Journal, recorder: Recorder) -> list[str]:
    """Mark what a dead server left running as interrupted (and record the attempts it started without
    recording them), then load each unfinished run again and continue it in the journal. Returns one line per
    run, for the log and `status`; the first line counts the jobs that run again, each of which says why in its
    attempts and note."""
    try:
        await anyio.to_thread.run_sync(journal.mark_interrupted)
        if recorder.starts is not None and recorder.starts.left:
            await anyio.to_thread.run_sync(journal.record_unrecorded_starts, recorder.starts.left)
    except sqlite3.Error as failed:
        if not is_write_failure(failed):
            raise
        # Restoring needs to write: a server that cannot is refused with what to do, never half started.
        raise JournalError(cannot_use_message(journal.path, failed)) from None
    runs: list[DeckRun] = await anyio.to_thread.run_sync(journal.unfinished_runs)
    lines: list[str] = []
    again_total = 0
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
        to_run = sum(1 for job in restored.values() if not job.state.finished)
        again = sum(1 for name, row in rows.items() if name in restored and run_again(row))
        again_total += again
        lines.append(
            f"restored {run.name} from {run.path}: {to_run} job(s) to run, {again} of them again "
            "(see each one's attempts)"
        )
    if again_total:
        lines.insert(
            0,
            f"{again_total} job(s) run again: the previous server stopped (kill -9, a crash) while they ran or "
            "before their end was recorded, so their work may have been done already",
        )
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
