"""What `jobdeck run` shows while it works: a live progress display on a terminal, plain lines otherwise.

Both views subscribe to the engine as soon as they are made, so no event is missed; `follow()` keeps the
view current until it is cancelled, and `close()` then shows the final state before letting go of the
terminal. Use `progress_view()`, which picks the view and closes it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

import anyio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.progress_bar import ProgressBar

from runner.engine.engine import Engine
from runner.engine.events import Event, StateChanged, Subscription
from runner.model import Job, JobState

REFRESH_S = 0.1
LINES_INTERVAL_S = 0.05
NOTEWORTHY_STATES = frozenset({JobState.RETRYING, JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED})
"""State changes that come with a reason; the live display prints a line above its bars for them."""
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


class ProgressView(Protocol):
    async def follow(self) -> None:
        """Keep the view current until cancelled."""

    def announce(self, text: str) -> None:
        """Show a message from jobdeck itself without disturbing the view."""

    def close(self) -> None:
        """Show the final state of every job, then release the output. Call once."""


@contextmanager
def progress_view(engine: Engine, out: TextIO) -> Iterator[ProgressView]:
    """A live display when `out` is a terminal, else one plain line per state change; closed on exit."""
    view: ProgressView = LiveProgress(engine, out) if is_terminal(out) else StateLines(engine, out)
    try:
        yield view
    finally:
        view.close()


def state_line(event: StateChanged, note: str | None = None) -> str:
    """One plain line for a state change, e.g. `12:00:01 nightly/home failed (attempt 2): HTTP 503`."""
    text = f"{time.strftime('%H:%M:%S')} {event.job_id} {event.new.value}"
    if event.attempt and event.new is not JobState.QUEUED:
        text += f" (attempt {event.attempt})"
    error = event.error if event.error != event.new.value else None
    reasons = [reason for reason in (error, note) if reason] if event.new in NOTEWORTHY_STATES else []
    if reasons:
        text += ": " + "; ".join(reasons)
    return text


def pending_events(events: Subscription) -> Iterator[Event]:
    """The events already delivered to `events`, without waiting for more."""
    while True:
        try:
            yield events.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            return


def current_note(engine: Engine, event: StateChanged) -> str | None:
    """The job's note (e.g. when its retry comes) if the job is still in the state the event announced."""
    job = engine.jobs[event.job_id]
    return job.note if job.state is event.new else None


class StateLines:
    """One plain line per state change, for pipes, files and logs. The lines of a burst go out together, at
    most LINES_INTERVAL_S after their change: waking up and writing per line cost a third of a run of
    10,000 tiny jobs."""

    def __init__(self, engine: Engine, out: TextIO) -> None:
        self._engine = engine
        self._out = out
        self._events = engine.subscribe()
        self._held: list[Event] = []

    async def follow(self) -> None:
        async for event in self._events:
            self._held.append(event)  # close() shows it if follow is cancelled while it waits
            await anyio.sleep(LINES_INTERVAL_S)
            self._show_held()

    def announce(self, text: str) -> None:
        self._show_held()
        print(text, file=self._out, flush=True)

    def close(self) -> None:
        self._show_held()
        self._events.close()

    def _show_held(self) -> None:
        events, self._held = [*self._held, *pending_events(self._events)], []
        lines = [
            state_line(event, current_note(self._engine, event)) for event in events if isinstance(event, StateChanged)
        ]
        if lines:
            self._out.write("\n".join(lines) + "\n")
            self._out.flush()


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


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
