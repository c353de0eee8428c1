"""How fast jobs finish and how long the rest will take: the dashboard header's rate and ETA, and the ETA of each
deck in `jobdeck status`.

The rate counts jobs as they finish (a job retried and finished again counts again); a job queued again takes
nothing back, so the rate is never negative.

The ETA is the time until every unfinished job has ended, from what the jobs report and what alike jobs took:

- a running job that reports a fraction of its work (a download's bytes of a known size, a call's progress) has
  left what its speed over its last seconds of active time says;
- any other job takes what the finished jobs of its fan-out took (the median of the last few; else those of its
  kind in its deck), less what it has run already; one that has run longer than any of them has no estimate;
- the jobs of a deck's kind share a lane, and the jobs of a fan-out a part of it: each runs as many jobs at once
  as it has been seen to run, and the lanes run side by side;
- a job waiting for others (`after`) starts when the last of them is expected to end.

When a part cannot be estimated (nothing alike has finished and the job reports no progress, a job is paused,
dispatching is paused), there is no ETA: the header's "–" says so, where a figure would be wrong.

The estimator follows the jobs the dashboard pulls (`observe`, with the jobs changed since the last pull), so a
pull costs in proportion to the changes; the estimate itself is made at most every ESTIMATE_INTERVAL_S and
costs in proportion to the running jobs and the fan-outs, not to the queued jobs. A viewer that looks once
(`jobdeck status`, through the server) uses `eta_of`: without samples taken over time, a running job's speed is
its average over its attempt so far.
"""

from __future__ import annotations

import heapq
import statistics
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from runner.engine.interface import ObservedJob
from runner.model import JobState

RATE_WINDOW_S = 60.0
"""The rate counts the jobs that finished in this last stretch of time."""
MIN_RATE_SPAN_S = 1.0
SPEED_WINDOW_S = 15.0
"""A running job's speed is measured over about this many seconds of its active time."""
MIN_SPEED_SPAN_S = 2.0
"""A speed measured over less active time than this is not trusted."""
MIN_FRACTION = 0.1
"""Nor one of a job that has done less than this of its work, unless it has run for TRUSTED_AFTER_S: the first
seconds of a job are often not its pace (a download's first bytes wait for the connection and, in a busy
process, for reading; measured in the demo on a loaded machine: 3-9% done in 8 s, then 30% the next second)."""
TRUSTED_AFTER_S = 10.0
DURATIONS_KEPT = 32
ESTIMATE_INTERVAL_S = 0.5
"""The ETA is estimated afresh at most this often; in between it counts down."""
SMOOTHING = 0.35
"""How far a fresh estimate moves the ETA shown towards itself, when the two are close."""
CLOSE = 0.3
"""Estimates within this fraction of the shown ETA are smoothed; farther ones are shown at once."""
SIMULATED_JOBS = 256
"""Lanes with at most this many waiting jobs are played out job by job; larger ones by their total work."""
CHAINED_JOBS = 2000
"""Waiting jobs with `after` beyond this many are counted as lane work only (their order is not followed)."""
MAX_CHAIN_DEPTH = 100

GroupKey = tuple[str, str]
"""(deck, fan-out name or job name)."""
LaneKey = tuple[str, str]
"""(deck, kind)."""


RUNNING = "running"
PAUSED = "paused"
WAITING = "waiting"
"""Where an unfinished job is, as the estimate sees it: waiting covers queued and retrying. (Plain strings: an
enum member's hash is computed in Python, and a big deck's first pull places every job.)"""


class Durations:
    """The active seconds the last few finished jobs of one fan-out (or kind) took."""

    def __init__(self) -> None:
        self._recent: deque[float] = deque(maxlen=DURATIONS_KEPT)

    def add(self, seconds: float) -> None:
        self._recent.append(seconds)

    @property
    def typical(self) -> float:
        return statistics.median(self._recent)

    @property
    def longest(self) -> float:
        return max(self._recent)


@dataclass
class _Speed:
    """Samples of one running attempt's progress: (active seconds, fraction done), oldest first."""

    attempt: int
    samples: deque[tuple[float, float]] = field(default_factory=deque)


@dataclass
class _Part:
    """What is left in one lane, or in one fan-out's part of it, as the estimate adds it up."""

    running: list[float] = field(default_factory=list)
    """Seconds left of each running job."""
    waiting: list[tuple[int, float]] = field(default_factory=list)
    """(how many, seconds each) of the jobs still to start."""
    capacity: int = 1

    def end(self) -> float:
        """Seconds until the last of its jobs ends, `capacity` at a time, each taken as soon as a place is free."""
        waiting = sum(count for count, _ in self.waiting)
        if not waiting:
            return max(self.running, default=0.0)
        places = max(self.capacity, len(self.running))
        if waiting > SIMULATED_JOBS:
            work = sum(self.running) + sum(count * seconds for count, seconds in self.waiting)
            return max(max(self.running, default=0.0), work / places)
        free_at = sorted(self.running) + [0.0] * (places - len(self.running))
        heapq.heapify(free_at)
        for count, seconds in self.waiting:
            for _ in range(count):
                heapq.heappush(free_at, heapq.heappop(free_at) + seconds)
        return max(free_at)


def group_key(job: ObservedJob) -> GroupKey:
    return job.deck, job.spec.group or job.name


def lane_key(job: ObservedJob) -> LaneKey:
    return job.deck, job.kind.value


def place_of(job: ObservedJob) -> str | None:
    """Where an unfinished job is (None once it finished)."""
    state = job.state
    if state is JobState.RUNNING:
        return RUNNING
    if state is JobState.QUEUED or state is JobState.RETRYING:
        return WAITING
    if state is JobState.PAUSED:
        return PAUSED
    return None


class Estimator:
    """Follows the jobs a viewer pulls and says how fast they finish (`rate`) and when all will have (`eta`)."""

    def __init__(self) -> None:
        self._started_at: float | None = None
        self._finishes: deque[float] = deque()
        """When each finish was seen, within the rate's window."""
        self._finish_seqs: dict[str, int] = {}
        """Each job's `finished_seq` as last seen (0 while unfinished): a new one is a new finish."""
        self._unfinished: dict[str, ObservedJob] = {}
        self._running: dict[str, ObservedJob] = {}
        self._places: dict[str, tuple[str, GroupKey]] = {}
        self._counts: Counter[tuple[str, GroupKey]] = Counter()
        self._group_lanes: dict[GroupKey, LaneKey] = {}
        self._chained: dict[str, ObservedJob] = {}
        """Unfinished jobs that wait for others (`after`)."""
        self._by_group: dict[GroupKey, Durations] = {}
        self._by_lane: dict[LaneKey, Durations] = {}
        self._speeds: dict[str, _Speed] = {}
        self._group_capacity: Counter[GroupKey] = Counter()
        self._lane_capacity: Counter[LaneKey] = Counter()
        self._shown: float | None = None
        self._shown_at = 0.0
        self._estimated_at: float | None = None

    # --- following the jobs ---

    def observe(self, changed: Iterable[ObservedJob], now: float) -> None:
        """Take the jobs that changed since the last call (all of them, the first time), as of `now`."""
        if self._started_at is None:
            self._started_at = now
        for job in changed:
            place = place_of(job)
            if place is None:
                self._finished(job, now)
            else:
                self._place(job, place)
                self._finish_seqs[job.id] = 0
                if place is RUNNING:
                    self._sample(job, now)

    def drop_decks(self, decks: Iterable[str]) -> None:
        """Forget the jobs of these decks (they were forgotten by the engine)."""
        gone = set(decks)
        for job_id in [job_id for job_id in self._finish_seqs if job_id.partition("/")[0] in gone]:
            self._finish_seqs.pop(job_id)
            self._unplace(job_id)
        for table in (self._by_group, self._by_lane, self._group_lanes, self._group_capacity, self._lane_capacity):
            for key in [key for key in table if key[0] in gone]:
                del table[key]

    def _finished(self, job: ObservedJob, now: float) -> None:
        seen = self._finish_seqs.get(job.id)
        self._finish_seqs[job.id] = job.finished_seq
        self._unplace(job.id)
        if seen == job.finished_seq:
            return
        attempt = job.current_attempt
        # A job first seen finished counts only if it ended while watched (a deck loaded since, say), not
        # before (everything that had finished when the dashboard attached).
        ended_at = attempt.ended_at if attempt is not None else None
        started_at = self._started_at if self._started_at is not None else now
        if seen is not None or (ended_at is not None and ended_at >= started_at):
            self._finishes.append(now)
        self._note_duration(job)

    def _note_duration(self, job: ObservedJob) -> None:
        """What a finished job's last attempt took, as a measure of its fan-out's and its kind's jobs."""
        attempt = job.current_attempt
        if attempt is not None and attempt.outcome in (JobState.SUCCEEDED, JobState.FAILED):
            seconds = attempt.active_s
            self._by_group.setdefault(group_key(job), Durations()).add(seconds)
            self._by_lane.setdefault(lane_key(job), Durations()).add(seconds)

    def look_once(self, jobs: Iterable[ObservedJob]) -> None:
        """Take every job in one pass, for a viewer that looks once (`eta_of`): what `observe` makes of jobs never
        seen before, less what only following them over time needs (when each finished, speed samples, where
        each was before). A third of `observe`'s cost: a status of 100,000 queued jobs must not hold the server."""
        counts, unfinished, lanes, running, chained = (
            self._counts,
            self._unfinished,
            self._group_lanes,
            self._running,
            self._chained,
        )
        for job in jobs:
            place = place_of(job)
            if place is None:
                self._note_duration(job)
                continue
            spec = job.spec
            key = (job.deck, spec.group or job.name)
            counts[place, key] += 1
            unfinished[job.id] = job
            if key not in lanes:
                lanes[key] = lane_key(job)
            if place is RUNNING:
                running[job.id] = job
            elif place is WAITING and spec.after:
                chained[job.id] = job

    def _place(self, job: ObservedJob, place: str) -> None:
        key = group_key(job)
        before = self._places.get(job.id)
        if before != (place, key):
            if before is not None:
                self._uncount(before)
            self._places[job.id] = (place, key)
            self._counts[place, key] += 1
        self._unfinished[job.id] = job
        if key not in self._group_lanes:
            self._group_lanes[key] = lane_key(job)
        if place is RUNNING:
            self._running[job.id] = job
        else:
            self._running.pop(job.id, None)
        if place is WAITING:
            self._speeds.pop(job.id, None)
            if job.spec.after:
                self._chained[job.id] = job
        else:
            self._chained.pop(job.id, None)

    def _unplace(self, job_id: str) -> None:
        before = self._places.pop(job_id, None)
        if before is not None:
            self._uncount(before)
        self._unfinished.pop(job_id, None)
        self._running.pop(job_id, None)
        self._chained.pop(job_id, None)
        self._speeds.pop(job_id, None)

    def _uncount(self, key: tuple[str, GroupKey]) -> None:
        self._counts[key] -= 1
        if not self._counts[key]:
            del self._counts[key]

    def _sample(self, job: ObservedJob, now: float) -> None:
        """Note where a running job's progress stands against its active time."""
        attempt = job.current_attempt
        progress = job.progress
        fraction = progress.fraction if progress is not None else None
        if attempt is None or fraction is None:
            return
        speed = self._speeds.get(job.id)
        if speed is None or speed.attempt != attempt.number:
            speed = self._speeds[job.id] = _Speed(attempt.number)
        samples = speed.samples
        if samples and samples[-1][1] == fraction:
            return
        active = attempt.active_seconds(now)
        samples.append((active, fraction))
        while len(samples) > 2 and samples[1][0] <= active - SPEED_WINDOW_S:
            samples.popleft()

    # --- what the header shows ---

    def rate(self, now: float) -> float:
        """Jobs finished per second over the last RATE_WINDOW_S (less, just after the start); never negative."""
        finishes = self._finishes
        while finishes and finishes[0] <= now - RATE_WINDOW_S:
            finishes.popleft()
        span = min(RATE_WINDOW_S, now - (self._started_at if self._started_at is not None else now))
        return len(finishes) / span if span >= MIN_RATE_SPAN_S else 0.0

    def eta(self, now: float, *, dispatching: bool = True) -> float | None:
        """Seconds until every job has ended (0.0 with none left), or None when it cannot be told."""
        if not self._places:
            self._shown = None
            return 0.0
        if self._estimated_at is not None and 0 <= now - self._estimated_at < ESTIMATE_INTERVAL_S:
            return self._counted_down(now)
        self._estimated_at = now
        fresh = self.estimate(now, dispatching=dispatching)
        shown = self._counted_down(now)
        if fresh is None or shown is None or abs(fresh - shown) > CLOSE * max(shown, 1.0):
            self._shown = fresh
        else:
            self._shown = shown + SMOOTHING * (fresh - shown)
        self._shown_at = now
        return self._shown

    def _counted_down(self, now: float) -> float | None:
        if self._shown is None:
            return None
        return max(0.0, self._shown - (now - self._shown_at))

    def estimate(self, now: float, *, dispatching: bool = True) -> float | None:
        """A fresh estimate of the seconds left (see the module's doc), without smoothing."""
        if any(place is PAUSED for place, _ in self._counts):
            return None
        if not dispatching and any(place is WAITING for place, _ in self._counts):
            return None
        groups: dict[GroupKey, _Part] = {}
        left: dict[str, float] = {}
        projected: dict[GroupKey, list[float]] = {}
        """The whole active time running jobs of each fan-out are on course for, by their speed."""
        for job_id, job in self._running.items():
            attempt = job.current_attempt
            elapsed = attempt.active_seconds(now) if attempt is not None else 0.0
            key = group_key(job)
            by_speed = self._left_by_speed(job, elapsed)
            seconds = by_speed if by_speed is not None else self._left_like_others(key, elapsed)
            if seconds is None:
                return None
            if by_speed is not None:
                projected.setdefault(key, []).append(elapsed + by_speed)
            left[job_id] = seconds
            groups.setdefault(key, _Part()).running.append(seconds)
        durations: dict[GroupKey, float] = {}
        for (place, key), count in self._counts.items():
            if place is not WAITING:
                continue
            seconds = self._typical(key, projected.get(key))
            if seconds is None:
                return None
            durations[key] = seconds
            groups.setdefault(key, _Part()).waiting.append((count, seconds))
        lanes: dict[LaneKey, _Part] = {}
        for key, part in groups.items():
            self._group_capacity[key] = max(self._group_capacity[key], len(part.running))
            lane = lanes.setdefault(self._group_lanes[key], _Part())
            lane.running += part.running
            lane.waiting += part.waiting
        for key, lane in lanes.items():
            self._lane_capacity[key] = max(self._lane_capacity[key], len(lane.running))
            lane.capacity = max(1, self._lane_capacity[key])
        group_ends: dict[GroupKey, float] = {}
        for key, part in groups.items():
            part.capacity = self._group_capacity[key] or lanes[self._group_lanes[key]].capacity
            group_ends[key] = part.end()
        ends = [*group_ends.values(), *(lane.end() for lane in lanes.values())]
        if len(self._chained) <= CHAINED_JOBS:
            ends += self._chain_ends(left, durations, group_ends)
        return max(ends, default=0.0)

    def _chain_ends(
        self, left: dict[str, float], durations: dict[GroupKey, float], group_ends: dict[GroupKey, float]
    ) -> list[float]:
        """When each waiting job with `after` ends: once the last job it waits for has ended, plus its own time.
        A waiting job free to start is taken to end with its fan-out's part of its lane."""
        ends: dict[str, float] = {}

        def end_of(job_id: str, depth: int) -> float:
            if job_id in left:
                return left[job_id]
            if job_id in ends:
                return ends[job_id]
            job = self._unfinished.get(job_id)
            if job is None:
                return 0.0  # finished: nothing to wait for
            key = group_key(job)
            start = 0.0
            if depth < MAX_CHAIN_DEPTH:
                start = max((end_of(f"{job.deck}/{name}", depth + 1) for name in job.spec.after), default=0.0)
            end = ends[job_id] = start + durations.get(key, 0.0) if start else group_ends.get(key, 0.0)
            return end

        return [end_of(job_id, 0) for job_id in self._chained]

    def _typical(self, key: GroupKey, projected: list[float] | None) -> float | None:
        """What a job of this fan-out is expected to take: what its finished jobs took, else what its running ones
        are on course for, else what the finished jobs of its deck's kind took."""
        durations = self._by_group.get(key)
        if durations is not None:
            return durations.typical
        if projected:
            return statistics.median(projected)
        durations = self._by_lane.get(self._group_lanes[key])
        return durations.typical if durations is not None else None

    def _left_by_speed(self, job: ObservedJob, elapsed: float) -> float | None:
        """Seconds a running job that reports a fraction of its work has left, at its recent speed."""
        progress = job.progress
        fraction = progress.fraction if progress is not None else None
        if fraction is None:
            return None
        if fraction >= 1.0:
            return 0.0
        speed = self._speed(job, elapsed, fraction)
        return (1.0 - fraction) / speed if speed else None

    def _left_like_others(self, key: GroupKey, elapsed: float) -> float | None:
        """Seconds a running job has left by what the finished jobs of its fan-out took (at most the longest
        of them), else the typical one of its deck's kind; None once it has run longer than that."""
        durations = self._by_group.get(key)
        if durations is not None:
            if elapsed < durations.typical:
                return durations.typical - elapsed
            return durations.longest - elapsed if elapsed < durations.longest else None
        durations = self._by_lane.get(self._group_lanes[key])
        if durations is not None and elapsed < durations.typical:
            return durations.typical - elapsed
        return None

    def _speed(self, job: ObservedJob, elapsed: float, fraction: float) -> float | None:
        """The fraction of its work a running job does per second of active time, lately."""
        speed = self._speeds.get(job.id)
        attempt = job.current_attempt
        if speed is not None and attempt is not None and speed.attempt == attempt.number and speed.samples:
            since, done_then = speed.samples[0]
        else:
            since, done_then = 0.0, 0.0
        span = elapsed - since
        if span < MIN_SPEED_SPAN_S or fraction <= done_then:
            return None
        if fraction < MIN_FRACTION and elapsed < TRUSTED_AFTER_S:
            return None
        return (fraction - done_then) / span


def eta_of(jobs: Iterable[ObservedJob], now: float, *, dispatching: bool = True) -> float | None:
    """A one-off estimate of the seconds until these jobs have all ended (0.0 when none is left), or None when it
    cannot be told: for a viewer that does not follow the jobs over time."""
    estimator = Estimator()
    estimator.look_once(jobs)
    return estimator.estimate(now, dispatching=dispatching)
