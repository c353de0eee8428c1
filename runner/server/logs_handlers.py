"""The server's answer to `logs`: where a job's log files are and how far the job is, waiting for news if asked.

A job is looked for among the loaded decks (`name`, or `deck/name`), then in the journal's history: the newest
run with a job of that name. A run's files stay until its deck is forgotten or the journal prunes the run, so a
run finished before the server restarted still has them; a forgotten one has only the last lines the journal
keeps (`LogsReply.tail`). The client reads the files itself (runner.joblogs.reader): nothing of a log goes
through the socket, whatever its size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from runner.errors import CommandError
from runner.joblogs.layout import LogPlace, logs_root
from runner.model import OutputLine
from runner.server.messages import Logs, LogsReply
from runner.server.wire import to_wire
from runner.spelling import allowed_edits, edit_distance

if TYPE_CHECKING:
    from runner.engine.engine import Engine
    from runner.journal.store import Journal, PastJobRow
    from runner.model import Job
    from runner.server.server import Server

CLOSE_NAMES = 5
"""Names suggested at most for a job that is not found."""


async def logs_request(server: Server, request: Logs) -> Any:
    """The `logs` handler (one per server, registered in Server.handlers)."""
    engine = server.engine
    job = loaded_job(engine, request.job)
    if job is None:
        return to_wire(await _from_history(server.journal, request.job, engine))
    keeper = engine.logs
    if request.seen is not None and keeper is not None:
        job_id, seen = job.id, request.seen
        await keeper.wait(lambda: _news(engine, job_id, seen), request.wait_s)
        job = engine.jobs.get(job_id)
        if job is None:
            raise CommandError(f"{job_id} was forgotten while its log was read")
    recorder = server.recorder
    if job.state.finished and recorder is not None and recorder.committed_revision < job.revision:
        await recorder.flush()  # its end is shown once it would survive a crash, as everywhere
    return to_wire(loaded_reply(engine, job))


def _news(engine: Engine, job_id: str, seen: list[Any]) -> bool:
    job = engine.jobs.get(job_id)
    keeper = engine.logs
    return job is None or keeper is None or list(dataclasses.astuple(keeper.progress(job))) != seen


def loaded_reply(engine: Engine, job: Job) -> LogsReply:
    keeper = engine.logs
    outcomes = [_outcome(attempt.outcome, attempt.ended_at) for attempt in job.attempts]
    if keeper is None:
        return LogsReply(job.id, job.state.value, outcomes, tail=list(job.output), note="this server keeps no logs")
    complete = 0
    for number in range(len(job.attempts), 0, -1):
        if keeper.complete(job, number):
            complete = number
            break
    return LogsReply(
        job.id,
        job.state.value,
        outcomes,
        folder=str(keeper.place(job).folder),
        complete=complete,
        progress=list(dataclasses.astuple(keeper.progress(job))),
        note=keeper.unwritten(job),
    )


def _outcome(outcome: Any, ended_at: float | None) -> str | None:
    if outcome is not None:
        return str(outcome.value if hasattr(outcome, "value") else outcome)
    return None if ended_at is None else "interrupted"


def loaded_job(engine: Engine, ref: str) -> Job | None:
    """The loaded job `ref` names (its id `deck/name`, or a name only one deck has); None if no loaded deck has
    it. CommandError when several decks do."""
    job = engine.jobs.get(ref)
    if job is not None:
        return job
    matches = [job for job in engine.jobs.values() if job.name == ref]
    if len(matches) > 1:
        names = ", ".join(job.id for job in matches[:CLOSE_NAMES])
        raise CommandError(f"{ref!r} names jobs in several decks ({names}); say which with deck/name")
    return matches[0] if matches else None


async def _from_history(journal: Journal | None, ref: str, engine: Engine) -> LogsReply:
    past = None if journal is None else await anyio.to_thread.run_sync(past_job, journal, ref)
    if past is None:
        raise unknown_job(ref, [job.id for job in engine.jobs.values()])
    assert journal is not None
    return past_reply(past, logs_root(journal.path))


def past_job(journal: Journal, ref: str) -> PastJobRow | None:
    """The newest run's job `ref` names in the journal (blocking)."""
    deck, slash, name = ref.partition("/")
    found = journal.latest_job(name, deck) if slash else None
    return found or journal.latest_job(ref)


def past_reply(past: PastJobRow, root: Path) -> LogsReply:
    """The reply for a job of the history: its files if its run still has them, else the journal's last lines."""
    outcomes = [_outcome(attempt["outcome"], attempt["ended_at"]) for attempt in past.attempts]
    place = LogPlace.of(root / past.run_id, past.name)
    job = f"{past.deck}/{past.name}"
    if (root / past.run_id).is_dir():
        return LogsReply(job, past.state, outcomes, str(place.folder), len(outcomes), source="history", run=past.run_id)
    tail = [OutputLine(stream, text) for stream, text in past.tail]
    note = (
        f"the log files of {job} were removed when its deck was forgotten (or the journal pruned its run); "
        f"these are the last {len(tail)} lines the journal keeps"
    )
    return LogsReply(
        job, past.state, outcomes, None, len(outcomes), source="history", run=past.run_id, tail=tail, note=note
    )


def unknown_job(ref: str, known: Iterable[str]) -> CommandError:
    """No job of that name: the message names the closest ones (a slip of the keyboard away, or containing it)."""
    close = close_names(ref, known)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `jobdeck status` lists the jobs"
    return CommandError(f"no job named {ref!r} is loaded or in the history{hint}")


def close_names(word: str, names: Iterable[str]) -> list[str]:
    """Up to CLOSE_NAMES of `names` (job ids) near `word`: their name or id a few slips away, or containing it."""
    folded = word.casefold()
    limit = allowed_edits(folded)
    scored: list[tuple[int, str]] = []
    for job_id in names:
        name = job_id.partition("/")[2]
        candidate = job_id if "/" in word else name
        distance = edit_distance(folded, candidate.casefold(), limit)
        if distance <= limit:
            scored.append((distance, job_id))
        elif folded in candidate.casefold():
            scored.append((limit + 1, job_id))
    scored.sort()
    return [job_id for _, job_id in scored[:CLOSE_NAMES]]
