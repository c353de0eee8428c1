"""Bringing a server's decks back after it died: the journal's unfinished runs, loaded again and continued.

Jobs the journal shows finished stay finished; jobs that were running are marked interrupted and queued
again with queued ones (at-least-once: an interrupted job's work may have been partly done, or even done,
before the crash). A run whose file is gone or no longer loads is left as the journal has it, and said so.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from runner.errors import DeckError
from runner.journal.added_jobs import AddedJobs, run_deck
from runner.journal.environments import KeptEnvironments, SubmittedEnvironment, needed_variables
from runner.journal.faults import JournalError, cannot_use_message, is_write_failure
from runner.journal.schema import INTERRUPTED
from runner.journal.store import CUT_SHORT_ATTEMPT, UNRECORDED_ATTEMPT
from runner.kinds.registry import KIND_SPECS
from runner.kinds.save_file import remove_left_part
from runner.kinds.transfer_book import TransferBook
from runner.model import Attempt, Deck, JobState, OutputLine, RestoredJob

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


async def restore_unfinished(
    engine: Engine, journal: Journal, recorder: Recorder, environments: KeptEnvironments | None = None
) -> list[str]:
    """Mark what a dead server left running as interrupted (and record the attempts it started without
    recording them), then load each unfinished run again and continue it in the journal. Returns one line per
    run, for the log and `status`; the first line counts the jobs that run again, each of which says why in its
    attempts and note.

    With `environments`, each run is loaded with the environment it was submitted with; a run whose
    environment is gone (after a reboot) and whose file uses `${VAR}`s waits for one instead (listed in
    `environments.waiting`), and any other runs with the server's environment."""
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
    if environments is not None:
        environments.remove_stale(run.id for run in runs)
    added = AddedJobs.for_journal(journal.path)
    added.remove_stale([added.deck_file(run.id) for run in runs] + [run.path for run in runs])
    for run in runs:
        environment = None if environments is None else environments.files.read(run.id)
        if environments is not None and environment is None:
            variables = await anyio.to_thread.run_sync(needed_variables, run.path)
            variables += [name for name in needed_variables(added.deck_file(run.id)) if name not in variables]
            if variables:
                lines.append(environments.wait(run.name, run.id, run.path, variables, run.unfinished).line())
                continue
        try:
            _name, to_run, again = await continue_run(engine, journal, recorder, run, environment, lines)
        except DeckError as bad:
            lines.append(f"could not restore {run.name} from {run.path}: {bad.problems[0]}")
            continue
        again_total += again
        line = f"restored {run.name} from {run.path}: {to_run} job(s) to run, {again} of them again"
        if again:
            line += " (see each one's attempts)"
        if environments is not None:
            environments.keep(run.name, run.id, environment, on_disk=environment is not None)
            if environment is None:
                line += " with the server's environment (the one it was submitted with was lost at a restart)"
        lines.append(line)
    if again_total:
        lines.insert(
            0,
            f"{again_total} job(s) run again: the previous server ended (a signal, a crash, kill -9) while they "
            "ran or before their end was recorded, so their work may have been done already",
        )
    for line in lines:
        log.info("%s", line)
    return lines


async def continue_run(
    engine: Engine,
    journal: Journal,
    recorder: Recorder,
    run: DeckRun,
    environment: SubmittedEnvironment | None,
    notes: list[str] | None = None,
) -> tuple[str, int, int]:
    """Load an unfinished run's file again (with `environment`; None: the engine's), with the jobs added to it
    from a shell (runner.journal.added_jobs), and continue the run in the journal: its finished jobs stay
    finished, the others run. Returns the deck's name in the engine (the run's, unless a deck of that name was
    loaded meanwhile), how many of its jobs are to run, and how many of those run again after a dead server cut
    them short; DeckError, changing nothing, when the file no longer loads. What could not be brought back of
    the added jobs is said in `notes`."""
    environ = None if environment is None else environment.environ
    umask = None if environment is None else environment.umask
    added = AddedJobs.for_journal(journal.path)
    read = await anyio.to_thread.run_sync(partial(run_deck, added, run.id, run.name, run.path, environ, umask))
    deck = read.deck
    rows = await anyio.to_thread.run_sync(journal.jobs, run.id)
    cut_short = {name for name, row in rows.items() if run_again(row)}
    await anyio.to_thread.run_sync(remove_left_parts, deck, cut_short, engine.transfers)
    restored = {name: restored_job(row) for name, row in rows.items()}
    name, number = run.name, 2
    while name in engine.decks:
        name, number = f"{run.name}#{number}", number + 1
    recorder.continue_run(name, run.id)
    await engine.add_deck(
        replace(deck, name=name), restored=restored, environ=environ, umask=umask, environments=read.environments
    )
    if notes is not None:
        notes.extend(read.problems)
        if read.lost_environments:
            notes.append(
                f"{read.lost_environments} job(s) added to {name} from another shell run with the deck's environment: "
                "their own was lost at a restart"
            )
    to_run = sum(1 for job in restored.values() if not job.state.finished)
    return name, to_run, sum(1 for job_name, row in rows.items() if job_name in restored and run_again(row))


def remove_left_parts(deck: Deck, names: set[str], transfers: TransferBook | None = None) -> None:
    """Remove the partial files the jobs `names` were writing when their server died, unless `transfers` says
    their download can go on from them: each other job that runs again starts its file over. A kept one that is
    never continued (its job cancelled before its turn, say) goes when its deck is forgotten."""
    for spec in deck.jobs:
        if spec.name in names:
            written = KIND_SPECS[spec.kind].written_file(spec.work)
            if written is not None and (transfers is None or transfers.part(written.path) is None):
                remove_left_part(written.path, deck.settings.out_dir)


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
