"""What a deck does about failures, as its file says it: a job's `run_if`, the deck's `halt`.

Plain values shared by the parser (runner.deck.policies), the engine (runner.engine.policies) and the
viewers; the deciding is done in the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class RunIf(StrEnum):
    """When a job with `run_if` runs, once the jobs it waits for have all finished."""

    SUCCESS = "success"
    """Every one succeeded (what `after` alone means)."""
    FAILURE = "failure"
    """At least one did not succeed (failed, or was cancelled or skipped)."""
    ALWAYS = "always"
    """Whatever came of them."""


class HaltWhen(StrEnum):
    SOON = "soon"
    """No new job starts; the running ones finish."""
    NOW = "now"
    """No new job starts, and the running ones are cancelled."""


class HaltOn(StrEnum):
    FAIL = "fail"
    SUCCESS = "success"


@dataclass(frozen=True)
class HaltPolicy:
    """`[deck] halt`, as GNU parallel's `--halt`: after `count` jobs (or `percent` of the deck's jobs) ended
    `on` (failed, or succeeded), stop dispatching the deck's jobs, and `when` now, cancel its running ones."""

    on: HaltOn = HaltOn.FAIL
    count: int | None = None
    percent: float | None = None
    when: HaltWhen = HaltWhen.SOON

    def threshold(self, jobs: int) -> int:
        """How many such jobs halt a deck of `jobs` jobs (at least 1)."""
        if self.count is not None:
            return self.count
        assert self.percent is not None
        return max(1, math.ceil(jobs * self.percent / 100 - 1e-9))

    def reason(self, ended: int, jobs: int) -> str:
        """What a halted deck says: `halted: 3 jobs failed`, `halted: 5 jobs failed (10% of 50)`."""
        verb = "failed" if self.on is HaltOn.FAIL else "succeeded"
        text = f"halted: {ended} job{'' if ended == 1 else 's'} {verb}"
        if self.percent is not None:
            text += f" ({self.percent:g}% of {jobs})"
        return text

    def __str__(self) -> str:
        amount = f"{self.count}" if self.count is not None else f"{self.percent:g}%"
        return f"{self.when},{self.on}={amount}"


@dataclass(frozen=True)
class DeckEnding:
    """The latest end of a deck with `notify = true`: the how-manieth (a retried deck ends again), and what a
    notification says of it (`nightly finished: 3 succeeded, 1 failed`)."""

    count: int
    summary: str
    at: float
    """When (time.time()): a dashboard attached later does not ring for it."""
