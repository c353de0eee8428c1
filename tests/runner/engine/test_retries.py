"""Which attempts count against a job's retries: those a stopped or crashed jobdeck cut short do not."""

from __future__ import annotations

from runner.engine.retries import current_round, retries_left
from runner.model import Attempt, JobState

FAILED, SUCCEEDED, CANCELLED = JobState.FAILED, JobState.SUCCEEDED, JobState.CANCELLED


def attempts(*outcomes: JobState | str | None) -> list[Attempt]:
    """One attempt per outcome: "cut" for one cut short (ended, no outcome), None for the one under way."""
    made = []
    for number, outcome in enumerate(outcomes, start=1):
        if outcome == "cut":
            made.append(Attempt(number, 0.0, 1.0, None, "interrupted while running"))
        elif outcome is None:
            made.append(Attempt(number, 0.0, running_since=0.0))
        else:
            assert isinstance(outcome, JobState)
            made.append(Attempt(number, 0.0, 1.0, outcome))
    return made


def test_an_interrupted_attempt_is_given_back() -> None:
    round_ = current_round(attempts("cut", None), retries=1)
    assert (round_.position, round_.interrupted, round_.allowed) == (1, 1, 2)
    assert retries_left(attempts("cut"), retries=1) == 1


def test_failed_attempts_stay_spent_across_a_restart() -> None:
    assert retries_left(attempts(FAILED, "cut"), retries=2) == 1
    assert current_round(attempts(FAILED, "cut", None), retries=2).position == 2


def test_a_retry_by_hand_starts_a_new_round() -> None:
    assert current_round(attempts(FAILED, FAILED, None), retries=1).position == 1  # both failed: then `r`
    assert current_round(attempts(SUCCEEDED, None), retries=3).position == 1
    assert current_round(attempts(CANCELLED, "cut", None), retries=3).position == 1
    assert retries_left(attempts(SUCCEEDED, "cut"), retries=3) == 3


def test_a_finished_job_counts_its_last_attempt() -> None:
    assert current_round(attempts(FAILED, SUCCEEDED), retries=2).position == 2
    assert current_round(attempts(CANCELLED), retries=0).position == 1
    assert current_round([], retries=2).position == 0
