"""`JobLogs`: what an engine hands its jobs' output to, to be kept in files (runner.joblogs.layout).

The engine tells it when an attempt starts and ends and gives it each output line (masked already), on the event
loop. Those calls only append to a buffer in memory: every FLUSH_INTERVAL_S, one task takes what every attempt
added and writes it on a worker thread, so a job that prints fast never waits for the disk, and the event loop
never does. A `kill -9` loses at most the lines of the last interval. Memory stays bounded however fast a job
prints: what the cap would cut anyway (runner.joblogs.attempt_file) is dropped from the buffer at once.

Followers wait for news of a job with `wait`; they are woken after each write, when an attempt starts or ends
and when the job finishes, never on a clock. A deck's folder goes when the deck is forgotten (`forget_deck`);
runs the journal prunes go with `remove_runs`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Collection
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from runner.joblogs.attempt_file import AttemptFile, Batch
from runner.joblogs.layout import LogPlace, make_private_folder, remove_run_folders
from runner.joblogs.records import CODE_BYTES, PREFIXES, record_size

if TYPE_CHECKING:
    from runner.model import Job

log = logging.getLogger("jobdeck.logs")

FLUSH_INTERVAL_S = 0.1
"""How long lines wait in memory before they are written: what a `kill -9` can lose at most."""
NOTE_RETRY_S = 2.0
"""While a log owes a note about lines the disk refused, how often writing it is tried again."""
DEFAULT_LIMIT_MB = 10.0
FINAL_FLUSH_TIMEOUT_S = 10.0
PENDING_LINES = 1_000
"""Lines an attempt's log holds unsorted at most: a job that outpaces the disk is cut to its cap at once. Few, as
lines may be long: 50,000 lines of a job flooding its output held 40 MB until the next flush."""
TEMPORARY_PREFIX = "jobdeck-logs-"


def limit_bytes(limit_mb: float) -> int:
    return max(int(limit_mb * 1024 * 1024), 2 * CODE_BYTES)


class AttemptLog:
    """The lines one running attempt wrote since the last flush, cut to what its cap keeps (event loop only).

    The first half of the cap is the head: lines go there until one does not fit. From then on every line goes
    to the tail, of which only the last half-cap is kept. `add` only notes each line (the engine calls it once a
    line, at full speed); the lines are sorted into head and tail, and older tail lines dropped, a batch at a time:
    at each flush, or as soon as PENDING_LINES are waiting (a disk slower than the job must not cost memory)."""

    __slots__ = (
        "bytes",
        "ended",
        "find_place",
        "head",
        "head_room",
        "in_tail",
        "job_id",
        "lines",
        "number",
        "pending",
        "place",
        "queue",
        "queued",
        "tail",
        "tail_bytes",
        "tail_limit",
        "written_lines",
    )

    def __init__(
        self, job_id: str, place: Callable[[], LogPlace], number: int, limit: int, queue: Callable[[AttemptLog], None]
    ) -> None:
        self.job_id = job_id
        self.queue = queue
        """Called with the log when it has something to write again (it is then `queued` until taken)."""
        self.find_place = place
        """Where the files go, asked (on the event loop) only once there is something to write: most tiny jobs
        write nothing, and making the path took a tenth of the event loop's time in a run of 10,000 of them."""
        self.place: LogPlace | None = None
        self.number = number
        self.head_room = limit // 2
        self.tail_limit = limit - self.head_room
        self.in_tail = False
        self.pending: list[tuple[str, str]] = []
        """(stream, text) of the lines not sorted into head and tail yet."""
        self.head: list[str] = []
        self.tail: deque[str] = deque()
        self.tail_bytes = 0
        self.lines = 0
        """Lines sorted so far (those in `pending` are not counted yet)."""
        self.bytes = 0
        self.written_lines = 0
        """Lines handed to the disk so far (written, or dropped by the cap): what followers can read."""
        self.ended = False
        self.queued = False
        """It is in its keeper's list of logs to write at the next flush."""

    def add(self, stream: str, text: str) -> None:
        """One line the attempt wrote: the engine's hot path, so as little as can be."""
        if self.ended:
            return
        pending = self.pending
        pending.append((stream, text))
        if not self.queued:
            self.queued = True
            self.queue(self)
        elif len(pending) >= PENDING_LINES:
            self.sort()

    def sort(self) -> None:
        """Sort the pending lines into head and tail as records, dropping the tail lines past the cap."""
        pending, self.pending = self.pending, []
        head, tail, prefixes = self.head, self.tail, PREFIXES
        head_room, in_tail, tail_bytes, added_bytes = self.head_room, self.in_tail, self.tail_bytes, 0
        for stream, text in pending:
            if "\n" in text:
                text = text.replace("\n", " ")
            record = prefixes.get(stream, "# ") + text + "\n"
            size = len(record) - CODE_BYTES if record.isascii() else record_size(record)
            added_bytes += size
            if not in_tail and size <= head_room:
                head.append(record)
                head_room -= size
                continue
            in_tail = True  # later lines too, even short ones: the file keeps the order they came in
            tail.append(record)
            tail_bytes += size
        limit = self.tail_limit
        while tail_bytes > limit and len(tail) > 1:
            tail_bytes -= record_size(tail.popleft())
        self.head_room, self.in_tail, self.tail_bytes = head_room, in_tail, tail_bytes
        self.lines += len(pending)
        self.bytes += added_bytes

    def take(self) -> Batch:
        self.sort()
        start = (self.bytes - self.tail_bytes, self.lines - len(self.tail))
        batch = Batch(self.head, list(self.tail), start, close=self.ended)
        self.head = []
        self.tail.clear()
        self.tail_bytes = 0
        return batch


@dataclass(frozen=True)
class Progress:
    """How far a job's logs are, for a follower to tell whether anything changed: the job's attempts and state,
    and the running attempt's lines written so far."""

    attempts: int
    state: str
    open_attempt: int
    written_lines: int


class JobLogs:
    """The job logs of one engine, in `root` (one folder per deck run). Use as `async with`; leaving writes what
    is left and closes every file (and removes `root` when it is a temporary one).

    `run_id_for(deck)` names a deck's run folder (the journal's run id, so that the history finds the files);
    without it each deck gets a random one."""

    def __init__(self, root: Path, *, run_id_for: Callable[[str], str] | None = None, temporary: bool = False) -> None:
        self.root = Path(root)
        self.temporary = temporary
        self._run_id_for = run_id_for or (lambda deck: uuid.uuid4().hex[:16])
        self._run_folders: dict[str, Path] = {}
        self._open: dict[str, AttemptLog] = {}
        """The log of each job's attempt that has not been written whole yet (by job id)."""
        self._dirty: list[AttemptLog] = []
        self._removals: list[Path] = []
        self._files: dict[tuple[str, int], AttemptFile] = {}
        """The writer's side (only ever touched inside `_write`, one flush at a time)."""
        self._owing: list[AttemptFile] = []
        """Files of ended attempts that still owe a note about lines the disk refused."""
        self._work = anyio.Event()
        self._changed: anyio.Event | None = None
        """Set when a job's logs may have changed; made only while someone waits (most runs: nobody)."""
        self._flush_lock = anyio.Lock()
        self._task_group: TaskGroup | None = None
        self._exit_stack: AsyncExitStack | None = None

    @classmethod
    def temporary_folder(cls) -> JobLogs:
        """Logs in a private temporary folder, made when the block is entered and removed when it ends: for
        engines without a journal that still show whole logs (the dashboard's own jobs)."""
        return cls(Path(tempfile.gettempdir()), temporary=True)

    async def __aenter__(self) -> JobLogs:
        if self.temporary:
            await anyio.to_thread.run_sync(remove_abandoned_folders, self.root)
            self.root = Path(tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{os.getpid()}-", dir=self.root))
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._last_flush)  # after the writing task has ended, however it ended
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            self._task_group.start_soon(self._keep_writing, name="job logs")
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> bool | None:
        assert self._task_group is not None and self._exit_stack is not None
        self._task_group.cancel_scope.cancel()
        return await self._exit_stack.__aexit__(exc_type, exc, traceback)

    async def _last_flush(self) -> None:
        """Write what is left, close every file (and remove a temporary root)."""
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(FINAL_FLUSH_TIMEOUT_S):
                for attempt in self._open.values():
                    attempt.ended = True
                    if not attempt.queued:
                        attempt.queued = True
                        self._queue(attempt)
                await self.flush()
            await anyio.to_thread.run_sync(self._close_all)

    def _close_all(self) -> None:
        for file in self._files.values():
            file.close()
        self._files.clear()
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    # --- from the engine (event loop, quick) -------------------------------------------------------------------

    def place(self, job: Job) -> LogPlace:
        """Where the job's files are (they exist once it has written something)."""
        folder = self._run_folders.get(job.deck)
        if folder is None:
            folder = self._run_folders[job.deck] = self.root / self._run_id_for(job.deck)
        return LogPlace.of(folder, job.name)

    def attempt_started(self, job: Job, number: int, limit_mb: float) -> Callable[[str, str], None]:
        """An attempt starts: returns what to call with each (stream, line) it writes."""
        attempt = self._open[job.id] = AttemptLog(
            job.id, partial(self.place, job), number, limit_bytes(limit_mb), self._queue
        )
        self._notify()
        return attempt.add

    def _queue(self, attempt: AttemptLog) -> None:
        self._dirty.append(attempt)
        self._work.set()

    def attempt_ended(self, job_id: str) -> None:
        attempt = self._open.get(job_id)
        if attempt is None:
            return
        attempt.ended = True
        if attempt.queued:
            return
        if attempt.place is None and not attempt.lines:
            # It wrote nothing, so it has no file to close: done now (a flush of 10,000 silent tiny jobs' logs
            # cost the event loop more than their writing thread saved it).
            del self._open[job_id]
            self._notify()
            return
        attempt.queued = True
        self._queue(attempt)

    def job_finished(self, job_id: str) -> None:
        self._notify()

    def forget_deck(self, deck: str) -> None:
        """The deck is forgotten: its files go (with the next write)."""
        prefix = f"{deck}/"
        forgotten = [
            self._open.pop(job_id) for job_id in [job_id for job_id in self._open if job_id.startswith(prefix)]
        ]
        if forgotten:
            self._dirty = [attempt for attempt in self._dirty if attempt not in forgotten]
        folder = self._run_folders.pop(deck, None)
        if folder is not None:
            self._removals.append(folder)
            self._work.set()
        self._notify()

    async def remove_runs(self, run_ids: Collection[str]) -> None:
        """The journal pruned these runs: their folders go now."""
        self._removals += [self.root / run_id for run_id in run_ids]
        await self.flush()

    # --- for followers --------------------------------------------------------------------------------------

    def progress(self, job: Job) -> Progress:
        attempt = self._open.get(job.id)
        open_attempt, written = (attempt.number, attempt.written_lines) if attempt is not None else (0, 0)
        return Progress(len(job.attempts), job.state.value, open_attempt, written)

    def complete(self, job: Job, attempt: int) -> bool:
        """Whether the attempt's file holds all it will ever hold: it ended, and what it wrote is on disk."""
        if attempt > len(job.attempts) or job.attempts[attempt - 1].ended_at is None:
            return False
        open_log = self._open.get(job.id)
        return open_log is None or open_log.number != attempt

    def unwritten(self, job: Job) -> str | None:
        """What the running attempt's log lacks because the disk refused it, until a note in the file says so."""
        attempt = self._open.get(job.id)
        file = None if attempt is None else self._files.get((job.id, attempt.number))
        if file is None or not file.owes_note:
            return None
        return f"{file.lost_lines:,} line(s) of output could not be written to the log ({file.lost_reason})"

    async def wait(self, condition: Callable[[], bool], timeout: float) -> None:
        """Until `condition()` holds (looked at whenever a job's logs may have changed) or `timeout` s passed."""
        with anyio.move_on_after(timeout):
            while not condition():
                if self._changed is None:
                    self._changed = anyio.Event()
                await self._changed.wait()

    def _notify(self) -> None:
        changed = self._changed
        if changed is not None:
            self._changed = None
            changed.set()

    # --- writing --------------------------------------------------------------------------------------------

    async def _keep_writing(self) -> None:
        while True:
            if self._owing:
                with anyio.move_on_after(NOTE_RETRY_S):
                    await self._work.wait()
            else:
                await self._work.wait()
            await anyio.sleep(FLUSH_INTERVAL_S)
            await self.flush()

    async def flush(self) -> None:
        """Write what is waiting now, on a worker thread."""
        async with self._flush_lock:
            self._work = anyio.Event()
            dirty, self._dirty = self._dirty, []
            for attempt in dirty:
                attempt.queued = False
            batches = [(attempt, attempt.take()) for attempt in dirty]
            for attempt, batch in batches:
                if attempt.place is None and (batch.head or batch.tail):
                    attempt.place = attempt.find_place()
            taken = [attempt.lines for attempt in dirty]  # lines added during the write wait for the next one
            removals, self._removals = self._removals, []
            if batches or removals or self._owing:
                # Shielded: once taken, the lines must be written, even if the keeper is being closed.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._write, batches, removals)
            for (attempt, batch), lines in zip(batches, taken, strict=True):
                attempt.written_lines = lines
                if batch.close and self._open.get(attempt.job_id) is attempt:
                    del self._open[attempt.job_id]
            if batches or removals:
                self._notify()

    def _write(self, batches: list[tuple[AttemptLog, Batch]], removals: list[Path]) -> None:
        """The writer's side (a worker thread): append each batch to its attempt's files, then remove folders."""
        for attempt, batch in batches:
            key = (attempt.job_id, attempt.number)
            file = self._files.get(key)
            if file is None:
                if attempt.place is None:
                    continue  # nothing written yet, so no file to open (or to close)
                file = self._files[key] = AttemptFile(attempt.place, attempt.number, attempt.tail_limit)
            try:
                file.write(batch)
            except Exception:  # a fault here must cost the log, never the job or the engine
                log.exception("could not write the log of %s (attempt %d)", attempt.job_id, attempt.number)
            if batch.close:
                del self._files[key]
                file.close()
                if file.owes_note:
                    self._owing.append(file)
        still_owing = []
        for file in self._owing:
            if file.write_note():
                file.close()
            else:
                still_owing.append(file)
        self._owing = still_owing
        if removals:
            for key in [key for key, file in self._files.items() if any(_inside(file, folder) for folder in removals)]:
                self._files.pop(key).close()
            self._owing = [file for file in self._owing if not any(_inside(file, folder) for folder in removals)]
            remove_run_folders(self.root, [folder.name for folder in removals])

    def make_root(self) -> None:
        """Make the root folder (0700) now: blocking, for a server starting up."""
        with contextlib.suppress(OSError):
            make_private_folder(self.root)


def remove_abandoned_folders(parent: Path) -> None:
    """Remove the temporary log folders that processes of this user left when they were killed (or ended at once,
    as a dashboard whose terminal closed does): those whose process is gone."""
    with contextlib.suppress(OSError), os.scandir(parent) as entries:
        for entry in entries:
            owner = entry.name.removeprefix(TEMPORARY_PREFIX).partition("-")[0]
            if entry.name.startswith(TEMPORARY_PREFIX) and owner.isdigit() and not _alive(int(owner)):
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.getuid():
                        shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _inside(file: AttemptFile, folder: Path) -> bool:
    return file.place.folder.parent == folder
