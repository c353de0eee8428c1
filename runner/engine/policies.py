"""A deck's failure policies at work: which jobs `run_if` lets run, when `halt` stops a deck, when a deck ends.

The engine asks; it alone changes job states. Only decks that need it get a `DeckPolicy` (a halt, hooks,
`notify`, or jobs with `run_if`): the others cost the engine a dict lookup at most per job queued or finished.

A job with `run_if` and no `after` waits for "the rest of the deck": every job that neither is such a job nor
waits (directly or not) for one. Those jobs are its `after`, without a list of a million names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from runner.model import Deck, Job, JobState
from runner.policies import HaltOn, HaltWhen, RunIf


@dataclass
class DeckPolicy:
    """One deck's counts for its policies, kept up to date as its jobs finish and are queued again."""

    deck: Deck
    jobs: int
    unfinished: int = 0
    wide: list[str] = field(default_factory=list)
    """Ids of the jobs with `run_if` and no `after`: they wait for the rest of the deck."""
    beyond: set[str] = field(default_factory=set)
    """Ids of the jobs that are not "the rest of the deck": the wide jobs and those that wait for them."""
    rest_unfinished: int = 0
    rest_unsuccessful: int = 0
    """Finished jobs of the rest of the deck that did not succeed."""
    failed: int = 0
    succeeded: int = 0
    """Jobs that failed (or succeeded) since the deck was loaded or its halt lifted: what `halt` counts."""
    halted: str | None = None
    """Why dispatching stopped (`halted: 3 jobs failed`); None while it goes on."""
    halt_skipped: list[str] = field(default_factory=list)
    """Ids of the jobs the halt skipped: queued again when it is lifted."""
    endings: int = 0
    """How many times every job of the deck has finished (a retry can make it finish again)."""
    ending: str = ""
    """What its last end is told as: `nightly finished: 3 succeeded, 1 failed`."""
    ended_at: float = 0.0

    def counts_as_rest(self, job_id: str) -> bool:
        return job_id not in self.beyond


@dataclass(frozen=True)
class Finished:
    """What a job's end means for its deck."""

    halt: bool = False
    """The deck halts now."""
    rest_done: bool = False
    """The rest of the deck has just all finished: its wide jobs can be judged."""
    deck_done: bool = False
    """Every job of the deck has finished."""


def needs_policy(deck: Deck) -> bool:
    settings = deck.settings
    hooks = settings.on_success or settings.on_failure or settings.on_finish
    return bool(settings.halt or settings.notify or hooks or settings.run_if_jobs)


def make_policy(deck: Deck, jobs: Sequence[Job], dependents: Mapping[str, list[str]]) -> DeckPolicy:
    """The policy of a deck whose jobs were just added (some may be finished already: restored)."""
    policy = DeckPolicy(deck, len(jobs))
    policy.wide = [job.id for job in jobs if job.spec.run_if is not None and not job.spec.after]
    beyond = policy.beyond
    waiting = list(policy.wide)
    while waiting:  # the wide jobs and every job that waits for one, however far down
        job_id = waiting.pop()
        if job_id not in beyond:
            beyond.add(job_id)
            waiting.extend(dependents.get(job_id, ()))
    for job in jobs:
        added(policy, job)
    return policy


def added(policy: DeckPolicy, job: Job) -> None:
    """Count a job of the deck as it is now (just loaded, restored, or added from a shell)."""
    if job.spec.after and any(f"{job.deck}/{name}" in policy.beyond for name in job.spec.after):
        policy.beyond.add(job.id)  # added later, after a wide job: it is not the rest of the deck either
    rest = policy.counts_as_rest(job.id)
    if not job.state.finished:
        policy.unfinished += 1
        policy.rest_unfinished += rest
    elif job.state is not JobState.SUCCEEDED:
        policy.rest_unsuccessful += rest


def finished(policy: DeckPolicy, job: Job, outcome: JobState) -> Finished:
    """A job of the deck has finished with `outcome`."""
    policy.unfinished -= 1
    rest_done = False
    if policy.counts_as_rest(job.id):
        policy.rest_unfinished -= 1
        policy.rest_unsuccessful += outcome is not JobState.SUCCEEDED
        rest_done = policy.rest_unfinished == 0 and bool(policy.wide)
    halt = False
    if outcome is JobState.FAILED:
        policy.failed += 1
    elif outcome is JobState.SUCCEEDED:
        policy.succeeded += 1
    rule = policy.deck.settings.halt
    if rule is not None and policy.halted is None and outcome in (JobState.FAILED, JobState.SUCCEEDED):
        counted = policy.failed if rule.on is HaltOn.FAIL else policy.succeeded
        if (outcome is JobState.FAILED) == (rule.on is HaltOn.FAIL) and counted >= rule.threshold(policy.jobs):
            policy.halted = rule.reason(counted, policy.jobs)
            halt = True
    return Finished(halt=halt, rest_done=rest_done, deck_done=policy.unfinished == 0)


def requeued(policy: DeckPolicy, job: Job, was: JobState) -> bool:
    """A finished job of the deck (it `was` in that state) is queued again; True when that lifted a halt."""
    policy.unfinished += 1
    if policy.counts_as_rest(job.id):
        policy.rest_unfinished += 1
        policy.rest_unsuccessful -= was is not JobState.SUCCEEDED
    if policy.halted is None:
        return False
    policy.halted = None
    policy.failed = policy.succeeded = 0
    return True


def ending_summary(deck: str, jobs: Iterable[Job], halted: str | None) -> str:
    """`nightly finished: 3 succeeded, 1 failed` (`; halted: 1 job failed`)."""
    counts = dict.fromkeys((state for state in JobState if state.finished), 0)
    for job in jobs:
        counts[job.state] = counts.get(job.state, 0) + 1
    told = ", ".join(f"{count} {state}" for state, count in counts.items() if count) or "no jobs"
    return f"{deck} finished: {told}" + (f"; {halted}" if halted else "")


def halts_now(policy: DeckPolicy) -> bool:
    """The deck's halt cancels its running jobs too (`halt = "now,..."`)."""
    rule = policy.deck.settings.halt
    return rule is not None and rule.when is HaltWhen.NOW


def exempt(job: Job) -> bool:
    """A job with `run_if` runs after a halt too (a cleanup, a report)."""
    return job.spec.run_if is not None


def run_if_verdict(job: Job, dependencies: Iterable[Job] | None, policy: DeckPolicy | None) -> JobState | None:
    """For a job with `run_if`: None while what it waits for has not all finished; then SUCCEEDED (run it) or
    SKIPPED, with the reason in job.error. `dependencies`: its `after` jobs; None: the rest of its deck."""
    run_if = job.spec.run_if
    if dependencies is None:
        if policy is None or policy.rest_unfinished:
            return None
        unsuccessful = policy.rest_unsuccessful
        what = "the rest of the deck"
    else:
        unsuccessful = 0
        for dependency in dependencies:
            if not dependency.state.finished:
                return None
            unsuccessful += dependency.state is not JobState.SUCCEEDED
        what = "the jobs it waits for"
    if run_if is RunIf.ALWAYS:
        return JobState.SUCCEEDED
    if run_if is RunIf.FAILURE:
        if unsuccessful:
            return JobState.SUCCEEDED
        job.error = f"not run: run_if = failure, and {what} all succeeded"
        return JobState.SKIPPED
    if unsuccessful:
        job.error = f"not run: {unsuccessful} of {what} did not succeed (run_if = success)"
        return JobState.SKIPPED
    return JobState.SUCCEEDED
