"""The messages of the jobdeck protocol: typed requests, the reply each one gets, and the engine commands.

A request travels as `{"id", "op", "args"}`: `op` names its type (`Request.op`) and `args` holds its fields.
The answer is `{"id", "ok": true, "result"}`, where `result` is the request's `reply_type`, or
`{"id", "ok": false, "error": {"kind", "message"}}` (a refused deck adds `problems`). Every connection starts
with `Hello`, carrying `protocol` (PROTOCOL_VERSION) and `version` (jobdeck's version); a server of another
protocol answers with a `version` error naming both. Frames are described in runner.server.framing.

A new request is a dataclass here (with its `op` and `reply_type`), listed in REQUESTS, and its handler in
the server's table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from runner.errors import Problem
from runner.model import OutputLine
from runner.server.framing import ProtocolError
from runner.server.previews import cut_text
from runner.server.protocol_version import PROTOCOL_VERSION
from runner.server.views import JobWire, OutputChunk
from runner.server.wire import WireError, from_wire, to_wire
from runner.umask import valid_umask
from runner.version import installed_version

FAILURE_MESSAGE_BYTES = 64 * 1024


def version_mismatch(client_protocol: Any, client_version: Any) -> str:
    return (
        f"protocol mismatch: this jobdeck server speaks protocol {PROTOCOL_VERSION} (jobdeck {installed_version()}), "
        f"the client speaks protocol {client_protocol} (jobdeck {client_version}); "
        "stop the server with `jobdeck stop-server` and try again (a jobdeck speaking protocol 6 or later stops a "
        "server of any version; an older one, only a server of its own)"
    )


class Command(StrEnum):
    """What a client may ask of the engine. The engine has a coroutine method of each name (the server calls
    it by that name); a job command takes the job's id, the others act on every job."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    RETRY = "retry"
    PAUSE_ALL = "pause_all"
    RESUME_ALL = "resume_all"
    RETRY_FAILED = "retry_failed"
    CANCEL_ALL = "cancel_all"

    @property
    def takes_job(self) -> bool:
        return self in JOB_COMMANDS


JOB_COMMANDS = frozenset({Command.PAUSE, Command.RESUME, Command.CANCEL, Command.RETRY})


# --- replies -------------------------------------------------------------------------------------------------


@dataclass
class ServerInfo:
    pid: int
    version: str
    protocol: int
    socket: str
    journal: str | None = None
    restored: list[str] = field(default_factory=list)
    """What start-up brought back from the journal, or could not, as lines for the status."""
    journal_problems: list[str] = field(default_factory=list)
    """What is wrong with the journal now (it cannot be written), or went wrong with it while this server ran (a
    damaged one set aside): what a user must know, as lines for the status."""


@dataclass
class HelloReply:
    server: ServerInfo


@dataclass
class LoadReply:
    """The loaded deck's name and how many jobs it has (not their ids: a deck may have more than a reply holds);
    `repeats` names an earlier deck from the same file with the same jobs, when one is loaded."""

    deck: str
    jobs: int
    repeats: str | None = None


@dataclass
class SnapshotReply:
    """The jobs changed since the revision asked about (oldest change first); with `more`, some were left for
    the next reply, which asks from `revision` again."""

    jobs: list[JobWire]
    more: bool
    revision: int
    decks: dict[str, str]
    dispatching: bool
    counts: dict[str, int]
    kinds: list[str] = field(default_factory=list)
    # --- policies ---
    halted: dict[str, str] = field(default_factory=dict)
    """Decks whose dispatching a `halt` stopped, with why (`halted: 3 jobs failed`)."""
    endings: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Decks with `notify = true` that have finished: their latest end (runner.policies.DeckEnding)."""
    """The job kinds' one-line statuses (a Dask cluster, say)."""


@dataclass
class SpecLines:
    """A job's spec as the detail view shows it: (key, value) lines, secrets redacted."""

    lines: list[tuple[str, str]]


@dataclass
class HistoryReply:
    """Earlier deck runs from the journal (`runs`, and the `journal`'s path: None without one), or, when one
    run was asked for, its jobs (`jobs`). The runs and jobs are the journal's records (runner.journal.recovery)."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    journal: str | None = None
    jobs: list[dict[str, Any]] = field(default_factory=list)
    next: int | None = None
    """Where the run's next page of jobs starts (None: no more)."""


@dataclass
class DeckStatus:
    """A loaded deck as the status lists it: its jobs come with `StatusJobs`, a page at a time."""

    deck: str
    path: str
    jobs: int
    counts: dict[str, int]
    """How many of its jobs are in each state (by the state's value, in JobState's order; none: left out)."""
    started_at: float | None = None
    """When its first attempt started (time.time()); None before any has."""
    ended_at: float | None = None
    """When its last attempt ended, once every job has finished; None until then."""
    note: str | None = None
    """Said of the deck besides its jobs (it runs with the server's environment, its own being lost)."""
    eta_s: float | None = None
    """Seconds until its jobs have all ended, as the dashboard estimates it (runner.engine.estimate); None when
    it cannot be told, or every job has finished."""
    # --- policies ---
    halted: str | None = None
    """Why a `halt` stopped dispatching its jobs (`halted: 3 jobs failed`); None while it has not."""
    hooks: list[str] = field(default_factory=list)
    """How its latest hooks ended (`on_finish hook exited with status 0`), the latest last."""


@dataclass
class StatusReply:
    """The server, and the loaded decks from number `start` on, as many as fit in a reply; `next` is the
    number to ask from for the rest (None: no more)."""

    server: ServerInfo
    decks: list[DeckStatus]
    next: int | None = None
    waiting: list[dict[str, Any]] = field(default_factory=list)
    """On the first page: the decks restored from the journal that wait for their environment (lost at a
    reboot), each with its `waiting_for` variables and the `note` that says how to supply them."""


@dataclass
class StatusRows:
    """Jobs of one deck, in deck order, as `jobdeck run --json` reports them (a large result as a preview
    string, its full size in `result_bytes`); `next` is the job number to ask from for the rest (None: no more)."""

    rows: list[dict[str, Any]]
    next: int | None = None


@dataclass
class StopReply:
    cancelled: int


@dataclass
class Failure:
    """A refused request: `kind` says why (version, bad_message, bad_request, too_large, forbidden, deck,
    already_loaded, command, internal); a refused deck says what is wrong with it in `problems`."""

    kind: str
    message: str
    problems: list[Problem] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.problems is not None:
            data["problems"] = [problem_to_dict(problem) for problem in self.problems]
        return data


# --- requests ------------------------------------------------------------------------------------------------

ReplyT = TypeVar("ReplyT")


@dataclass(frozen=True)
class Request(Generic[ReplyT]):
    op: ClassVar[str]
    reply_type: ClassVar[Any]
    """The type of the reply's `result`."""


@dataclass(frozen=True)
class Hello(Request[HelloReply]):
    """The first request of every connection. Its fields are read untyped: a client of any protocol must be
    understood well enough to be told that it speaks another."""

    op = "hello"
    reply_type = HelloReply
    protocol: Any = None
    version: Any = None

    @classmethod
    def ours(cls) -> Hello:
        return cls(protocol=PROTOCOL_VERSION, version=installed_version())


@dataclass(frozen=True)
class Load(Request[LoadReply]):
    """Load a job file (by its absolute path) into the server, expanded with `environ` (the client's
    environment) when given; its jobs run with that environment and with `umask` (the client's) when given."""

    op = "load"
    reply_type = LoadReply
    path: str
    environ: dict[str, str] | None = None
    umask: int | None = None
    again: bool = False
    """Load it even when the same file's same jobs are loaded and unfinished (else refused: `already_loaded`)."""

    def __post_init__(self) -> None:
        if not os.path.isabs(self.path):
            raise ValueError("load needs an absolute path")
        if self.umask is not None:
            valid_umask(self.umask)


@dataclass(frozen=True)
class RunCommand(Request[int | None]):
    """Run an engine command; `job` names the job of a job command. The reply is the engine method's
    (how many jobs `retry_failed` queued again; None for the others)."""

    op = "command"
    reply_type = int | None
    command: Command
    job: str | None = None

    def __post_init__(self) -> None:
        if self.command.takes_job and self.job is None:
            raise ValueError(f"{self.command} needs a job id")


@dataclass(frozen=True)
class Snapshot(Request[SnapshotReply]):
    """The jobs changed after revision `since` (0: every job)."""

    op = "snapshot"
    reply_type = SnapshotReply
    since: int = 0


@dataclass(frozen=True)
class Output(Request[OutputChunk]):
    """A job's output lines from line number `after` on, as far as its tail still holds them."""

    op = "output"
    reply_type = OutputChunk
    job: str
    after: int = 0


@dataclass(frozen=True)
class Spec(Request[SpecLines]):
    op = "spec"
    reply_type = SpecLines
    job: str


@dataclass(frozen=True)
class History(Request[HistoryReply]):
    """The journal's earlier runs, or (with `run`, a journal run id) that run's jobs."""

    op = "history"
    reply_type = HistoryReply
    run: str | None = None
    start: int = 0
    """With `run`: the job number its page of jobs starts at."""


@dataclass(frozen=True)
class Status(Request[StatusReply]):
    """The server and its decks (from deck number `start` on); their jobs come with StatusJobs."""

    op = "status"
    reply_type = StatusReply
    start: int = 0


@dataclass(frozen=True)
class StatusJobs(Request[StatusRows]):
    """A page of one deck's job rows, from job number `start` on."""

    op = "status_jobs"
    reply_type = StatusRows
    deck: str
    start: int = 0
    states: list[str] | None = None
    """Only the jobs in these states (JobState values); None: every job."""


@dataclass(frozen=True)
class Stop(Request[StopReply]):
    """Cancel every job, wait (bounded) for them to end, then stop the server."""

    op = "stop"
    reply_type = StopReply


@dataclass
class EnvironmentReply:
    """What supplying a deck's environment did, in a sentence; `jobs`: how many of its jobs are still to run."""

    deck: str
    message: str
    jobs: int = 0


@dataclass(frozen=True)
class SupplyEnvironment(Request[EnvironmentReply]):
    """Give a deck the client's environment and umask: a restored deck that waits for its environment (lost
    at a restart) loads and runs; a loaded one runs its next attempts with it."""

    op = "environment"
    reply_type = EnvironmentReply
    deck: str
    environ: dict[str, str]
    umask: int | None = None

    def __post_init__(self) -> None:
        if self.umask is not None:
            valid_umask(self.umask)


@dataclass
class ForgetReply:
    """The decks forgotten, and how many jobs they had."""

    decks: list[str]
    jobs: int


@dataclass(frozen=True)
class Forget(Request[ForgetReply]):
    """Drop a finished deck (`deck`), or every finished deck (`finished`), from the server's memory; the journal
    keeps their history. A deck with unfinished jobs is refused (a `command` error)."""

    op = "forget"
    reply_type = ForgetReply
    deck: str | None = None
    finished: bool = False

    def __post_init__(self) -> None:
        if (self.deck is None) == (not self.finished):
            raise ValueError("forget needs either a deck or finished, not both")


REQUESTS: dict[str, type[Request[Any]]] = {
    kind.op: kind
    for kind in (
        Hello,
        Load,
        RunCommand,
        Snapshot,
        Output,
        Spec,
        History,
        Status,
        Stop,
        StatusJobs,
        SupplyEnvironment,
        Forget,
    )
}


# --- envelopes -----------------------------------------------------------------------------------------------


def request_message(request_id: int, request: Request[Any]) -> dict[str, Any]:
    return {"id": request_id, "op": request.op, "args": to_wire(request)}


def parse_request(message: dict[str, Any]) -> Request[Any]:
    """The typed request of a received message; ProtocolError (bad_request) when it names no known request
    or its args do not fit."""
    op, args = message.get("op"), message.get("args", {})
    kind = REQUESTS.get(op) if isinstance(op, str) else None
    if kind is None:
        raise ProtocolError("bad_request", f"unknown op {op!r}; known: {', '.join(sorted(REQUESTS))}")
    if not isinstance(args, dict):
        raise ProtocolError("bad_request", "args must be an object")
    try:
        request: Request[Any] = from_wire(kind, args, op)
    except WireError as bad:
        raise ProtocolError("bad_request", str(bad)) from None
    return request


def reply_message(request_id: Any, result: Any) -> dict[str, Any]:
    return {"id": request_id, "ok": True, "result": to_wire(result)}


def failure_message(request_id: Any, failure: Failure) -> dict[str, Any]:
    error = failure.to_dict()
    error["message"] = cut_text(failure.message, FAILURE_MESSAGE_BYTES)  # it may quote what the client sent
    return {"id": request_id, "ok": False, "error": error}


def read_result(request: Request[ReplyT], result: Any) -> ReplyT:
    """The reply to `request`, read from the `result` the server sent."""
    reply: ReplyT = from_wire(request.reply_type, result, f"{request.op} reply")
    return reply


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    data: dict[str, Any] = to_wire(problem)
    return data


def problem_from_dict(data: dict[str, Any]) -> Problem:
    problem: Problem = from_wire(Problem, data, "problem")
    return problem


# --- control ---------------------------------------------------------------------------------------------------

ADDED_DECK = "adhoc"
"""The deck `jobdeck add` adds to when given none (made on first use)."""


@dataclass
class AddReply:
    """The job added (`deck/name`), its deck, and whether that deck was started for it."""

    job: str
    deck: str
    name: str
    created: bool = False


@dataclass(frozen=True)
class Add(Request[AddReply]):
    """Add one job to a deck (`jobdeck add`), as a `[[job]]` of a job file in `folder` would be: a shell command
    line (`shell`), or a call (`call` = "module:function", with `args` and `kwargs`). It runs with `environ` and
    `umask` (the client's). `deck`: a loaded deck, or the name of one to start (None: ADDED_DECK); `after`: jobs
    of that deck (`name`, a fan-out's name, or `deck/name`) it waits for; `retries` and `timeout`: None takes
    the deck's defaults. The reply comes once the journal has the job: it survives `kill -9` from then on."""

    op = "add"
    reply_type = AddReply
    folder: str
    environ: dict[str, str]
    umask: int | None = None
    deck: str | None = None
    name: str | None = None
    shell: str | None = None
    call: str | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)
    retries: int | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        if (self.shell is None) == (self.call is None):
            raise ValueError("add needs either shell or call, not both")
        if self.shell is not None and (self.args or self.kwargs):
            raise ValueError("args and kwargs are for a call")
        if not os.path.isabs(self.folder):
            raise ValueError("add needs an absolute folder")
        if self.umask is not None:
            valid_umask(self.umask)
        if self.retries is not None and self.retries < 0:
            raise ValueError("retries must be 0 or more")
        if self.timeout is not None and not 0 <= self.timeout < float("inf"):
            raise ValueError("timeout must be a number of seconds, 0 or more")


@dataclass
class ControlledJob:
    """A selected job: whether the action was done to it, and its state now (or the state it was left in)."""

    job: str
    done: bool
    state: str


@dataclass
class ControlReply:
    """What one `control` did: `matched` jobs, `done` of them acted upon; `jobs` lists the first of them in deck
    order (all when few), `states` counts every one by (done, state) as "done:state" keys; `unmatched` names the
    JOB arguments and `unknown_decks` the decks that matched nothing."""

    action: Command
    matched: int
    done: int
    jobs: list[ControlledJob]
    states: dict[str, int]
    unmatched: list[str] = field(default_factory=list)
    unknown_decks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Control(Request[ControlReply]):
    """Pause, resume, cancel or retry every job the selection matches, in one request: `jobs` are names,
    `deck/name`, or globs (`*` and `?`; brackets are literal, as in `page[*]`; a job named exactly as written wins;
    runner.server.selection); `decks` and `failed` narrow the selection (alone, they select every job of those
    decks / every failed job); `every` selects all jobs. A selected job the action does not apply to is reported,
    not an error. A cancel replies once the jobs it stopped have ended (at most their grace period and a little
    more)."""

    op = "control"
    reply_type = ControlReply
    action: Command
    jobs: list[str] = field(default_factory=list)
    decks: list[str] = field(default_factory=list)
    failed: bool = False
    every: bool = False

    def __post_init__(self) -> None:
        if not self.action.takes_job:
            raise ValueError(f"{self.action} is not a job command")
        if not (self.jobs or self.decks or self.failed or self.every):
            raise ValueError("control needs jobs, decks, failed or every")
        if self.every and self.jobs:
            raise ValueError("every selects all jobs: give no job names with it")


REQUESTS.update({kind.op: kind for kind in (Add, Control)})
# --- reports ---

WAIT_LISTED_JOBS = 20
"""A wait's reply names at most this many of the selected jobs that did not succeed (its counts have them all)."""


@dataclass
class WaitTarget:
    """What one name a wait was given selects: a whole deck (`job` None) or one job of it, and the journal run
    of that deck (None without a journal, or before the journal has the deck), where a client can still read
    how it ended if the server goes away."""

    name: str
    deck: str
    job: str | None = None
    run: str | None = None


@dataclass
class WaitReply:
    """Where the selected jobs stand: `settled` once every one has finished and the journal has their ends, or
    not yet when the time for one answer ran out first (or the server is ending: `ending`). `counts` says how
    many are in each state now, `unsuccessful` names the first of those that finished without succeeding.
    Names that select nothing are in `unknown`, each as a sentence with the names nearest to it; `waiting`
    says of the named decks that wait for their environment (restored after a reboot) how to supply it."""

    settled: bool
    jobs: int
    counts: dict[str, int]
    unsuccessful: list[str] = field(default_factory=list)
    targets: list[WaitTarget] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    ending: bool = False


@dataclass(frozen=True)
class Wait(Request[WaitReply]):
    """Answer once the jobs `names` select have all finished (a name is a deck, a job's id `deck/name`, or a
    job's name in a single deck; none: every loaded deck), or after `within_s` seconds, whichever comes first:
    a client waiting longer asks again. Jobs that have all finished already are answered at once, whatever
    `within_s` (0: a look at where they stand). The server waits on the engine's changes, not by looking again
    and again."""

    op = "wait"
    reply_type = WaitReply
    names: list[str] = field(default_factory=list)
    within_s: float = 30.0
    missing_ok: bool = False
    """Wait for what the names select even when some select nothing (else the reply comes at once, with them in
    `unknown`): a client asking a restarted server, which holds only the decks it ran again."""

    def __post_init__(self) -> None:
        if not 0 <= self.within_s <= 600:
            raise ValueError("within_s must be between 0 and 600 seconds")


@dataclass
class NamesReply:
    """Names for a shell's completion, sorted; `more` when some were left out."""

    names: list[str]
    more: bool = False


@dataclass(frozen=True)
class Names(Request[NamesReply]):
    """The loaded decks' names (`kind` "decks") or the jobs' ids and names ("jobs") that start with `prefix`, at
    most `limit` of them."""

    op = "names"
    reply_type = NamesReply
    kind: str
    prefix: str = ""
    limit: int = 200

    def __post_init__(self) -> None:
        if self.kind not in ("decks", "jobs"):
            raise ValueError("kind must be decks or jobs")
        if not 0 < self.limit <= 1000:
            raise ValueError("limit must be between 1 and 1000")


REQUESTS.update({kind.op: kind for kind in (Wait, Names)})
# --- logs ---


@dataclass
class LogsReply:
    """Where a job's log files are, and how far the job is, for `jobdeck logs` and the detail view (which read
    the files themselves: runner.joblogs.reader).

    `outcomes` has one entry per attempt, oldest first: its JobState value once it ended (or "interrupted"),
    None while it runs. The logs of attempts up to number `complete` are whole: nothing more will be written to
    them. `progress` is opaque: hand it back in a `Logs` request's `seen` to wait for news of the job. A job of
    a run the server has not loaded (from the history, `source` "history") has files only if its deck was never
    forgotten nor pruned; without them (`folder` None) `tail` holds the last lines the journal keeps."""

    job: str
    state: str
    outcomes: list[str | None] = field(default_factory=list)
    folder: str | None = None
    complete: int = 0
    progress: list[Any] = field(default_factory=list)
    source: str = "server"
    run: str | None = None
    """The journal's id of the job's run, when known."""
    tail: list[OutputLine] = field(default_factory=list)
    note: str | None = None
    """Something to tell the reader of the log (lines the disk refused, files removed)."""


@dataclass(frozen=True)
class Logs(Request[LogsReply]):
    """Where a job's logs are (`job`: a name, or `deck/name`). With `seen` (a reply's `progress`), first wait up to
    `wait_s` seconds until the job has news: lines written, an attempt started or ended, the job finished."""

    op = "logs"
    reply_type = LogsReply
    job: str
    seen: list[Any] | None = None
    wait_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.wait_s <= MAX_LOGS_WAIT_S:
            raise ValueError(f"wait_s must be between 0 and {MAX_LOGS_WAIT_S:g}")


MAX_LOGS_WAIT_S = 60.0
"""The longest a `Logs` request waits for news: well inside the client's request timeout."""
REQUESTS[Logs.op] = Logs


# --- events ---------------------------------------------------------------------------------------------------


class EventType(StrEnum):
    """What an event of a push stream tells (see `StreamEvent`)."""

    STATE = "state"
    PROGRESS = "progress"
    OUTPUT = "output"
    DROPPED = "dropped"
    DECK_LOADED = "deck_loaded"
    DECK_FORGOTTEN = "deck_forgotten"
    DISPATCHING = "dispatching"
    SERVER_STOPPED = "server_stopped"


@dataclass
class StreamEvent:
    """One thing that happened in the server, as `jobdeck events --json` prints it (a field that does not apply
    to its type is left out there, and None here). Every event has `type` and `time` (Unix time in seconds).

    - state: `deck`, `job` (its name) and `id` changed to `state` from `previous` in attempt `attempt`, with
      `error` when it failed or is retried. After a `dropped` event of states, `previous` is None: the job's
      state as it is now.
    - progress: `done` of `total` (None: unknown) `unit`s ("bytes", or "" for a call's own steps).
    - output: one `line` the job wrote on `stream` (stdout, stderr, or log for what jobdeck says of it).
    - dropped: what a reader too slow for the stream missed: `lines` of one job's output, or `states` changes
      of state (followed by the current state of each job that changed meanwhile).
    - deck_loaded (`deck`, `path`, `jobs`: how many), deck_forgotten (`deck`), dispatching (`dispatching`).
    - server_stopped: the last event; the stream ends.
    """

    type: EventType
    time: float
    deck: str | None = None
    job: str | None = None
    id: str | None = None
    state: str | None = None
    previous: str | None = None
    attempt: int | None = None
    error: str | None = None
    done: float | None = None
    total: float | None = None
    unit: str | None = None
    stream: str | None = None
    line: str | None = None
    lines: int | None = None
    states: int | None = None
    path: str | None = None
    jobs: int | None = None
    dispatching: bool | None = None


@dataclass
class Update(SnapshotReply):
    """What a subscribed connection is sent unasked (as `{"push": update}`) whenever the engine has changed,
    at most one every frame (runner.server.feeds.FRAME_S), nothing while nothing changes. A subscription with
    `views` gets the changed jobs' wire views as a snapshot does (with `more`, the next update follows at once);
    one with `events` gets `events`. `stopping`: the server stops, and this is the last update. Before a reply
    to a mirror's request, an update may carry only the jobs that request changed, ahead of the others (its
    `revision` does not move; they come again with the next update)."""

    events: list[StreamEvent] = field(default_factory=list)
    stopping: bool = False


@dataclass
class Subscribed:
    """A subscription is on: every update up to `revision` was sent before this reply."""

    revision: int


@dataclass(frozen=True)
class Subscribe(Request[Subscribed]):
    """Make this connection a push stream of `Update`s, until it closes; it goes on taking requests, and every
    reply comes after an update with the changes its request made (so a command's effect is seen on its return;
    an event stream's reply comes after every update made before it).

    `views`: the changed jobs' wire views (a mirror: the first updates, sent before this reply, carry every
    job). `events`: what happens from now on, as StreamEvents. `deck`: only that deck's jobs and events."""

    op = "subscribe"
    reply_type = Subscribed
    views: bool = False
    events: bool = False
    deck: str | None = None

    def __post_init__(self) -> None:
        if not (self.views or self.events):
            raise ValueError("subscribe to views, events or both")


REQUESTS[Subscribe.op] = Subscribe


def push_message(update: dict[str, Any]) -> dict[str, Any]:
    """The envelope of an update: no id, since no request asked for it."""
    return {"push": update}
