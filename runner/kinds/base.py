"""The one interface every job kind implements, so that adding a kind never touches the scheduler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from runner.hosts.bandwidth import UNTHROTTLED, Throttle
from runner.kinds.transfer_book import TransferBook
from runner.model import Deck, Job, JobSpec, Settings
from runner.pausing import PauseControl


def _nowhere(place: str) -> None:
    """The default `report_place`: the kind runs jobs right here."""


def _no_status(text: str | None) -> None:
    """The default `report_status`: the engine shows no status text."""


@dataclass
class AttemptContext:
    """What a kind gets for one attempt of one job: how to report, and how to obey pause."""

    job: Job
    settings: Settings
    pause: PauseControl
    environ: Mapping[str, str]
    report_progress: Callable[[float, float | None, str], None]
    """(done, total or None, unit) — the engine throttles what it forwards to observers."""
    report_output: Callable[[str, str], None]
    """(stream, line) — one line of output, without its newline."""
    grace_period: float = 5.0
    """Seconds between SIGTERM and SIGKILL when a process group is cancelled."""
    report_place: Callable[[str], None] = _nowhere
    """(where) — the attempt started there, e.g. on the Dask worker at that address."""
    umask: int | None = None
    """The file-creation mask of whoever loaded the deck (a server's client), for the processes and files the
    attempt makes; None: the process's own."""
    results_folder: Path | None = None
    """Where large results are kept (runner.stored_results); None for a temporary folder."""
    transfers: TransferBook | None = None
    """What downloads keep between attempts, to resume and to ask `if_changed` (runner.kinds.transfer_book)."""
    report_status: Callable[[str | None], None] = _no_status
    """(text or None) — what the job says it is doing now (a shell job's JOBDECK_STATUS line); None clears it."""
    throttle: Throttle = UNTHROTTLED
    """What a download pays its body's bytes from: its deck's and its host's bandwidth (runner.hosts)."""


class JobKind:
    """Base of the job kinds. A kind runs one attempt; the engine owns states, retries, limits and timeouts.

    `run` returns the job's result or raises `JobError`; it must stop promptly when its task is cancelled
    (cleaning up whatever it started, shielded where that needs awaiting) and obey `attempt.pause`.
    """

    async def __aenter__(self) -> JobKind:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def slot(self, spec: JobSpec, settings: Settings) -> tuple[str, int]:
        """Which per-deck limiter this job takes a place in, and that limiter's size."""
        raise NotImplementedError

    async def deck_loaded(self, deck: Deck) -> None:
        """A deck with jobs of this kind arrived (e.g. to start workers ahead of time)."""

    async def deck_forgotten(self, deck: Deck, transfers: TransferBook | None) -> None:
        """A deck with jobs of this kind was forgotten: none of its jobs runs again (e.g. remove what they left)."""

    def pause_note(self, spec: JobSpec) -> str | None:
        """An honest remark shown when a running job of this kind is paused, if pausing is not immediate."""
        return None

    def cancel_note(self, spec: JobSpec) -> str | None:
        """Likewise for cancel."""
        return None

    def describe(self) -> list[str]:
        """One-line statuses of what this kind runs jobs on, for the dashboard (e.g. a cluster's workers)."""
        return []

    async def run(self, attempt: AttemptContext) -> Any:
        raise NotImplementedError
