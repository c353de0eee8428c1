"""What `jobdeck run` shows while it works: a live progress display on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import anyio

from runner.engine import Engine
from runner.events import StateChanged
from runner.model import Job, JobState
from runner.report import state_counts_text

REFRESH_S = 0.1


def state_line(job: Job) -> str:
    """One plain line for a job's current state, e.g. `12:00:01 nightly/home failed (attempt 2): HTTP 503`."""
    text = f"{time.strftime('%H:%M:%S')} {job.id} {job.state.value}"
    if job.attempts and job.state is not JobState.QUEUED:
        text += f" (attempt {len(job.attempts)})"
    if job.error and job.state in (JobState.FAILED, JobState.RETRYING, JobState.SKIPPED):
        text += f": {job.error}"
    return text


async def print_state_changes(engine: Engine, out: TextIO) -> None:
    """One plain line per state change, until cancelled."""
    with engine.subscribe() as events:
        async for event in events:
            if isinstance(event, StateChanged):
                print(state_line(engine.jobs[event.job_id]), file=out, flush=True)


async def show_live_progress(engine: Engine, out: TextIO) -> None:
    """A progress bar per deck with state totals, and a line for each job that finishes; until cancelled."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=out)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[states]}"),
    )
    with engine.subscribe() as events, Progress(*columns, console=console, transient=False) as progress:
        bars: dict[str, int] = {}
        while True:
            finished: list[Job] = []
            while True:
                try:
                    event = events.receive_nowait()
                except anyio.WouldBlock:
                    break
                if isinstance(event, StateChanged) and event.new.finished:
                    finished.append(engine.jobs[event.job_id])
            for job in finished:
                if job.state is not JobState.SUCCEEDED:
                    progress.console.print(state_line(job), markup=False, highlight=False)
            for deck in engine.decks:
                jobs = list(engine.jobs_of(deck))
                done = sum(1 for job in jobs if job.state.finished)
                if deck not in bars:
                    bars[deck] = progress.add_task(deck, total=len(jobs), states="")
                progress.update(bars[deck], completed=done, total=len(jobs), states=state_counts_text(jobs))
            await anyio.sleep(REFRESH_S)


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def default_output() -> TextIO:
    return sys.stdout
