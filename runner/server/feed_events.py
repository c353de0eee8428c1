"""What an event stream tells of the engine: each change of state, progress, output lines, decks loaded and
forgotten, dispatching paused and resumed (runner.server.messages.StreamEvent).

`EventTeller` remembers what its stream has told (which decks, each job's output line count, the last progress)
and makes the events that bring it up to date from the jobs that changed. Nothing here grows with time: a job's
output is read from the tail the engine keeps (lines the tail dropped before they were told are counted in a
`dropped` event), changes of state from the server's bounded StateLog, and progress is only ever the latest.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

from runner.model import Job, JobState
from runner.server.messages import EventType, StreamEvent
from runner.server.previews import OUTPUT_LINE_BYTES, cut_text, json_bytes
from runner.server.state_log import Change, StateLog
from runner.server.wire import to_wire

if TYPE_CHECKING:
    from runner.engine.engine import Engine

EVENTS_BYTES = 256 * 1024
"""An update's events stop past this many bytes of JSON; the rest follow in the next update, at once."""
EVENT_BYTES = 160
"""About what an event's fields other than its texts take in JSON."""


def event_json(event: StreamEvent) -> dict[str, Any]:
    """The event as the wire and `jobdeck events --json` carry it: the fields that apply to its type."""
    return {key: value for key, value in to_wire(event).items() if value is not None}


class EventTeller:
    """The events of one stream (of every deck, or of `deck`). Make it with the engine as it is now: the stream
    tells what happens from then on. `close()` when the stream ends."""

    def __init__(self, engine: Engine, state_log: StateLog, deck: str | None = None) -> None:
        self.engine = engine
        self.state_log = state_log
        self.deck = deck
        state_log.catch_up()  # changes published before now are not this stream's
        self.cursor = state_log.open_reader()
        self.decks = {name: str(loaded.path) for name, loaded in engine.decks.items() if self._wanted(name)}
        self.dispatching = engine.dispatching
        self.output_told = {job.id: job.output_total for job in engine.jobs.values() if job.output_total}
        """Lines of each job's output told (or there before the stream began); a job not here: none."""
        self.progress_told: dict[str, tuple[float, float | None, str]] = {}
        self.unfinished_output: set[str] = set()
        """Jobs whose lines did not all fit in the last update."""

    def close(self) -> None:
        self.state_log.close_reader()

    def _wanted(self, deck: str) -> bool:
        return self.deck is None or deck == self.deck

    def events(self, changed: list[Job], upto: int) -> tuple[list[dict[str, Any]], bool]:
        """The events that bring the stream up to engine revision `upto`, given the jobs changed since the last
        call (those of the stream's deck) that a client may be shown (runner.server.server committed_changes);
        and whether more are waiting (the update is full).

        In order: decks loaded, dispatching, then the changes of state in the order they happened, each job's
        output lines just before the first change it made after writing them; then the latest progress, the
        lines written since the job's last change, and decks forgotten. A change whose job's earlier lines did
        not all fit waits for them, with every change after it, for the next update."""
        now = time.time()
        budget = [EVENTS_BYTES]
        told = self._decks_loaded(now)
        if self.engine.dispatching != self.dispatching:
            self.dispatching = self.engine.dispatching
            told.append(event_json(StreamEvent(EventType.DISPATCHING, now, dispatching=self.dispatching)))
        changes, scanned_to = self._changes(changed, upto, now, budget)
        jobs = self.engine.jobs
        writers = [jobs[change.job_id] for _, change, _ in changes if change is not None and change.job_id in jobs]
        lines, full = self._output(_unique(writers, changed), now, budget)
        held: dict[str, int] = {}
        """Jobs with a change left for the next update: the number of lines written before their first one."""
        for position, (after, change, event) in enumerate(changes):
            if change is None:
                told.append(event)
                continue
            job_id = change.job_id
            if job_id in jobs and self.output_told.get(job_id, 0) < change.output_at:
                for _, later, _ in changes[position:]:
                    if later is not None and later.job_id not in held:
                        held[later.job_id] = later.output_at
                scanned_to = after - 1  # this change and those after it wait
                full = True
                break
            waiting = lines.get(job_id)
            while waiting and waiting[0][0] < change.output_at:
                told.append(waiting.popleft()[1])
            told.append(event)
        self.cursor = scanned_to
        told += self._progress(changed, now)
        for job_id, waiting in lines.items():
            told += self._lines_before(job_id, waiting, held.get(job_id))
        told += self._decks_forgotten(now)
        return told, full or budget[0] <= 0

    def _lines_before(
        self, job_id: str, waiting: deque[tuple[int, dict[str, Any]]], limit: int | None
    ) -> list[dict[str, Any]]:
        """The job's lines taken for this update, but (with `limit`) only those written before its next change
        to tell: the rest are taken again, after that change, in the next update."""
        if limit is None:
            return [event for _, event in waiting]
        kept = [event for number, event in waiting if number < limit]
        self.output_told[job_id] = min(self.output_told.get(job_id, 0), limit)
        self.unfinished_output.add(job_id)
        return kept

    def _decks_loaded(self, now: float) -> list[dict[str, Any]]:
        loaded = []
        for name, deck in self.engine.decks.items():
            if name in self.decks or not self._wanted(name):
                continue
            self.decks[name] = str(deck.path)
            event = StreamEvent(EventType.DECK_LOADED, now, deck=name, path=str(deck.path), jobs=len(deck.jobs))
            loaded.append(event_json(event))
        return loaded

    def _decks_forgotten(self, now: float) -> list[dict[str, Any]]:
        gone = [name for name in self.decks if name not in self.engine.decks]
        if not gone:
            return []
        for name in gone:
            del self.decks[name]
        prefixes = tuple(f"{name}/" for name in gone)
        for table in (self.output_told, self.progress_told):
            for job_id in [job_id for job_id in table if job_id.startswith(prefixes)]:
                del table[job_id]
        self.unfinished_output = {job_id for job_id in self.unfinished_output if not job_id.startswith(prefixes)}
        return [event_json(StreamEvent(EventType.DECK_FORGOTTEN, now, deck=name)) for name in gone]

    def _changes(
        self, changed: list[Job], upto: int, now: float, budget: list[int]
    ) -> tuple[list[tuple[int, Change | None, dict[str, Any]]], int]:
        """The changes of state to tell, each with the log's cursor after it and the entry it tells (None: a
        job's state as it is now, after changes were dropped); and the cursor once they are all told."""
        log = self.state_log
        told: list[tuple[int, Change | None, dict[str, Any]]] = []
        if self.cursor < log.start:  # fell behind the log: say how far, then each changed job as it is now
            missed = log.start - self.cursor
            scanned_to = log.start + sum(1 for _ in log.since(log.start, upto))
            told.append((scanned_to, None, event_json(StreamEvent(EventType.DROPPED, now, states=missed))))
            for job in changed:
                event = StreamEvent(
                    EventType.STATE, now, job.deck, job.name, job.id, job.state, None, len(job.attempts), job.error
                )
                told.append((scanned_to, None, event_json(event)))
                budget[0] -= EVENT_BYTES + len(job.id)
            return told, scanned_to
        scanned_to = self.cursor
        for change in log.since(self.cursor, upto):
            if budget[0] <= 0:
                break
            scanned_to += 1
            deck, _, name = change.job_id.partition("/")
            if not self._wanted(deck):
                continue
            event = StreamEvent(
                EventType.STATE,
                change.at,
                deck,
                name,
                change.job_id,
                change.state,
                change.previous,
                change.attempt,
                change.error if change.state in (JobState.FAILED, JobState.RETRYING) else None,
            )
            told.append((scanned_to, change, event_json(event)))
            budget[0] -= EVENT_BYTES + 2 * len(change.job_id) + len(change.error or "")
        return told, scanned_to

    def _progress(self, changed: list[Job], now: float) -> list[dict[str, Any]]:
        told = []
        for job in changed:
            progress = job.progress
            if job.state.finished or progress is None:
                self.progress_told.pop(job.id, None)
                continue
            shown = (progress.done, progress.total, progress.unit)
            if self.progress_told.get(job.id) == shown:
                continue
            self.progress_told[job.id] = shown
            event = StreamEvent(
                EventType.PROGRESS, now, job.deck, job.name, job.id, done=shown[0], total=shown[1], unit=shown[2]
            )
            told.append(event_json(event))
        return told

    def _output(
        self, changed: list[Job], now: float, budget: list[int]
    ) -> tuple[dict[str, deque[tuple[int, dict[str, Any]]]], bool]:
        """The output lines of the changed jobs (and of those left over from the last update), each with its
        number in the job's output, by job; and whether some did not fit."""
        told: dict[str, deque[tuple[int, dict[str, Any]]]] = {}
        jobs = self.engine.jobs
        left_over = [jobs[job_id] for job_id in self.unfinished_output if job_id in jobs]
        self.unfinished_output = set()
        for job in _unique(left_over, changed):
            total = job.output_total
            seen = self.output_told.get(job.id, 0)
            if total <= seen:
                continue
            if budget[0] <= 0:
                self.unfinished_output.add(job.id)
                continue
            mine = told[job.id] = deque()
            tail = job.output
            oldest = total - len(tail)
            if seen < oldest:
                event = StreamEvent(EventType.DROPPED, now, job.deck, job.name, job.id, lines=oldest - seen)
                mine.append((oldest, event_json(event)))
                seen = oldest
            for line in islice(tail, seen - oldest, None):
                text = cut_text(line.text, OUTPUT_LINE_BYTES) or ""
                event = StreamEvent(EventType.OUTPUT, now, job.deck, job.name, job.id, stream=line.stream, line=text)
                mine.append((seen, event_json(event)))
                seen += 1
                budget[0] -= EVENT_BYTES + len(job.id) + json_bytes(text)
                if budget[0] <= 0:
                    break
            self.output_told[job.id] = seen
            if seen < total:
                self.unfinished_output.add(job.id)
        return told, bool(self.unfinished_output)


def _unique(*groups: Iterable[Job]) -> list[Job]:
    seen: set[str] = set()
    jobs = []
    for group in groups:
        for job in group:
            if job.id not in seen:
                seen.add(job.id)
                jobs.append(job)
    return jobs
