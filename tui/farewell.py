"""What the dashboard says on the terminal once it has ended: what it stopped, what it left, or that it detached.

The lines are made while the app still sees its jobs, and printed after the app has given the terminal back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from runner.engine.interface import ObservedJob
from tui.panes import Pane, pane_of

NAMES_SHOWN = 3
SERVER_ENDS_WITHIN_S = 30
"""A server told to stop waits up to 10 s for its cancelled jobs, then ends within 20 s whatever still runs
(runner.server.server STOP_WAIT_S and EXIT_DEADLINE_S)."""


def unfinished_panes(jobs: Iterable[ObservedJob]) -> dict[str, Pane]:
    """The unfinished jobs by id, with the pane each is in (running or queued) as the stop begins."""
    return {job.id: pane_of(job) for job in jobs if not job.state.finished}


def still_unfinished(before: Mapping[str, Pane], jobs: Mapping[str, ObservedJob]) -> list[ObservedJob]:
    """Of the jobs that were unfinished as the stop began, those that have not finished yet."""
    return [jobs[job_id] for job_id in before if job_id in jobs and not jobs[job_id].state.finished]


def _labels(jobs: Sequence[ObservedJob]) -> list[str]:
    """Each job's name, or its id (`deck/name`) where names repeat."""
    by_name = len({job.name for job in jobs}) == len(jobs)
    return [job.name if by_name else job.id for job in jobs]


def job_list(jobs: Sequence[ObservedJob]) -> str:
    """`a, b and c`, or `a, b, c and 4 more`."""
    names = _labels(jobs)[:NAMES_SHOWN]
    more = len(jobs) - len(names)
    if more:
        return f"{', '.join(names)} and {more} more"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def counted(count: int, what: str = "job") -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def stopped_line(
    before: Mapping[str, Pane],
    left: Sequence[ObservedJob],
    *,
    attached: bool,
    reason: str | None = None,
) -> list[str]:
    """After `q`, `y` (or a signal): what was stopped, and what was left when the user did not wait for it."""
    left_ids = {job.id for job in left}
    stopped = [pane for job_id, pane in before.items() if job_id not in left_ids]
    running = sum(1 for pane in stopped if pane is Pane.RUNNING)
    where = [f"{running} running"] if running else []
    where += [f"{len(stopped) - running} queued"] if len(stopped) > running else []
    said = [f"stopped {counted(len(stopped))} ({', '.join(where)})"] if stopped else []
    if not left:
        if attached:
            text = f"{said[0]} and the jobdeck server" if said else "stopped the jobdeck server"
        else:
            text = "; ".join([*said, "nothing is left running"])
        return [f"jobdeck: {reason + ': ' if reason else ''}{text}."]
    them = "it" if len(left) == 1 else "them"
    if attached:
        after = f"the jobdeck server is still stopping {them} and ends within {SERVER_ENDS_WITHIN_S} s"
    else:
        after = f"{'it' if len(left) == 1 else 'they'} ended with jobdeck, part done"
    said.append(f"quit without waiting for {job_list(left)}: {after}")
    notes = [
        f"  {label}: {job.note.removeprefix('cancelling: ')}"
        for label, job in zip(_labels(left), left, strict=True)
        if job.note
    ]
    return [f"jobdeck: {reason + ': ' if reason else ''}{'; '.join(said)}.", *notes[:NAMES_SHOWN]]


def detached_line(unfinished: int) -> list[str]:
    jobs = {0: "nothing is running", 1: "1 job goes on"}.get(unfinished, f"{unfinished} jobs go on")
    return [f"jobdeck: detached; {jobs} in the server. `jobdeck attach` comes back."]


def server_gone_line() -> list[str]:
    return ["jobdeck: the jobdeck server had stopped; `jobdeck attach` starts a new one."]
