"""The status a page at a time: the decks, then each deck's job rows, each page well inside a frame.

A page is cut by its size in bytes of JSON, not by a count, and a job's large result travels as a preview
(runner.server.previews), so the status of any number of jobs, with results of any size, always fits.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import replace
from typing import Any

import anyio
import anyio.to_thread

from runner.engine.engine import Engine
from runner.engine.estimate import eta_of
from runner.errors import CommandError
from runner.model import Deck, Job, JobState
from runner.report import deck_span, job_report, state_counts
from runner.server.messages import DeckStatus
from runner.server.previews import LINE_BYTES, cut_text, json_bytes, preview_result
from runner.server.protocol import SNAPSHOT_BYTES, TEXT_FIELD_BYTES

PAGE_BYTES = SNAPSHOT_BYTES
DECK_BYTES_MARGIN = 64 * 1024
"""Room left in a status page for the server's own description."""


def deck_page(
    engine: Engine, start: int, budget: int = PAGE_BYTES - DECK_BYTES_MARGIN
) -> tuple[list[DeckStatus], int | None]:
    """The decks from number `start` on that fit in `budget` bytes, and the number of the next (None: none left)."""
    names = list(engine.decks)
    decks: list[DeckStatus] = []
    size = 0
    for number in range(max(start, 0), len(names)):
        deck = deck_status(engine, names[number])
        size += json_bytes(deck.__dict__)
        if decks and size > budget:
            return decks, number
        decks.append(deck)
    return decks, None


def deck_status(engine: Engine, name: str) -> DeckStatus:
    """The deck's part of the deck object `status --json` shows (runner.report.deck_object): all but its jobs
    and its ETA (`with_etas`)."""
    jobs = deck_jobs(engine, name)
    path = cut_text(str(engine.decks[name].path), LINE_BYTES) or ""
    started_at, ended_at = deck_span(jobs)
    status = DeckStatus(name, path, len(jobs), state_counts(jobs), started_at, ended_at)
    status.halted = engine.halted.get(name)
    status.hooks = [cut_text(line, LINE_BYTES) or "" for line in engine.hook_lines(name)]
    return status


async def with_etas(engine: Engine, decks: list[DeckStatus]) -> list[DeckStatus]:
    """The decks, each that has work left with its ETA (`eta_s`; None when it cannot be told). Estimated on a
    worker thread from a snapshot of the engine's job list: 100,000 jobs take a few hundred ms, which must not
    hold the event loop (an estimate that sees a job change halfway through is as good as any)."""
    under_way = {deck.deck for deck in decks if any(not JobState(state).finished for state in deck.counts)}
    if not under_way:
        return decks
    jobs = list(engine.jobs.values())
    etas = await anyio.to_thread.run_sync(deck_etas, jobs, under_way, time.time(), engine.dispatching)
    return [replace(deck, eta_s=etas.get(deck.deck)) for deck in decks]


def deck_etas(jobs: list[Job], decks: Collection[str], now: float, dispatching: bool) -> dict[str, float | None]:
    """Each deck's ETA in seconds (rounded to 0.1 s), from all the engine's jobs."""
    by_deck: dict[str, list[Job]] = {deck: [] for deck in decks}
    for job in jobs:
        listed = by_deck.get(job.deck)
        if listed is not None:
            listed.append(job)
    etas = {deck: eta_of(listed, now, dispatching=dispatching) for deck, listed in by_deck.items()}
    return {deck: None if eta is None else round(eta, 1) for deck, eta in etas.items()}


def job_page(
    engine: Engine, deck: str, start: int, budget: int = PAGE_BYTES, states: Collection[str] | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """The deck's job rows from job number `start` on, as many as fit in `budget` bytes of JSON, and the number
    of the next job (None: none left); with `states`, only the jobs in those states."""
    specs = _deck(engine, deck).jobs
    rows: list[dict[str, Any]] = []
    size = 0
    for number in range(max(start, 0), len(specs)):
        job = engine.jobs[f"{deck}/{specs[number].name}"]
        if states is not None and job.state.value not in states:
            continue
        row = status_row(job)
        size += json_bytes(row)
        if rows and size > budget:
            return rows, number
        rows.append(row)
    return rows, None


def deck_jobs(engine: Engine, deck: str) -> list[Job]:
    """The deck's jobs in deck order; CommandError when no deck of that name is loaded."""
    return [engine.jobs[f"{deck}/{spec.name}"] for spec in _deck(engine, deck).jobs]


def _deck(engine: Engine, name: str) -> Deck:
    deck = engine.decks.get(name)
    if deck is None:
        raise CommandError(f"no deck named {name!r} is loaded")
    return deck


def status_row(job: Job) -> dict[str, Any]:
    """The job as `jobdeck run --json` reports it, bounded: a result whose JSON is larger than a preview is a
    string of its start, with `result_bytes` its full size; a long error keeps its end."""
    row = job_report(job)
    row["error"] = cut_text(row["error"], TEXT_FIELD_BYTES, keep_end=True)
    row["name"] = cut_text(row["name"], LINE_BYTES)
    if job.note and not job.state.finished:
        row["note"] = cut_text(job.note, LINE_BYTES)
    result, size = preview_result(row["result"])
    row["result"] = result
    if size is not None:
        row["result_bytes"] = size
    return row
