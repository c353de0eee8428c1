"""The value types of jobdeck: decks and job specs as parsed from files, and job state as the engine keeps it."""

from __future__ import annotations

import itertools
import json
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from runner.policies import HaltPolicy, RunIf


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
class HostLimits:
    """What a job file or the user config file asks of the requests to one host:port (runner.hosts); None: not said."""

    host_limit: int | None = None
    """Connections to the host at once, across every deck of the engine."""
    interval: float | None = None
    """Seconds between the starts of two requests to the host (`min_interval`, or 1 / `rate`)."""
    bandwidth: float | None = None
    """Bytes per second (a deck's: shared by its fetches; a host's: by every fetch to it)."""

    def over(self, other: HostLimits) -> HostLimits:
        """These limits, with `other`'s where these say nothing."""
        return HostLimits(
            self.host_limit if self.host_limit is not None else other.host_limit,
            self.interval if self.interval is not None else other.interval,
            self.bandwidth if self.bandwidth is not None else other.bandwidth,
        )


NO_HOST_LIMITS = HostLimits()


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
    log_limit_mb: float = 10.0
    """The output kept of each attempt of a job, in MiB (runner.joblogs): past it, the start and the end."""
    stall_timeout: float = 60.0
    """Seconds of active time a download may go without data before its attempt fails (0: never)."""
    halt: HaltPolicy | None = None
    """When to stop dispatching the deck's jobs (runner.engine.policies); None: never."""
    on_success: str | None = None
    on_failure: str | None = None
    on_finish: str | None = None
    """Shell commands run when the deck finishes: all succeeded, not all, either way (runner.engine.hooks)."""
    notify: bool = False
    """Attached dashboards ring and send a desktop notification when the deck finishes."""
    run_if_jobs: bool = False
    """Some job of the deck has `run_if` (no key: the parser sets it), so that the engine need not look at
    every job of a million-job deck to know whether the deck needs its policies (runner.engine.policies)."""
    host_limits: HostLimits = NO_HOST_LIMITS
    """The deck's `host_limit`, `rate`/`min_interval` (defaults for its fetches) and `bandwidth` (its own)."""

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
    checksum: str | None = None
    """The body's expected digest, "ALGORITHM:HEX" (runner.kinds.checksums), or None."""
    if_changed: bool = False
    """Ask with the last successful fetch's validators, and leave the saved file alone on 304."""
    stall_timeout: float | None = None
    """Seconds without data before the attempt fails (0: never); None: the deck's `stall_timeout`."""
    host_limits: HostLimits | None = None
    """The job's own `host_limit` and `rate`/`min_interval`, over its deck's; None when it sets none."""


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
    env: dict[str, str] = field(default_factory=dict)
    """Variables set for the call (runner.deck.job_environment): `${VAR}` as written until it runs."""
    cwd: Path | None = None
    """The folder the call runs in; None means `base_dir`."""

    @property
    def folder(self) -> Path:
        return self.base_dir if self.cwd is None else self.cwd

    @property
    def target(self) -> str:
        return f"{self.module}:{self.function}"


@dataclass(frozen=True)
class ShellSpec(WorkSpec):
    command: str
    cwd: Path = Path(".")
    env: dict[str, str] = field(default_factory=dict, hash=False)  # compared, not hashed: the spec stays hashable
    """Variables set for the command (runner.deck.job_environment): `${VAR}` as written until it runs."""


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
    log_limit_mb: float = 10.0
    """The output kept of each of its attempts, in MiB (the deck's `log_limit_mb` unless the job sets one)."""
    run_if: RunIf | None = None
    """Written `run_if`: the job waits for all of `after` (without `after`: the rest of the deck) to finish and
    runs as it says, also after a halt. None: the job runs only once `after` all succeeded."""
    on_failure: str | None = None
    """A shell command run when the job fails (runner.engine.hooks)."""

    @property
    def outline(self) -> WorkSpec:
        """The job's work as far as it is the same for every item of its fan-out (where a call runs, a shell's
        folder): what the engine needs to place a queued job without making its work (see MemberSpec)."""
        return self.work

    def drop_work(self) -> None:
        """Let the job's work spec go until it is needed again; see MemberSpec."""

    def keep_work(self) -> None:
        """Hold the job's work spec while an attempt runs; see MemberSpec."""

    def with_after(self, after: tuple[str, ...]) -> JobSpec:
        return replaced(self, after=after)


class FanOut:
    """What the members of one fan-out share: every field of their JobSpecs but the name, item and work.

    `refill(template, item)` makes an item's work from the kind's template, without checks, exactly as the
    kind made it at load; None when the kind keeps each member's work (see runner.kinds.spec.KindSpec.refill).
    """

    __slots__ = (
        "after",
        "backoff",
        "kind",
        "line",
        "log_limit_mb",
        "name",
        "on_failure",
        "refill",
        "retries",
        "run_if",
        "template",
        "timeout",
    )

    def __init__(
        self,
        *,
        name: str,
        kind: Kind,
        after: tuple[str, ...],
        retries: int,
        backoff: float,
        timeout: float,
        line: int | None,
        template: Any,
        refill: Callable[[Any, Any], WorkSpec] | None,
        log_limit_mb: float = 10.0,
        run_if: RunIf | None = None,
        on_failure: str | None = None,
    ) -> None:
        self.name = name
        self.log_limit_mb = log_limit_mb
        self.run_if = run_if
        self.on_failure = on_failure
        self.kind = kind
        self.after = after
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.line = line
        self.template = template
        self.refill = refill

    def with_after(self, after: tuple[str, ...]) -> FanOut:
        """The same fan-out, waiting for `after` instead: every other field copied, whatever fields it gains."""
        copy = object.__new__(FanOut)
        for name in FanOut.__slots__:
            setattr(copy, name, getattr(self, name))
        copy.after = after
        return copy

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in FanOut.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FanOut) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash((self.name, self.kind, self.after, self.line))


class MemberSpec(JobSpec):
    """One job of a fan-out: its name and item, the rest read from its FanOut.

    The same fields as any JobSpec, at a fraction of the memory: a server keeps a million of them. When the
    kind can make an item's work from its template (FanOut.refill), a member holds its work spec only while an
    attempt runs (`keep_work` .. `drop_work`) and makes it anew whenever else it is read (the detail view,
    status); the engine places queued jobs by their `outline`.
    """

    __slots__ = ("_work", "fan_out", "item")
    # Set once, in __init__ (and `_work` by keep/drop_work only): like the JobSpec dataclass, a MemberSpec is
    # immutable to its readers.

    def __init__(self, fan_out: FanOut, item: Any, work: WorkSpec | None) -> None:
        """`work` may be None only when the fan-out can refill it."""
        _set = object.__setattr__
        _set(self, "fan_out", fan_out)
        _set(self, "item", item)
        _set(self, "_work", work)

    @property  # type: ignore[override]
    def name(self) -> str:
        """`page[2]`: made when asked, as the parser named the member (a name kept per job cost 60 bytes)."""
        return f"{self.fan_out.name}[{item_text(self.item)}]"

    @property  # type: ignore[override]
    def work(self) -> WorkSpec:
        work = self._work
        if work is None:
            fan_out = self.fan_out
            assert fan_out.refill is not None  # the work is let go only when it can be made again
            return fan_out.refill(fan_out.template, self.item)
        return work

    @property
    def outline(self) -> WorkSpec:
        work = self._work
        return self.fan_out.template if work is None else work

    @property  # type: ignore[override]
    def kind(self) -> Kind:
        return self.fan_out.kind

    @property  # type: ignore[override]
    def after(self) -> tuple[str, ...]:
        return self.fan_out.after

    @property  # type: ignore[override]
    def retries(self) -> int:
        return self.fan_out.retries

    @property  # type: ignore[override]
    def backoff(self) -> float:
        return self.fan_out.backoff

    @property  # type: ignore[override]
    def timeout(self) -> float:
        return self.fan_out.timeout

    @property  # type: ignore[override]
    def line(self) -> int | None:
        return self.fan_out.line

    @property  # type: ignore[override]
    def log_limit_mb(self) -> float:
        return self.fan_out.log_limit_mb

    @property  # type: ignore[override]
    def group(self) -> str | None:
        return self.fan_out.name

    @property  # type: ignore[override]
    def run_if(self) -> RunIf | None:
        return self.fan_out.run_if

    @property  # type: ignore[override]
    def on_failure(self) -> str | None:
        return self.fan_out.on_failure

    def drop_work(self) -> None:
        if self.fan_out.refill is not None:
            object.__setattr__(self, "_work", None)

    def keep_work(self) -> None:
        if self._work is None:
            object.__setattr__(self, "_work", self.work)

    def __eq__(self, other: object) -> bool:
        # A refillable member's work follows from its fan-out's template and its item: compared without
        # making it (a repeated submit of a million-item deck compares every member).
        if not isinstance(other, MemberSpec):
            return NotImplemented
        # The item's type too: item 1 and item true (or 1.0) are equal in Python but make other jobs.
        item, other_item = self.item, other.item
        if type(item) is not type(other_item) or item != other_item or self.fan_out != other.fan_out:
            return False
        return self.fan_out.refill is not None or self._work == other._work

    def __hash__(self) -> int:
        return hash((self.fan_out.name, item_text(self.item)))

    def with_after(self, after: tuple[str, ...]) -> JobSpec:
        return JobSpec(
            name=self.name,
            kind=self.kind,
            work=self.work,
            after=after,
            retries=self.retries,
            backoff=self.backoff,
            timeout=self.timeout,
            line=self.line,
            group=self.group,
            item=self.item,
            log_limit_mb=self.log_limit_mb,
            run_if=self.run_if,
            on_failure=self.on_failure,
        )


def item_text(item: Any) -> str:
    """A fan-out item as it appears in names and filled-in text: TOML's spelling of booleans, str() of the rest;
    a table item by its `name` field when it has a plain one, else as compact JSON."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, dict):
        name = item.get("name")
        if isinstance(name, str | int | float | bool):
            return item_text(name)
        return json.dumps(item, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(item)


SpecT = TypeVar("SpecT")
FieldT = TypeVar("FieldT")


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


class _KeptInExtras(Generic[FieldT]):
    """A field of Job kept in its JobExtras: it reads `empty` while the job has none, and setting it to `empty`
    makes none."""

    def __init__(self, empty: FieldT) -> None:
        self.empty = empty

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, job: Job | None, owner: type | None = None) -> FieldT:
        if job is None:
            return self  # type: ignore[return-value]  # read on the class: the descriptor itself
        extras = job._extras
        return self.empty if extras is None else getattr(extras, self.name)

    def __set__(self, job: Job, value: FieldT) -> None:
        if value != self.empty or job._extras is not None:
            setattr(job._more(), self.name, value)


@dataclass(slots=True)
class JobExtras:
    """The parts of a Job that most jobs never use, kept apart so that those jobs do not pay for them."""

    traceback: str | None = None
    progress: Progress | None = None
    note: str | None = None
    output_total: int = 0
    output: deque[OutputLine] | None = None
    status: str | None = None


@dataclass(slots=True)
class Job(AttemptsMixin):
    """A job as the engine runs it. Only the engine mutates it; observers read or copy.

    Slotted, and what most jobs never have (a traceback, progress, a note, output) is kept in a JobExtras made
    only when one of them is first set: a server may keep a million jobs (an empty output tail alone cost 600
    bytes, the five fields 40)."""

    id: str
    deck: str
    spec: JobSpec
    state: JobState = JobState.QUEUED
    attempts: list[Attempt] = field(default_factory=list)
    result: Any = None
    error: str | None = None
    order: int = 0
    """Position in load order across all decks."""
    finished_seq: int = 0
    """Orders jobs by when they last finished: the engine revision of that change (0 while not finished)."""
    revision: int = 0
    """The engine revision at this job's last change."""
    _extras: JobExtras | None = field(default=None, repr=False)

    def _more(self) -> JobExtras:
        extras = self._extras
        if extras is None:
            extras = self._extras = JobExtras()
        return extras

    traceback = _KeptInExtras[str | None](None)
    progress = _KeptInExtras[Progress | None](None)
    note = _KeptInExtras[str | None](None)
    """A short honest remark for the UI, e.g. that a thread job stops only at its next checkpoint."""
    output_total = _KeptInExtras[int](0)
    """Lines of output ever added (the tail keeps the last OUTPUT_TAIL_LINES): a viewer's cursor into it."""
    status = _KeptInExtras[str | None](None)
    """What the running attempt says it is doing (a shell job's JOBDECK_STATUS), secrets masked; None: nothing."""

    @property
    def output(self) -> deque[OutputLine]:
        """The last OUTPUT_TAIL_LINES lines of output (made on first use: test `output_total` to ask if any)."""
        extras = self._more()
        tail = extras.output
        if tail is None:
            tail = extras.output = deque(maxlen=OUTPUT_TAIL_LINES)
        return tail

    @output.setter
    def output(self, tail: deque[OutputLine]) -> None:
        self._more().output = tail

    @property
    def last_output(self) -> str | None:
        """The start of the last line the job's work wrote (stdout or stderr, not the engine's notes), or None."""
        tail = None if self._extras is None else self._extras.output
        if not tail:
            return None
        for line in itertools.islice(reversed(tail), 20):
            if line.stream != "log":
                return line.text[:LAST_OUTPUT_CHARS]
        return None

    @property
    def name(self) -> str:
        """Cut from the id (`deck/name`): a fan-out member's spec makes its name anew each time it is asked."""
        return self.id[len(self.deck) + 1 :]

    @property
    def result_type(self) -> str:
        return type(self.result).__name__

    @property
    def kind(self) -> Kind:
        return self.spec.kind
