"""What `jobdeck events` prints for people: one line per event of the server's stream (runner.server.messages
StreamEvent), its local time first. `--json` prints the events themselves instead."""

from __future__ import annotations

import time

from runner.server.messages import EventType, StreamEvent

STREAM_MARKS = {"stdout": "|", "stderr": "!", "log": "#"}
"""Before an output line: which stream it came on (log: what jobdeck says of the job, such as where it runs)."""


def event_line(event: StreamEvent) -> str:
    """E.g. `14:02:07 nightly/home running (attempt 2)`, `14:02:08 nightly/home | a line it printed`."""
    return f"{time.strftime('%H:%M:%S', time.localtime(event.time))} {_what(event)}"


def _what(event: StreamEvent) -> str:
    job = f"{event.deck}/{event.job}"
    kind = event.type
    if kind is EventType.STATE:
        attempt = f" (attempt {event.attempt})" if event.attempt and event.state != "queued" else ""
        error = f": {event.error}" if event.error else ""
        now = " (now)" if event.previous is None else ""
        return f"{job} {event.state}{attempt}{now}{error}"
    if kind is EventType.OUTPUT:
        return f"{job} {STREAM_MARKS.get(event.stream or '', '|')} {event.line}"
    if kind is EventType.PROGRESS:
        return f"{job} {progress_text(event.done or 0.0, event.total, event.unit or '')}"
    if kind is EventType.DROPPED:
        if event.lines is not None:
            return f"{job} … {event.lines} line{_s(event.lines)} of output dropped (read too slowly to keep)"
        states = event.states or 0
        return (
            f"… {states} change{_s(states)} of state dropped (read too slowly to keep); "
            "each job that changed meanwhile follows as it is now"
        )
    if kind is EventType.DECK_LOADED:
        jobs = event.jobs or 0
        return f"deck {event.deck} loaded from {event.path}: {jobs} job{_s(jobs)}"
    if kind is EventType.DECK_FORGOTTEN:
        return f"deck {event.deck} forgotten"
    if kind is EventType.DISPATCHING:
        return "dispatching resumed" if event.dispatching else "dispatching paused: queued jobs wait"
    if kind is EventType.SERVER_STOPPED:
        return "the jobdeck server stopped"
    return str(kind)


def progress_text(done: float, total: float | None, unit: str) -> str:
    """`1.5 MB of 4.0 MB (37%)`, `12 of 50 (24%)`, `3.0 MB`."""
    if total is None or total <= 0:
        return _amount(done, unit)
    return f"{_amount(done, unit)} of {_amount(total, unit)} ({min(100.0, 100 * done / total):.0f}%)"


def _amount(value: float, unit: str) -> str:
    if unit != "bytes":
        return f"{value:g}{' ' + unit if unit else ''}"
    for name in ("B", "kB", "MB", "GB"):
        if value < 999.5 or name == "GB":
            return f"{value:.0f} {name}" if name == "B" or value >= 99.5 else f"{value:.1f} {name}"
        value /= 1000
    raise AssertionError("unreachable")


def _s(count: int) -> str:
    return "" if count == 1 else "s"
