"""Which of a job's attempts count against its retries: not those a stopped or crashed jobdeck cut short.

An attempt that a jobdeck server was running when it was killed (or stopped), or that it started without
recording it, ended because of jobdeck, not because of the job: it stays among the job's attempts as interrupted
(runner.journal.recovery restores it without an outcome), and the job gets it back. A finished job queued again
by hand (`r`, `R`) starts a new round of attempts with all its retries.

The journal does not record where a round began, so it is read from the attempts: a round ends with an attempt
that succeeded or was cancelled (nothing retries those; only a hand did), and a round of failures ends once
`retries + 1` of them failed (the job had failed for good).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runner.model import Attempt, JobState

ROUND_ENDS = frozenset({JobState.SUCCEEDED, JobState.CANCELLED})


def cut_short(attempt: Attempt) -> bool:
    """The attempt ended without an outcome: a jobdeck that stopped or crashed cut it short."""
    return attempt.ended_at is not None and attempt.outcome is None


@dataclass(frozen=True)
class Round:
    """The attempts of a job's current round."""

    counted: int
    """Attempts that count against the retries, the one under way included."""
    interrupted: int
    """Attempts cut short by jobdeck, which do not count."""
    allowed: int
    """Attempts the retries allow in a round: retries + 1."""

    @property
    def position(self) -> int:
        """Which counted attempt of the round the last one is (0 before the first)."""
        return (self.counted - 1) % self.allowed + 1 if self.counted else 0

    @property
    def retries_used(self) -> int:
        """Retries already spent by a job waiting for its next attempt."""
        return self.counted % self.allowed


def current_round(attempts: Sequence[Attempt], retries: int) -> Round:
    counted = interrupted = 0
    for attempt in reversed(attempts):
        if cut_short(attempt):
            interrupted += 1
            continue
        if attempt.outcome in ROUND_ENDS and (counted or interrupted):
            break
        counted += 1
    return Round(counted, interrupted, retries + 1)


def retries_left(attempts: Sequence[Attempt], retries: int) -> int:
    """The retries a job restored with these attempts has left before its next attempt."""
    return retries - current_round(attempts, retries).retries_used
