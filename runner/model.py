"""The value types of jobdeck: decks and job specs as parsed from files, and job state as the engine keeps it."""

from __future__ import annotations

import itertools
import os
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED})


class Kind(StrEnum):
    """The key that names a job's work in a job file; each has its KindSpec in runner.kinds.registry."""

    FETCH = "fetch"
    CALL = "call"
    SHELL = "shell"


def default_cpu_limit() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    """The `[deck]` table of a job file, with defaults filled in."""

    name: str
    fetch_limit: int = 10
    process_limit: int = field(default_factory=default_cpu_limit)
    thread_limit: int = 8
    shell_limit: int = field(default_factory=default_cpu_limit)
    retries: int = 0
    backoff: float = 1.0
    timeout: float = 0.0
    out_dir: Path = Path(".")
    dask: str | None = None
    """The deck's Dask cluster for `on = "dask"` calls: a scheduler address ("tcp://host:8786") or "local"."""
    dask_limit: int | None = None
    """Dask calls of this deck submitted at once; None means `process_limit`."""
    result_limit_mb: int = 1024
    """A job whose result's JSON is larger than this (MiB) fails; large results are kept in files."""

    @property
    def dask_slots(self) -> int:
        return self.dask_limit if self.dask_limit is not None else self.process_limit


@dataclass(frozen=True)
class WorkSpec:
    """What one job does, as its kind describes it; each kind has its own subclass.

    The built-in kinds' specs live here, not with their kinds (runner.kinds.registry), because the worker
    pool, the Dask client and the server use them and sit below runner.kinds; a new kind can keep its own.
    """


@dataclass(frozen=True)
class FetchSpec(WorkSpec):
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    """Header templates as written; `${VAR}` is expanded from the environment only when the request is sent."""
    body: str | None = None
    save: Path | None = None
    """Absolute path inside the deck's out_dir, or None to discard the body."""
    expect: frozenset[int] | None = None
    """Statuses that count as success; None means any 2xx."""


@dataclass(frozen=True)
class CallSpec(WorkSpec):
    module: str
    function: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    on: str = "process"
    """"process", "thread" or "dask"."""
    base_dir: Path = Path(".")
    """The job file's folder: the module is looked up here before sys.path."""
    cluster: str | None = None
    """For `on = "dask://host:port"`: that scheduler's address ("tcp://host:port"); None means the deck's cluster."""

    @property
    def target(self) -> str:
        return f"{self.module}:{self.function}"


@dataclass(frozen=True)
class ShellSpec(WorkSpec):
    command: str
    cwd: Path = Path(".")


@dataclass(frozen=True)
class JobSpec:
    """One job as the file describes it, after fan-out: `page[2]` is its own JobSpec."""

    name: str
    kind: Kind
    work: WorkSpec
    after: tuple[str, ...] = ()
    """Names of the concrete jobs this one waits for (a fan-out name is already expanded to its items)."""
    retries: int = 0
    backoff: float = 1.0
    timeout: float = 0.0
    """Per-attempt limit in seconds of active (unpaused) time; 0 means none."""
    line: int | None = None
    """Line of the job's `[[job]]` header in the file, for messages."""
    group: str | None = None
    """The fan-out name (`page` for `page[2]`), or None."""
    item: Any = None


SpecT = TypeVar("SpecT")


def replaced(spec: SpecT, **changes: Any) -> SpecT:
    """`dataclasses.replace` for the spec classes above, about five times faster.

    The frozen dataclass __init__ sets each field through object.__setattr__, which is most of the cost of a
    100,000-item fan-out. This copies the fields of `spec` and sets `changes` on the copy: the same fields, in
    the same order, as `replace` gives (the spec classes have no __post_init__ and no init=False fields).
    """
    values = spec.__dict__
    copy = object.__new__(type(spec))
    copy_values = copy.__dict__
    copy_values.update(values)
    copy_values.update(changes)
    if len(copy_values) != len(values):  # a change named no field
        raise TypeError(f"{type(spec).__name__} has no field {sorted(changes.keys() - values.keys())[0]!r}")
    return copy


@dataclass(frozen=True)
class Deck:
    name: str
    path: Path
    settings: Settings
    jobs: tuple[JobSpec, ...]


@dataclass(slots=True)
class Attempt:
    number: int
    started_at: float
    """Wall-clock time (time.time())."""
    ended_at: float | None = None
    outcome: JobState | None = None
    error: str | None = None
    active_s: float = 0.0
    """Seconds the attempt spent running, not paused, up to its last pause (or its end)."""
    running_since: float | None = None
    """Wall-clock time the attempt last started or resumed running; None while paused and once ended."""
    worker: str | None = None
    """Where the attempt runs, for kinds that run jobs elsewhere (a Dask worker's address); None otherwise."""

    def active_seconds(self, now: float) -> float:
        """Active seconds so far, counting the current stretch of running if there is one."""
        if self.running_since is None:
            return self.active_s
        return self.active_s + max(0.0, now - self.running_since)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "outcome": self.outcome.value if self.outcome else None,
            "error": self.error,
            "active_s": round(self.active_s, 6),
            "worker": self.worker,
        }


@dataclass
class RestoredJob:
    """A job's state as a journal recorded it, for a deck restored after a restart."""

    state: JobState
    """A finished state stays as it is; any other means the job is queued again."""
    attempts: list[Attempt] = field(default_factory=list)
    error: str | None = None
    result: Any = None
    output: list[OutputLine] = field(default_factory=list)
    note: str | None = None


@dataclass
class Progress:
    done: float
    total: float | None = None
    unit: str = ""
    """"bytes" for fetches, "" for a plain count or fraction."""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


OUTPUT_TAIL_LINES = 2000
OUTPUT_LINE_CHARS = 4000
LAST_OUTPUT_CHARS = 200
"""How much of a job's last output line its `last_output` (a pane's row, a snapshot on the wire) carries."""


@dataclass
class OutputLine:
    stream: str
    """"stdout" or "stderr" (or "log" for engine notes)."""
    text: str


class AttemptsMixin:
    """What a job's attempts say, for a Job and for a client's view of one (runner.server.protocol.JobView)."""

    __slots__ = ()
    attempts: list[Attempt]

    @property
    def current_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def attempt_running(self) -> bool:
        """An attempt is under way (running or suspended), as opposed to the job waiting its turn."""
        attempt = self.current_attempt
        return attempt is not None and attempt.ended_at is None

    @property
    def duration_s(self) -> float | None:
        """Active seconds of the last attempt (so far, if it is still running)."""
        attempt = self.current_attempt
        return attempt.active_s if attempt else None


@dataclass(slots=True)
class Job(AttemptsMixin):
    """A job as the engine runs it. Only the engine mutates it; observers read or copy.

    Slotted, and its output tail is made only when its first line arrives: a server may keep a million of them
    (an empty tail alone cost 600 bytes)."""

    id: str
    deck: str
    spec: JobSpec
    state: JobState = JobState.QUEUED
    attempts: list[Attempt] = field(default_factory=list)
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    progress: Progress | None = None
    note: str | None = None
    """A short honest remark for the UI, e.g. that a thread job stops only at its next checkpoint."""
    order: int = 0
    """Position in load order across all decks."""
    finished_seq: int = 0
    """Order in which the job last finished (0 while not finished)."""
    revision: int = 0
    """The engine revision at this job's last change."""
    output_total: int = 0
    """Lines of output ever added (the tail keeps the last OUTPUT_TAIL_LINES): a viewer's cursor into it."""
    _output: deque[OutputLine] | None = field(default=None, repr=False)

    @property
    def output(self) -> deque[OutputLine]:
        """The last OUTPUT_TAIL_LINES lines of output (made on first use: test `output_total` to ask if any)."""
        tail = self._output
        if tail is None:
            tail = self._output = deque(maxlen=OUTPUT_TAIL_LINES)
        return tail

    @output.setter
    def output(self, tail: deque[OutputLine]) -> None:
        self._output = tail

    @property
    def last_output(self) -> str | None:
        """The start of the last line the job's work wrote (stdout or stderr, not the engine's notes), or None."""
        tail = self._output
        if not tail:
            return None
        for line in itertools.islice(reversed(tail), 20):
            if line.stream != "log":
                return line.text[:LAST_OUTPUT_CHARS]
        return None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def result_type(self) -> str:
        return type(self.result).__name__

    @property
    def kind(self) -> Kind:
        return self.spec.kind
