"""The server's side of `jobdeck wait` and of shell completion: the `wait` and `names` requests.

A wait subscribes to the engine's events and counts the selected jobs still unfinished as their states change;
it never looks at the jobs again and again. Once none is left it flushes the journal (a client is told a job
ended only once that survives `kill -9`) and answers. A wait answers within its `within_s` in any case, so a
client that went away costs the server at most that long, and one that waits longer asks again (on a new
connection after a restart of the server: see runner.cli.waiting).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from runner.engine.events import StateChanged, Subscription
from runner.model import Job, JobState
from runner.server.messages import WAIT_LISTED_JOBS, Names, NamesReply, Wait, WaitReply, WaitTarget
from runner.server.previews import LINE_BYTES, cut_text, take_page
from runner.server.status_pages import deck_jobs
from runner.server.wire import to_wire
from runner.spelling import closest

if TYPE_CHECKING:
    from runner.engine.engine import Engine
    from runner.server.server import Server

TARGET_NAME_BYTES = 1024
"""A name given to a wait, as its reply repeats it: a name longer than any deck's or job's selects nothing."""
TARGETS_BYTES = 512 * 1024
"""Room for the targets in a wait's reply: thousands of decks (more are left out of it, not waited for less)."""


@dataclass
class Selection:
    """The jobs a wait's names select (by id, held by reference: a deck forgotten meanwhile had finished), what
    each name selected, and the names that select nothing."""

    jobs: dict[str, Job] = field(default_factory=dict)
    targets: list[WaitTarget] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """Names that select nothing; sentences once `unknown_sentences` has made them."""
    ambiguous: list[str] = field(default_factory=list)
    """Sentences for the names of jobs that several decks have."""
    waiting: list[str] = field(default_factory=list)

    def unfinished(self) -> int:
        return sum(1 for job in self.jobs.values() if not job.state.finished)


def select(server: Server, names: Iterable[str]) -> Selection:
    """What `names` select in the server: decks by name, jobs by id or by a name only one deck has; no names,
    every loaded deck. A deck restored after a reboot that waits for its environment is selected with nothing
    to wait for yet but a note (its jobs come when it is given one)."""
    engine, kept = server.engine, server.environments
    waiting_decks = {} if kept is None else kept.waiting
    chosen = Selection()
    given = list(names) or list(engine.decks)
    for name in given:
        if name in engine.decks:
            chosen.targets.append(WaitTarget(cut_text(name, LINE_BYTES) or "", name))
            chosen.jobs.update((job.id, job) for job in deck_jobs(engine, name))
        elif name in waiting_decks:
            chosen.waiting.append(waiting_decks[name].line())
        else:
            found = _job(engine, name)
            if found is None:
                chosen.unknown.append(name)
            elif isinstance(found, str):
                chosen.ambiguous.append(found)
            else:
                chosen.targets.append(WaitTarget(name, found.deck, found.name))
                chosen.jobs[found.id] = found
    return chosen


def _job(engine: Engine, name: str) -> Job | str | None:
    """The job `name` names (its id, or a name only one deck has); a sentence when several decks have a job of
    that name; None when none has."""
    job = engine.jobs.get(name)
    if job is not None:
        return job
    alike = [job for job in engine.jobs.values() if job.name == name]
    if len(alike) == 1:
        return alike[0]
    if alike:
        ids = ", ".join(job.id for job in alike[:5]) + (", …" if len(alike) > 5 else "")
        shown = cut_text(name, TARGET_NAME_BYTES)
        return f"{shown!r} names jobs in several decks ({ids}): give one as deck/name, or the deck"
    return None


async def unknown_sentences(engine: Engine, unknown: list[str]) -> list[str]:
    """Each name that selects nothing as a sentence naming the nearest deck or job. On a worker thread: among a
    server's 100,000 jobs the search takes a second, which must not hold the event loop."""
    decks, jobs = list(engine.decks), list(engine.jobs.values())

    def sentences() -> list[str]:
        ids = [*decks, *(job.id for job in jobs)]
        names: set[str] | None = None
        said = []
        for name in unknown:
            near = closest(name, ids)
            if near is None and "/" not in name:
                names = names if names is not None else {job.name for job in jobs}
                near = closest(name, names)
            hint = f"; did you mean {near!r}?" if near is not None else ""
            listed = ", ".join(decks[:10]) + (", …" if len(decks) > 10 else "") or "none"
            shown = cut_text(name, TARGET_NAME_BYTES)
            said.append(f"no deck or job named {shown!r} is loaded{hint} (decks: {listed})")
        return said

    return await anyio.to_thread.run_sync(sentences)


async def wait_for_jobs(server: Server, request: Wait) -> Any:
    """Answer once every selected job has finished and the journal has it, or after `within_s`."""
    engine, recorder = server.engine, server.recorder
    with engine.subscribe() as events:  # before counting: no change after the count is missed
        chosen = select(server, request.names)
        if (chosen.unknown or chosen.ambiguous) and not request.missing_ok:
            chosen.unknown = chosen.ambiguous + await unknown_sentences(engine, chosen.unknown)
            return to_wire(_reply(server, chosen, settled=False))
        left = chosen.unfinished()
        if recorder is not None and (not left or any(t.deck not in recorder.run_ids for t in chosen.targets)):
            await recorder.flush()  # the reply names each deck's journal run; what it says has ended survives kill -9
            left += _drain(events, chosen.jobs)
        settled = not left and not chosen.waiting
        ending = False
        with anyio.move_on_after(0 if settled else request.within_s):
            try:
                while not settled:
                    while left:
                        left += _change(await events.receive(), chosen.jobs)
                    if recorder is not None:
                        await recorder.flush()
                    left += _drain(events, chosen.jobs)  # a job retried meanwhile is unfinished again
                    settled = not left and not chosen.waiting
                    if not left and not settled:
                        await anyio.sleep_forever()  # a deck that waits for its environment: the client asks again
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                ending = True  # the engine is closing: the server ends
    return to_wire(_reply(server, chosen, settled=settled, ending=ending))


def _change(event: Any, jobs: dict[str, Job]) -> int:
    """How the event changes the number of selected jobs left unfinished: -1 when one finished, +1 when one
    was queued again (a retry), else 0."""
    if type(event) is not StateChanged or event.job_id not in jobs:
        return 0
    return int(event.old.finished) - int(event.new.finished)


def _drain(events: Subscription, jobs: dict[str, Job]) -> int:
    change = 0
    while True:
        try:
            change += _change(events.receive_nowait(), jobs)
        except anyio.WouldBlock:
            return change


def _reply(server: Server, chosen: Selection, *, settled: bool, ending: bool = False) -> WaitReply:
    counts = Counter(job.state for job in chosen.jobs.values())
    unsuccessful = [
        cut_text(job.id, TARGET_NAME_BYTES) or ""
        for job in chosen.jobs.values()
        if job.state.finished and job.state is not JobState.SUCCEEDED
    ]
    runs = {} if server.recorder is None else server.recorder.run_ids
    targets = [WaitTarget(target.name, target.deck, target.job, runs.get(target.deck)) for target in chosen.targets]
    targets = targets[: len(take_page(to_wire(targets), 0, TARGETS_BYTES)[0])]
    return WaitReply(
        settled=settled,
        jobs=len(chosen.jobs),
        counts={state.value: counts[state] for state in JobState if counts[state]},
        unsuccessful=unsuccessful[:WAIT_LISTED_JOBS],
        targets=targets,
        unknown=chosen.unknown,
        waiting=chosen.waiting,
        ending=ending,
    )


async def names(server: Server, request: Names) -> Any:
    """Deck names, or job ids and names, that start with the prefix: for a shell's Tab."""
    engine = server.engine
    prefix = request.prefix
    if request.kind == "decks":
        found = {name for name in engine.decks if name.startswith(prefix)}
    else:
        found = {job_id for job_id in engine.jobs if job_id.startswith(prefix)}
        found.update(job.name for job in engine.jobs.values() if job.name.startswith(prefix))
    listed = sorted(found)
    return to_wire(NamesReply(listed[: request.limit], more=len(listed) > request.limit))
