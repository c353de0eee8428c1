"""`jobdeck run`'s live display on a terminal: a bar per deck with its state totals, redrawn in place."""

from __future__ import annotations

from collections import Counter
from typing import TextIO

import anyio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.progress_bar import ProgressBar

from runner.cli.console import NOTEWORTHY_STATES, current_note, pending_events, state_line
from runner.engine.engine import Engine
from runner.engine.events import StateChanged
from runner.model import Job, JobState

REFRESH_S = 0.1
TROUBLED_STATES = frozenset({JobState.RETRYING, JobState.FAILED, JobState.CANCELLED})
"""A deck with a job in one of these states gets a red bar."""
STATE_STYLES = {
    JobState.QUEUED: "dim",
    JobState.RUNNING: "cyan",
    JobState.PAUSED: "yellow",
    JobState.RETRYING: "yellow",
    JobState.SUCCEEDED: "green",
    JobState.FAILED: "bold red",
    JobState.CANCELLED: "magenta",
    JobState.SKIPPED: "dim",
}


class LiveProgress:
    """A bar per deck with its state totals, redrawn in place; retries and failures print a line above."""

    def __init__(self, engine: Engine, out: TextIO) -> None:
        self._engine = engine
        self._events = engine.subscribe()
        self._progress = _make_progress(out)
        self._bars: dict[str, TaskID] = {}
        self._progress.start()

    async def follow(self) -> None:
        while True:
            self._update()
            await anyio.sleep(REFRESH_S)

    def announce(self, text: str) -> None:
        self._progress.console.print(text, markup=False, highlight=False)
        self._progress.refresh()

    def close(self) -> None:
        try:
            self._update()
        finally:
            self._events.close()
            self._progress.stop()

    def _update(self) -> None:
        for event in pending_events(self._events):
            if isinstance(event, StateChanged) and event.new in NOTEWORTHY_STATES:
                line = state_line(event, current_note(self._engine, event))
                self._progress.console.print(line, markup=False, highlight=False)
        for deck in self._engine.decks:
            self._update_bar(deck)
        self._progress.refresh()

    def _update_bar(self, deck: str) -> None:
        jobs = list(self._engine.jobs_of(deck))
        finished = sum(1 for job in jobs if job.state.finished)
        if deck not in self._bars:
            self._bars[deck] = self._progress.add_task(deck, total=len(jobs), states="", troubled=False)
        self._progress.update(
            self._bars[deck],
            completed=finished,
            total=len(jobs),
            states=styled_state_counts(jobs),
            troubled=any(job.state in TROUBLED_STATES for job in jobs),
        )


def styled_state_counts(jobs: list[Job]) -> str:
    """State totals in rich markup, each in its state's colour: `[green]3 succeeded[/], [bold red]1 failed[/]`."""
    counts = Counter(job.state for job in jobs)
    return ", ".join(f"[{STATE_STYLES[state]}]{counts[state]} {state.value}[/]" for state in JobState if counts[state])


class OutcomeBarColumn(BarColumn):
    """Cyan while all goes well, green when done; red as soon as a job of the deck fails, retries or is cancelled."""

    def __init__(self) -> None:
        super().__init__(complete_style="cyan", finished_style="green")

    def render(self, task: Task) -> ProgressBar:
        bar = super().render(task)
        if task.fields.get("troubled"):
            bar.complete_style = bar.finished_style = "red"
        return bar


def _make_progress(out: TextIO) -> Progress:
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        OutcomeBarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[states]}"),
        console=Console(file=out),
        auto_refresh=False,
        transient=False,
    )
