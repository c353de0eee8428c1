"""What `jobdeck status` prints for people: a line per deck (its states, throughput and ETA), the server, then
the decks' jobs when asked for or few. It reads the same deck objects `status --json` prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.model import JobState

FINISHED = frozenset(state.value for state in JobState if state.finished)
UNDER_WAY = frozenset({JobState.RUNNING.value, JobState.RETRYING.value, JobState.QUEUED.value})
"""States whose jobs are moving towards their end (a paused job is not, so an all-paused deck has no ETA)."""


def server_lines(server: Mapping[str, Any]) -> list[str]:
    """The server, then its warnings and what it restored at start-up."""
    lines = [f"server {server['pid']} (jobdeck {server['version']}) at {server['socket']}"]
    lines += [f"warning: {line}" for line in server.get("journal_problems") or []]
    lines += [f"note: {line}" for line in server.get("restored") or []]
    return lines


def job_line(job: Mapping[str, Any]) -> str:
    error = f"  {job['error']}" if job.get("error") else f"  {job['note']}" if job.get("note") else ""
    state = f"{job['state']} ({job['waiting']})" if job.get("waiting") else job["state"]
    return f"  {job['name']:<30} {job['kind']:<6} {state:<10} #{job['attempts']}{error}"


def deck_line(deck: Mapping[str, Any], *, now: float) -> str:
    """The deck's line (see `_deck_line`), then why a `halt` stopped its dispatching, if one did."""
    line = _deck_line(deck, now=now)
    if deck.get("halted"):
        line += f" · {deck['halted']} (`jobdeck retry --deck {deck['deck']}` lifts it)"
    return line


def _deck_line(deck: Mapping[str, Any], *, now: float) -> str:
    """E.g. `nightly: 3 running, 4 queued, 12 succeeded · 0.8 jobs/s · ETA 9 s`, or for a finished deck
    `nightly: 20 succeeded in 25 s · 0.8 jobs/s`. The ETA is the server's estimate (`eta_s`, the dashboard's):
    `ETA –` when it cannot tell, as the dashboard's header says it."""
    name = deck["deck"]
    if "waiting_for" in deck:
        return f"{name}: waits for its environment (`jobdeck env {name}` from a shell that has it)"
    counts: dict[str, int] = deck["counts"]
    text = f"{name}: " + (", ".join(f"{count} {state}" for state, count in counts.items()) or "no jobs")
    started, ended = deck.get("started_at"), deck.get("ended_at")
    finished = sum(count for state, count in counts.items() if state in FINISHED)
    remaining = sum(counts.values()) - finished
    moving = ended is None and remaining and any(counts.get(state) for state in UNDER_WAY)
    eta = deck.get("eta_s")
    eta_text = f" · ETA {duration_text(eta) if eta is not None else '–'}" if moving else ""
    if started is None:
        return text + (" · not started" if remaining else "")
    elapsed = max(0.0, (ended if ended is not None else now) - started)
    if ended is not None:
        text += f" in {duration_text(elapsed)}"
    if finished == 0 or elapsed <= 0:
        return text + " · nothing finished yet" + eta_text
    if finished > 1:  # one job's end says nothing of a rate
        text += f" · {rate_text(finished / elapsed)}"
    return text + eta_text


def hook_lines(hooks: list[str]) -> list[str]:
    """The deck's hooks, under its line: `  on_finish hook exited with status 0`."""
    return [f"  {line}" for line in hooks]


def rate_text(per_second: float) -> str:
    """Jobs per second, minute or hour, whichever reads best: `2.5 jobs/s`, `12 jobs/min`, `0.4 jobs/h`."""
    for unit, seconds in (("s", 1), ("min", 60), ("h", 3600)):
        value = per_second * seconds
        if value >= 1 or unit == "h":
            return f"{value:.1f} jobs/{unit}" if value < 10 else f"{value:.0f} jobs/{unit}"
    raise AssertionError("unreachable")


def duration_text(seconds: float) -> str:
    """`0.4 s`, `45 s`, `3 min 20 s`, `2 h 05 min`, `3 d 4 h`."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
