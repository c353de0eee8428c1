"""What `jobdeck run` shows while it works: a live progress display on a terminal, plain lines otherwise.

Both views subscribe to the engine as soon as they are made, so no event is missed; `follow()` keeps the
view current until it is cancelled, and `close()` then shows the final state before letting go of the
terminal. Use `progress_view()`, which picks the view and closes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

import anyio

from runner.engine.engine import Engine
from runner.engine.events import Event, StateChanged, Subscription
from runner.model import JobState

LINES_INTERVAL_S = 0.05
NOTEWORTHY_STATES = frozenset({JobState.RETRYING, JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED})
"""State changes that come with a reason; the live display prints a line above its bars for them."""


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
    view: ProgressView
    if is_terminal(out):
        from runner.cli.live_progress import LiveProgress  # rich's progress bars, only on a terminal

        view = LiveProgress(engine, out)
    else:
        view = StateLines(engine, out)
    try:
        yield view
    finally:
        view.close()


def state_line(event: StateChanged, note: str | None = None, clock: str | None = None) -> str:
    """One plain line for a state change, e.g. `12:00:01 nightly/home failed (attempt 2): HTTP 503`; `clock`: the
    time to show, if already made (once for a burst of lines, which go out together)."""
    text = f"{clock or time.strftime('%H:%M:%S')} {event.job_id} {event.new.value}"
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
        clock = time.strftime("%H:%M:%S")
        lines = [
            state_line(event, current_note(self._engine, event), clock)
            for event in events
            if isinstance(event, StateChanged)
        ]
        if lines:
            self._out.write("\n".join(lines) + "\n")
            self._out.flush()


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
