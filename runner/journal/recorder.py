"""The Recorder: follows an engine and writes what it does to a Journal, in batches, off the event loop."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack
from functools import partial
from operator import attrgetter, is_not, itemgetter
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread
import orjson

from runner.engine.events import ChangeLogEntry
from runner.journal.faults import JournalDamaged, JournalError, is_damage, is_write_failure, write_failure_message
from runner.journal.salvage import set_aside_notice
from runner.journal.schema import deck_path_key
from runner.journal.writes import (
    GROUP_SPEC_MIN_MEMBERS,
    PLAIN_ROW_FIELDS,
    Batch,
    DeckLoad,
    GroupSpec,
    JobRows,
    attempt_row,
    fits_in_64_bits,
    group_spec,
    json_text,
    plain_row_item,
    spec_value,
)
from runner.model import Deck, Job, JobSpec, JobState
from runner.report import RESULT_STATES
from runner.values import json_safe, json_safe_text

if TYPE_CHECKING:
    from runner.journal.starts import StartsLog
    from runner.journal.store import Journal

log = logging.getLogger("jobdeck.journal")

FLUSH_INTERVAL_S = 0.05
"""The recorder looks for changes this often while the engine is quiet."""
MAX_FLUSH_INTERVAL_S = 0.25
"""The longest it waits between looks, however busy the engine: a change is committed at most this long (plus
the write of the batch it is in) after the engine made it."""
BUSY_WRITE_SHARE = 0.2
"""Under load the recorder waits so that writing takes at most about this share of the time (bigger batches,
fewer transactions), up to MAX_FLUSH_INTERVAL_S."""
JOURNALED_OUTPUT_LINES = 200
"""The last lines of a finished job's output that its journal row keeps (the engine keeps OUTPUT_TAIL_LINES in
memory): enough to see why a job failed, small enough that a deck of many chatty jobs keeps a small journal."""
ROWS_PER_STEP = 100
"""Rows the recorder makes on the event loop before it lets the engine go on (see `_add_job_rows`)."""
FINAL_FLUSH_TIMEOUT_S = 10.0
WRITE_RETRY_S = 2.0
"""While the journal cannot be written (a full disk, a read-only file), how often the recorder tries again."""


class Recorder:
    """Follows an engine and journals what it does. Enter it around the engine's own block, so it sees the
    engine's last changes too:

        engine = Engine()
        async with Recorder(engine, journal), engine:
            ...

    (`runner.journal.recorded.recorded_engine` does this for `jobdeck run` and the server.)

    It reads the engine's change log (`Engine.enable_change_log`), not its events: every flush interval it
    takes the changes of state made since the last flush, notices decks loaded meanwhile (`engine.decks`),
    and writes those changes plus the current rows of the jobs (and attempts) they touched, in one
    transaction on a worker thread. Decks loaded before the recorder was made are not recorded.

    What is committed, and when: a flush takes every change the engine made up to its current `revision`
    and commits them together; `committed_revision` is then that revision. The engine (and so a screen that
    polls it) is ahead of the journal by at most one flush interval (FLUSH_INTERVAL_S when quiet, up to
    MAX_FLUSH_INTERVAL_S under load) plus one write. A screen that must show as succeeded only what would
    survive `kill -9` shows a job's success once `committed_revision >= job.revision`. A job's row may be a
    little ahead of its committed changes (rows are made in steps, after the changes are taken); the next
    flush brings the changes that led there.

    `carry_over` maps a deck's resolved path to (journal id of the run it resumes, names of the jobs that
    succeeded there and are not run again): they are recorded as succeeded in the new run as well.
    """

    def __init__(
        self,
        engine: Any,
        journal: Journal,
        *,
        carry_over: Mapping[str, tuple[str, Iterable[str]]] | None = None,
        flush_interval: float = FLUSH_INTERVAL_S,
        starts: StartsLog | None = None,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.flush_interval = flush_interval
        self.run_ids: dict[str, str] = {}
        """Engine deck name -> journal id of its run (`decks.id`)."""
        self.committed_revision = 0
        """The engine revision up to which every change is committed to the journal."""
        self.flushes = 0
        self._id = int.from_bytes(os.urandom(8), "big") >> 2  # 62 random bits (secrets would import hashlib)
        """This recording's id, in the journal's change batches."""
        self._carry_over = {path: (old, list(names)) for path, (old, names) in (carry_over or {}).items()}
        self._continued: dict[str, str] = {}
        self._named: dict[str, str] = {}
        self._continued_decks: set[str] = set()
        """Engine names of the decks recorded into an existing run."""
        self._lazy_groups: dict[str, set[str]] = {}
        """Engine deck name -> its big fan-outs whose members get a job row when they first change."""
        self._unrecorded_decks = set(engine.decks)
        """Decks loaded before the recorder: not journaled."""
        self._decks_seen = _decks_loaded(engine)
        engine.enable_change_log()
        engine.take_changes()  # changes made before the recorder concern unrecorded decks
        self._batch = Batch(self._id)
        self._write_lock = anyio.Lock()
        self._last_write_s = 0.0
        self._task_group: anyio.abc.TaskGroup | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._following = True
        """False once `stop_following` was called: later changes are dropped, not written."""
        self._unwritten: list[Batch] = []
        """Batches taken from the engine but not yet committed (the journal could not be written), in order."""
        self._retry_at = 0.0
        self._rewrite_all = False
        """The journal was started afresh: the next flush writes every deck and job again."""
        self.write_problem: str | None = None
        """Why the journal cannot be written now (a full disk, ...), for clients; None while it can."""
        self.notices: list[str] = []
        """What happened to the journal while this recorder wrote to it (a damaged one set aside), for clients."""
        self.starts = starts
        """Where each attempt's start is noted until the journal has it (see runner.journal.starts)."""
        if starts is not None:
            engine.on_attempt_start = self._note_start
        engine.on_jobs_added = self.jobs_added  # a fan-out from a result, expanded

    def continue_run(self, engine_deck_name: str, run_id: str) -> None:
        """Record the deck the engine is about to load as `engine_deck_name` into the journal's existing run
        `run_id` instead of a new run: its jobs already in the run keep their history (attempts go on being
        numbered after theirs) and are queued again; jobs new to it are added. For a restarted server that
        restores an interrupted run."""
        self._continued[engine_deck_name] = run_id

    async def stop_following(self) -> None:
        """Write what the engine has done so far, then record nothing more of it. For an end of the server that
        is not a `stop` (a signal, a fatal error): the jobs the engine cancels on its way out stay running or
        queued in the journal, so the next server runs them again, exactly as after `kill -9`."""
        try:
            await self.flush()
        finally:
            self._following = False

    def name_run(self, engine_deck_name: str, run_id: str) -> None:
        """Record the deck the engine has just loaded as `engine_deck_name` as a new run with this id (a fresh
        one, unknown to the journal) rather than one of the recorder's choosing: the server names the run
        before the journal has it, to keep the deck's environment under that name (runner.journal.environments).
        Call it before the event loop moves on, so that no flush has seen the deck yet."""
        self._named[engine_deck_name] = run_id

    def run_id_of(self, engine_deck_name: str) -> str | None:
        """The journal id of the run a loaded deck is recorded as (also before the next flush records it); None
        for a deck the recorder does not journal."""
        if engine_deck_name in self._unrecorded_decks:
            return None
        return (
            self.run_ids.get(engine_deck_name)
            or self._named.get(engine_deck_name)
            or self._continued.get(engine_deck_name)
        )

    def jobs_added(self, engine_deck_name: str, jobs: list[Job]) -> None:
        """Record jobs the engine has just added to a loaded deck (`Engine.add_jobs`) in its run. Call it before the
        event loop moves on, so that their rows are written with (or before) their first changes. A deck the
        journal has not recorded yet needs nothing: its run is written with every job it has by then."""
        run_id = self.run_ids.get(engine_deck_name)
        if run_id is None:
            return
        load = _deck_load(run_id, engine_deck_name, jobs, time.time(), lazy=False)
        load.added = len(jobs)
        self._batch.loads.append(load)

    def run_id_for(self, engine_deck_name: str) -> str:
        """The journal id of the run the deck is (or will be) recorded as, chosen now if the recorder has not
        seen the deck yet: its job logs are kept under that id (runner.joblogs). A deck loaded before the
        recorder gets a fresh id the journal never hears of."""
        run_id = (
            self.run_ids.get(engine_deck_name)
            or self._continued.get(engine_deck_name)
            or self._named.get(engine_deck_name)
        )
        if run_id is None:
            run_id = new_run_id()
            if engine_deck_name not in self._unrecorded_decks:
                self._named[engine_deck_name] = run_id
        return run_id

    async def __aenter__(self) -> Recorder:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._final_flush)  # after the flush loop has ended, however it ended
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            self._task_group.start_soon(self._flush_loop)
            self._exit_stack = stack.pop_all()  # left in __aexit__
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None and self._exit_stack is not None
        self._task_group.cancel_scope.cancel()
        return await self._exit_stack.__aexit__(exc_type, exc, traceback)

    async def _final_flush(self) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(FINAL_FLUSH_TIMEOUT_S):
            await self.flush(last=True)
        if self.starts is not None:
            self.engine.on_attempt_start = None
            self.starts.close(remove=not self._unwritten)

    def _note_start(self, job: Job, attempt: Any) -> None:
        assert self.starts is not None
        run_id = self.run_ids.get(job.deck) or self._continued.get(job.deck)
        if run_id is not None:
            self.starts.note(run_id, job.spec.name, attempt.number, attempt.started_at)

    # --- following the engine ----------------------------------------------------------------------------

    def _new_decks(self, changes: list[ChangeLogEntry]) -> None:
        """Record the decks loaded since the last look. `changes`: the changes taken from the engine since the
        last look, which may concern their jobs."""
        decks = self.engine.decks
        loaded = _decks_loaded(self.engine)
        if loaded == self._decks_seen:
            return
        self._decks_seen = loaded
        for name, deck in list(decks.items()):
            if name not in self.run_ids and name not in self._unrecorded_decks:
                self._deck_loaded(name, deck, changes)

    def _deck_loaded(self, name: str, deck: Deck, changes: list[ChangeLogEntry]) -> None:
        continued = self._continued.pop(name, None)
        run_id = continued or self._named.pop(name, None) or new_run_id()
        self.run_ids[name] = run_id
        now = time.time()
        path = deck_path_key(deck.path)
        carried = self._carry_over.pop(path, None)
        if continued is not None:
            carried = None
        if continued is None:
            # The run's jobs: the deck's, and those carried over (a resumed deck leaves them out).
            job_count = len(deck.jobs) + (len(carried[1]) if carried else 0)
            self._batch.decks.append((run_id, name, path, now, os.getpid(), job_count))
        jobs = [self.engine.jobs[f"{name}/{spec.name}"] for spec in deck.jobs]
        load = _deck_load(run_id, name, jobs, now, lazy=continued is None)
        lazy = {group.group for group in load.group_specs if group.members}
        if lazy:
            self._lazy_groups[name] = lazy
        if continued is not None:
            self._continued_decks.add(name)
            load.continued = True
            _add_states_at_load(load, jobs, changes)
        self._batch.loads.append(load)
        if carried is not None:
            self._batch.carried.append((carried[0], run_id, carried[1]))

    async def _collect(self) -> Batch | None:
        """The batch to write, with the touched jobs' and attempts' rows as they are now; a fresh batch takes
        its place. None if there is nothing to write."""
        changes = self.engine.take_changes()
        if not self._following:
            return None
        if changes and self._unrecorded_decks:
            jobs = self.engine.jobs
            unrecorded = self._unrecorded_decks
            changes = [change for change in changes if jobs[change.job_id].deck not in unrecorded]
        self._new_decks(changes)
        batch = self._batch
        if not changes and not batch.loads:
            return None
        self._batch = Batch(self._id)
        batch.now = time.time()
        if changes:
            batch.changes = changes
        if self._rewrite_all:
            self._rewrite_all = False
            await self._add_job_rows(batch, self._every_job_as_changed(batch.now))
        elif changes:
            await self._add_job_rows(batch, changes)
        return batch

    def _every_job_as_changed(self, now: float) -> list[ChangeLogEntry]:
        """For a journal started afresh: every recorded job that is not merely queued, as if it had just changed
        (from its first attempt on), so that its whole row is written again."""
        recorded = set(self.run_ids)
        return [
            ChangeLogEntry(job.id, job.state, job.state, 1, None, now)
            for job in self.engine.jobs.values()
            if job.deck in recorded and (job.attempts or job.state is not JobState.QUEUED)
        ]

    async def _add_job_rows(self, batch: Batch, changes: list[ChangeLogEntry]) -> None:
        """Add the current rows of the jobs these changes touched, with their attempts, to the batch. This runs
        on the event loop, so it works a step of jobs at a time, and it lets the engine go on every
        ROWS_PER_STEP rows: a busy engine's loop hands jobs to its worker processes and threads every few
        microseconds, and holding it for a whole batch (milliseconds) would leave them idle meanwhile. A row is
        the job as it is when the row is made, so it may be ahead of the batch's changes; the next batch has the
        changes that led there."""
        jobs = self.engine.jobs
        by_deck: dict[str, JobRows] = {}
        changed = list(map(jobs.__getitem__, dict.fromkeys(map(_job_id, changes))))
        first_attempts: dict[str, int] | None = None
        for start in range(0, len(changed), ROWS_PER_STEP):
            if start:
                await anyio.lowlevel.checkpoint()
            step = changed[start : start + ROWS_PER_STEP]
            for (deck, group), part in _by_deck_and_group(step).items():
                deck_rows = by_deck.get(deck)
                if deck_rows is None:
                    deck_rows = by_deck[deck] = self._job_rows(deck)
                if _add_plain_rows(deck_rows, group, part):
                    continue
                if first_attempts is None and any(len(job.attempts) > 1 for job in part):
                    # The attempt each job was on at its first change in this batch: those from it on may have
                    # changed since the last flush (an attempt ends with a change of state, written with it).
                    first_attempts = {change.job_id: change.attempt for change in reversed(changes)}
                for job in part:
                    _add_job_row(deck_rows, job, first_attempts or {})
        batch.jobs.extend(by_deck.values())

    def _job_rows(self, deck: str) -> JobRows:
        continued = deck in self._continued_decks
        return JobRows(self.run_ids[deck], deck, continued, frozenset(self._lazy_groups.get(deck, ())))

    async def flush(self, *, last: bool = False) -> None:
        """Write what is waiting, now, on a worker thread. `last`: the recorder is done with the journal.

        A write the disk refuses (full, read-only) never fails the flush: its batch is kept and written with
        the later ones once the disk allows it (tried every WRITE_RETRY_S), and `write_problem` says so
        meanwhile. Clients are shown what the engine did all the same (`committed_revision` goes on), with that
        warning. A journal found damaged is set aside and started afresh with everything the engine holds."""
        # Shielded: once taken from the engine, the changes must be written; a cancellation (the recorder
        # closing) while the rows are made or before the worker thread starts would otherwise drop them.
        async with self._write_lock:  # one batch at a time, in order
            with anyio.CancelScope(shield=True):
                revision = self.engine.revision
                noted = None if self.starts is None else self.starts.switch()
                batch = await self._collect()
                if batch is None and last:
                    batch = Batch(self._id)
                if batch is not None:
                    batch.forget = last
                    self._unwritten.append(batch)
                if self._unwritten and (last or self.write_problem is None or time.monotonic() >= self._retry_at):
                    await self._write_unwritten()
                if self._rewrite_all:  # the journal was started afresh just now: everything goes into it at once
                    batch = await self._collect()
                    if batch is not None:
                        batch.forget = last
                        self._unwritten.append(batch)
                        await self._write_unwritten()
                if last and self._unwritten:
                    log.error("%s; the last changes are lost from the journal", self.write_problem)
                if noted is not None and not self._unwritten and self.starts is not None:
                    self.starts.committed(noted)
                self.committed_revision = revision

    async def _write_unwritten(self) -> None:
        started = time.perf_counter()
        try:
            await anyio.to_thread.run_sync(self._write_in_order)
        except (sqlite3.Error, JournalError, OSError) as failure:
            if isinstance(failure, JournalDamaged) or is_damage(failure):
                await self._start_afresh(failure)
            elif isinstance(failure, JournalError) or is_write_failure(failure):
                self._cannot_write(failure)
            else:
                raise
        else:
            self._last_write_s = time.perf_counter() - started
            if self.write_problem is not None:
                log.warning("the journal %s can be written again; every change is in it", self.journal.path)
                self.write_problem = None

    def _write_in_order(self) -> None:
        """On the worker thread: commit the unwritten batches, oldest first, each dropped once committed."""
        while self._unwritten:
            self.journal.write(self._unwritten[0])
            self._unwritten.pop(0)
            self.flushes += 1

    def _cannot_write(self, failure: BaseException) -> None:
        message = write_failure_message(self.journal.path, failure)
        if self.write_problem is None:  # logged once, not at each retry
            log.warning("%s (SQLite: %s); trying again every %g s", message, failure, WRITE_RETRY_S)
        self.write_problem = message
        self._retry_at = time.monotonic() + WRITE_RETRY_S

    async def _start_afresh(self, failure: BaseException) -> None:
        """Set the damaged journal aside, start a fresh one and have the next flush write everything into it."""
        path = self.journal.path
        damage = failure if isinstance(failure, JournalDamaged) else JournalDamaged(path, str(failure))
        try:
            kept = await anyio.to_thread.run_sync(self.journal.start_afresh)
        except (sqlite3.Error, JournalError, OSError) as cannot:
            self._cannot_write(cannot)
            return
        notice = set_aside_notice(path, kept, damage, while_running=True)
        log.warning("%s", notice)
        self.notices.append(notice)
        self._unwritten.clear()
        self.run_ids.clear()
        self._continued.clear()
        self._continued_decks.clear()
        self._lazy_groups.clear()
        self._carry_over.clear()
        self._decks_seen = -1
        self._rewrite_all = True
        self._retry_at = 0.0

    @property
    def problems(self) -> list[str]:
        """What clients must be told about the journal now."""
        return [*self.notices, *([self.write_problem] if self.write_problem else [])]

    def _interval(self) -> float:
        """How long to wait before the next flush: the flush interval, or longer while writes take long (a
        busy engine), so that fewer, bigger transactions cost it less; a busy engine makes it wait at most
        MAX_FLUSH_INTERVAL_S (a longer flush interval, as tests ask for, is kept as it is)."""
        busy = min(self._last_write_s / BUSY_WRITE_SHARE, MAX_FLUSH_INTERVAL_S)
        return max(self.flush_interval, busy)

    async def _flush_loop(self) -> None:
        # The recorder wakes on a clock, not on each change: waking a task per change would cost the event
        # loop a task switch per state change. Changes wait meanwhile in the engine's change log; each tick
        # takes them all and writes them in one transaction. With nothing new, it sleeps until the engine's
        # next change: an idle server spent 1% of a core on empty flushes, then woke 20 times a second to look.
        while True:
            await anyio.sleep(self._interval())
            if self.engine.revision == self.committed_revision and not (self._unwritten or self._rewrite_all):
                await self.engine.wait_for_change(self.committed_revision)
                continue
            await self.flush()


_deck_and_group = attrgetter("deck", "spec.group")
_job_id = attrgetter("job_id")
_name = attrgetter("name")
_spec = attrgetter("spec")
_item = attrgetter("item")
_state = attrgetter("state")
_result = attrgetter("result")
_attempts = attrgetter("attempts")
_error = attrgetter("error")
_output_total = attrgetter("output_total")
_first = itemgetter(0)
_is_not_none = partial(is_not, None)


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]  # short: it is in every row


def _decks_loaded(engine: Any) -> int:
    """How many decks the engine has ever loaded: `decks` itself shrinks when a deck is forgotten."""
    loaded: int = getattr(engine, "decks_loaded", len(engine.decks))
    return loaded


def _by_deck_and_group(jobs: list[Job]) -> dict[tuple[str, str | None], list[Job]]:
    """The jobs by deck and group; most steps of a big deck are all of one."""
    keys = list(map(_deck_and_group, jobs))
    if len(set(keys)) == 1:
        return {keys[0]: jobs}
    parts: dict[tuple[str, str | None], list[Job]] = {}
    for key, job in zip(keys, jobs, strict=True):
        parts.setdefault(key, []).append(job)
    return parts


def _add_plain_rows(deck_rows: JobRows, group: str | None, jobs: list[Job]) -> bool:
    """Add the rows of these jobs (one deck's, of one group) as plain rows if every one of them is of the
    commonest shape: one attempt, no error, no output, an item a plain row carries. False, adding nothing, if
    not. This is most of the journal's work on the event loop (once per job of a big deck), so it has no Python
    per job: each test and each field goes over all the jobs at once, in C (`map`, `attrgetter`, slices)."""
    if deck_rows.continued:
        return False
    attempts = list(map(_attempts, jobs))
    if set(map(len, attempts)) != {1} or any(map(_output_total, jobs)) or set(map(_error, jobs)) != {None}:
        return False
    specs = list(map(_spec, jobs))
    key: tuple[str, str] | None = None
    items: list[Any] | None = None
    if group in deck_rows.lazy_groups:
        items = list(map(_item, specs))
        if not _plain_row_items(items):
            return False
        key = (group, specs[0].kind)  # a fan-out's jobs are of one kind
    results = list(map(_result, jobs))
    if not _plain_results(results):
        results = list(map(json_safe_text, results))
    try:
        # Each job's attempt list: its one attempt's fields, in a 1-tuple (`zip` of one), as JSON.
        attempt_lists = list(map(bytes.decode, map(orjson.dumps, zip(map(attempt_row, map(_first, attempts))))))
    except orjson.JSONEncodeError:  # a string that is not valid Unicode: json_text in `_add_job_row` copes
        return False
    rows: list[Any] = [None] * (len(jobs) * PLAIN_ROW_FIELDS)
    rows[0::PLAIN_ROW_FIELDS] = map(_name, jobs)
    rows[1::PLAIN_ROW_FIELDS] = map(_state, jobs)
    rows[2::PLAIN_ROW_FIELDS] = results
    if items is not None:
        rows[3::PLAIN_ROW_FIELDS] = items
    rows[4::PLAIN_ROW_FIELDS] = attempt_lists
    deck_rows.plain.setdefault(key, []).extend(rows)
    return True


def _plain_row_items(items: list[Any]) -> bool:
    types = set(map(type, items))
    if types <= {str, type(None)}:
        return True
    if types == {int}:
        return fits_in_64_bits(min(items), max(items))
    return all(map(plain_row_item, items))


def _plain_results(results: list[Any]) -> bool:
    """Whether a plain row can take these results as they are (SQLite makes their JSON): ints of 64 bits
    and Nones, the commonest results; others go in as JSON made by `json_safe_text`."""
    if not set(map(type, results)) <= {int, type(None)}:
        return False
    numbers = list(filter(_is_not_none, results))
    return not numbers or fits_in_64_bits(min(numbers), max(numbers))


def _add_job_row(deck_rows: JobRows, job: Job, first_attempts: Mapping[str, int]) -> None:
    """Add the current row of one job: as a plain row when it is of that shape, else as a row of the general
    shape. `first_attempts`: the attempt each job was on at its first change in the batch (needed only for a
    job with more than one attempt)."""
    state = job.state
    attempts = job.attempts
    # A failed job's result is what its attempt still said (a shell's exit code); such a job has an error, so its
    # row is never a plain one (whose results the journal keeps only for succeeded jobs).
    result = json_safe_text(job.result) if state in RESULT_STATES else None
    tail = None
    if job.output_total and state.finished:
        lines = list(job.output)[-JOURNALED_OUTPUT_LINES:]
        tail = json_text([[line.stream, line.text] for line in lines])
    spec = job.spec
    lazy = spec.group in deck_rows.lazy_groups
    if tail is None and job.error is None and len(attempts) < 2 and not deck_rows.continued:
        attempt_list = json_text([attempt_row(attempts[0])]) if attempts else None
        if not lazy:
            deck_rows.plain.setdefault(None, []).extend((spec.name, state, result, None, attempt_list))
            return
        if plain_row_item(spec.item):
            assert spec.group is not None
            plain = deck_rows.plain.setdefault((spec.group, spec.kind), [])
            plain.extend((spec.name, state, result, spec.item, attempt_list))
            return
    first = None
    listed: list[tuple[Any, ...]] = []
    if attempts:
        first = max(1, first_attempts[job.id]) if len(attempts) > 1 else 1
        listed = list(map(attempt_row, attempts[first - 1 :]))
    key = job.id if deck_rows.continued else spec.name
    row: tuple[Any, ...] = (key, state, len(attempts), job.error, result, tail, listed, first)
    if lazy:
        row += (spec.kind, spec.group, json_safe(spec.item))
    deck_rows.rows.append(row)


def _deck_load(deck_id: str, engine_name: str, jobs: list[Job], now: float, *, lazy: bool) -> DeckLoad:
    """The rows of a newly loaded deck's jobs, in their current state (the changes that led there are written
    in the same transaction). A big fan-out's jobs share their group's spec; `lazy`: its members get their rows
    when they first change (a row per job up front would cost a big fan-out's run a second write per job)."""
    sizes = Counter(job.spec.group for job in jobs if job.spec.group is not None)
    big = {group for group, size in sizes.items() if size >= GROUP_SPEC_MIN_MEMBERS}
    firsts: dict[str, JobSpec] = {}
    lasts: dict[str, JobSpec] = {}
    members: dict[str, list[tuple[str, Any]]] = {group: [] for group in big}
    rows: list[list[Any]] = []
    for job in jobs:
        spec = job.spec
        group = spec.group
        name = job.name
        if group in big:
            assert group is not None
            firsts.setdefault(group, spec)
            lasts[group] = spec
            if lazy:
                members[group].append((name, json_safe(spec.item)))
            else:
                rows.append([name, spec.kind.value, job.state, None, group, json_safe(spec.item)])
        else:
            rows.append([name, spec.kind.value, job.state, spec_value(spec)])
    group_specs = [
        GroupSpec(group, group_spec(first, lasts[group]), first.kind.value, members[group])
        for group, first in firsts.items()
    ]
    return DeckLoad(deck_id, engine_name, now, rows, group_specs)


def _add_states_at_load(load: DeckLoad, jobs: list[Job], changes: list[ChangeLogEntry]) -> None:
    """For a continued run: each job's state when the engine loaded it (before the changes since), and how many
    attempts the engine brought back with it (rows 6 and 7), so that the journal can say how each job went on
    and number new attempts after those it has."""
    first_old = {change.job_id: change.old for change in reversed(changes)}
    started = Counter(
        change.job_id for change in changes if change.new is JobState.RUNNING and change.old is not JobState.PAUSED
    )
    for row, job in zip(load.jobs, jobs, strict=True):
        row[2] = first_old.get(job.id, job.state)
        row.extend([None] * (6 - len(row)))
        row.append(len(job.attempts) - started[job.id])
