"""The one interface a viewer (the dashboard) uses to watch and steer an engine, wherever it runs.

`EngineInterface` is implemented by the in-process `runner.engine.engine.Engine` and by
`runner.server.remote.RemoteEngine` (an engine in the user's server, seen through its socket). A viewer that
uses only what is declared here never needs to ask which one it has: jobs and decks to read, revisions to
pull changes by, commands, the detail view's spec lines, the journal's history, and the connection state.

The job and deck types are protocols too: an in-process engine hands out its own `Job`s and `Deck`s, a remote
one its mirrors of them; both have the attributes declared here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from runner.model import Attempt, Deck, JobState, Kind, OutputLine, Progress
from runner.policies import DeckEnding

if TYPE_CHECKING:
    from runner.joblogs.layout import LogPlace

SpecLines = Sequence[tuple[str, str]]
"""A job's spec as (key, value) lines for reading, secrets redacted."""


class ObservedSpec(Protocol):
    """What a viewer reads of a job's spec directly (the rest comes as spec lines)."""

    @property
    def retries(self) -> int: ...
    @property
    def group(self) -> str | None:
        """The fan-out name (`page` for `page[2]`), or None."""
        ...

    @property
    def after(self) -> tuple[str, ...]:
        """The names of the jobs of its deck this one waits for."""
        ...


class ObservedJob(Protocol):
    """A job as a viewer sees it. The engine (or the mirror) keeps it current in place; a viewer only reads."""

    @property
    def id(self) -> str:
        """`deck/name`, unique in the engine."""
        ...

    @property
    def deck(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> Kind: ...
    @property
    def spec(self) -> ObservedSpec: ...
    @property
    def state(self) -> JobState: ...
    @property
    def attempts(self) -> list[Attempt]: ...
    @property
    def current_attempt(self) -> Attempt | None: ...
    @property
    def attempt_running(self) -> bool: ...
    @property
    def progress(self) -> Progress | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def traceback(self) -> str | None: ...
    @property
    def result(self) -> Any: ...
    @property
    def result_type(self) -> str: ...
    @property
    def note(self) -> str | None: ...
    @property
    def order(self) -> int:
        """Position in load order across all decks."""
        ...

    @property
    def finished_seq(self) -> int:
        """Orders jobs by when they last finished (0 while not finished); larger is later."""
        ...

    @property
    def revision(self) -> int:
        """The engine's revision at this job's last change."""
        ...

    @property
    def output(self) -> deque[OutputLine]:
        """The tail of the job's output. A remote engine fills it only for watched jobs."""
        ...

    @property
    def last_output(self) -> str | None:
        """The start of the last line the job's work wrote (every job, watched or not), or None."""
        ...

    @property
    def status(self) -> str | None:
        """What the job's running attempt says it is doing (a shell job's JOBDECK_STATUS), or None."""
        ...


class LoadedDeck(Protocol):
    """A deck the engine has loaded, as far as a viewer needs it."""

    @property
    def name(self) -> str:
        """Unique among the engine's decks (a second load of the same deck gets `name#2`)."""
        ...

    @property
    def path(self) -> Path: ...
    @property
    def jobs(self) -> Sequence[object]:
        """One entry per job of the deck."""
        ...


@dataclass(frozen=True)
class PastRun:
    """One earlier run of a deck, as the journal has it: how many of its jobs ended in each state (`counts`,
    keyed by state value, plus "interrupted" for jobs a dead server left unfinished)."""

    id: str
    name: str
    path: str
    loaded_at: float
    counts: Mapping[str, int] = field(default_factory=dict)
    total: int = 0
    unfinished: int = 0
    """Jobs that had not finished: work still to do, or cut short."""


@dataclass(frozen=True)
class PastJob:
    """One job of an earlier run, as the journal last recorded it."""

    name: str
    state: str
    """A JobState value, or "interrupted"."""
    attempts: int
    error: str | None = None


@runtime_checkable
class HistorySource(Protocol):
    """Where an in-process engine reads the earlier runs it shows (a journal file, say)."""

    @property
    def available(self) -> bool:
        """There is a journal to read (False: `runs` would have nothing to say)."""
        ...

    async def runs(self) -> list[PastRun]:
        """Earlier runs, newest first."""
        ...

    async def jobs(self, run_id: str, /) -> list[PastJob]:
        """One run's jobs."""
        ...


@runtime_checkable
class EngineInterface(Protocol):
    """Everything a viewer may ask of an engine. Use it inside the engine's `async with` block.

    Reading is cheap and never waits: `jobs`, `decks`, `counts()` and `changed_since()` reflect the engine
    (or, attached, the mirror as of the server's last update, pushed as the jobs change) as of now. Commands are
    coroutines that act at once; one that does not apply to a job's state raises `CommandError` and changes
    nothing. A viewer pulls `changed_since(last_revision)` at its own steady rate rather than per event.
    """

    # --- state ---

    @property
    def jobs(self) -> Mapping[str, ObservedJob]:
        """Every job by id, in load order."""
        ...

    @property
    def decks(self) -> Mapping[str, LoadedDeck]:
        """Every loaded deck by its (unique) name, in load order."""
        ...

    @property
    def revision(self) -> int:
        """Moves whenever a job (or dispatching) changes; a job's `revision` is the value at its last change."""
        ...

    @property
    def dispatching(self) -> bool:
        """False while `pause_all` holds back every queued job."""
        ...

    @property
    def halted(self) -> Mapping[str, str]:
        """The decks whose dispatching their `halt` stopped, with why (`halted: 3 jobs failed`)."""
        ...

    @property
    def deck_endings(self) -> Mapping[str, DeckEnding]:
        """The decks with `notify = true` that have finished, with their latest end (runner.policies)."""
        ...

    def changed_since(self, revision: int, /) -> Sequence[ObservedJob]:
        """The jobs whose `revision` is above `revision`, in load order."""
        ...

    async def wait_for_change(self, revision: int, /) -> None:
        """Return once `revision` has been passed (at once if it has), or earlier when something else a viewer
        shows may have changed; for a viewer that sleeps while nothing changes."""
        ...

    def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state (every state present, zero included)."""
        ...

    def kind_status(self) -> list[str]:
        """One line per thing the job kinds run on (a Dask cluster's address and workers, say)."""
        ...

    def spec_lines(self, job_id: str, /) -> SpecLines | None:
        """The job's spec as lines for the detail view, secrets redacted; None while they are still on their way
        (a remote engine fetches them once the job is watched)."""
        ...

    def log_place(self, job_id: str, /) -> LogPlace | None:
        """Where the job's log files are (runner.joblogs), for the detail view to read; None when the engine keeps
        none (only the tail in `output`), or while a remote engine has not fetched it yet (it does once the job
        is watched)."""
        ...

    def watch(self, job_id: str, /) -> None:
        """A detail view is open on this job: keep its output and spec lines current from now on.
        (An in-process engine always does.)"""
        ...

    def unwatch(self, job_id: str, /) -> None:
        """The detail view closed."""
        ...

    # --- commands ---

    async def load(self, path: str | Path, /, *, again: bool = True) -> LoadedDeck:
        """Parse a job file and start its jobs; DeckError, changing nothing, when the file is bad. `again=False`
        refuses a file whose same jobs are loaded already and not all finished (DeckAlreadyLoaded, nothing
        loaded), so that a viewer can ask before running them twice."""
        ...

    async def add_deck(self, deck: Deck, /) -> LoadedDeck:
        """Start the jobs of an already parsed deck (a remote engine has the server load its file)."""
        ...

    async def pause(self, job_id: str, /) -> None:
        """Hold back a queued or retrying job, or suspend a running one (its processes really stop)."""
        ...

    async def resume(self, job_id: str, /) -> None: ...

    async def cancel(self, job_id: str, /) -> None:
        """Stop a job; no process of it is left behind."""
        ...

    async def retry(self, job_id: str, /) -> None:
        """Queue a finished job again as a new attempt."""
        ...

    async def retry_failed(self) -> int:
        """Retry every failed job; returns how many."""
        ...

    async def pause_all(self) -> None:
        """Stop dispatching: queued jobs stay queued, running ones go on."""
        ...

    async def resume_all(self) -> None: ...

    async def cancel_all(self) -> None: ...

    async def forget(self, deck: str, /) -> int:
        """Drop a deck whose jobs have all finished from the engine (the journal keeps its history); returns how
        many jobs it had. CommandError, changing nothing, when a job of it has not finished. Its name is not
        given to a deck loaded later."""
        ...

    # --- history ---

    @property
    def history_available(self) -> bool:
        """There is a journal behind `history_runs` (always, attached: the server's, even if it is empty)."""
        ...

    async def history_runs(self) -> list[PastRun]:
        """Earlier runs from the journal, newest first; empty when there is no journal."""
        ...

    async def history_jobs(self, run_id: str, /) -> list[PastJob]:
        """One earlier run's jobs from the journal."""
        ...

    # --- connection ---

    @property
    def attached(self) -> bool:
        """True when the jobs run in a server: a viewer that leaves without `shut_down` detaches and the jobs
        go on. False when they run in this process: leaving the engine's block cancels them."""
        ...

    @property
    def lost(self) -> str | None:
        """Why the connection to the server ended, once it has (the jobs then stay as last seen); always None
        in-process."""
        ...

    async def shut_down(self) -> None:
        """What quitting with "stop the jobs" means: cancel every job and wait (bounded) until they have ended
        and cleaned up; attached, the server stops too. Does not raise if the server is already gone."""
        ...
