"""The header's rate and ETA: replayed against recorded runs of real decks, and in the cases that fool them."""

from __future__ import annotations

import pytest

from runner.engine.estimate import Estimator, eta_of
from runner.model import Attempt, JobState, Kind, Progress
from tests.tui.job_recordings import ReplayedJob, ReplayedSpec, load


def close_enough(eta: float, left: float) -> bool:
    """Within 30% of the time really left, give or take a second and a half (the last seconds jitter)."""
    return abs(eta - left) <= 0.3 * left + 1.5


@pytest.mark.parametrize(
    ("recording", "unknown_share"),
    [
        ("demo.json", 0.2),
        ("long_after_quick.json", 0.2),
        # The demo in the dashboard on a machine with 20 processes wanting its 2 cores: downloads crawled, then
        # caught up all at once; the ETA waits for them to show their pace, and is right once it shows.
        ("demo_dashboard_busy.json", 0.45),
    ],
)
def test_the_eta_follows_what_really_happened_in_recorded_runs(recording: str, unknown_share: float) -> None:
    """Replayed tick by tick as the dashboard pulls them, the ETA is either "–" or close to the time that was really
    left; it is "–" only at the start, before anything alike has finished or reported enough progress, and in the
    last moments (a last job without progress running longer than those alike)."""
    run = load(recording)
    estimator = Estimator()
    wrong, unknown = [], []
    for now, changed in run.replay():
        estimator.observe(changed, now)
        eta = estimator.eta(now)
        left = run.end - now
        if eta is None:
            if left > 2.0:
                unknown.append(now)
        elif not close_enough(eta, left):
            wrong.append((round(now, 1), round(eta, 1), round(left, 1)))
    assert wrong == [], "(time, ETA, really left)"
    assert max(unknown, default=0.0) < unknown_share * run.end, f"no ETA for long: {unknown}"


def test_long_jobs_after_quick_ones_are_not_given_the_quick_ones_pace() -> None:
    """The issue's case: quick fetches finish, then a 6 MB download at 300 kB/s and two CPU jobs of ~20 s run. Counting
    jobs finished per second said 0.3-3 s; what the running jobs report says about 20 s."""
    run = load("long_after_quick.json")
    estimator = Estimator()
    for now, changed in run.replay():
        estimator.observe(changed, now)
        eta = estimator.eta(now)
        if now >= 3.0:
            assert eta is not None and eta > 0.6 * (run.end - now), (now, eta)
        if now >= 5.0:
            break


# --- by hand-made sequences --------------------------------------------------------------------------------------


def job(name: str, kind: Kind = Kind.SHELL, *, after: tuple[str, ...] = ()) -> ReplayedJob:
    group = name.partition("[")[0] if "[" in name else None
    return ReplayedJob(f"d/{name}", kind, ReplayedSpec(group, after))


def start(item: ReplayedJob, at: float) -> ReplayedJob:
    item.state = JobState.RUNNING
    item.finished_seq = 0
    item.attempts = [*item.attempts, Attempt(len(item.attempts) + 1, at, running_since=at)]
    return item


finishes = 0


def finish(item: ReplayedJob, at: float, outcome: JobState = JobState.SUCCEEDED) -> ReplayedJob:
    global finishes
    finishes += 1
    attempt = item.attempts[-1]
    assert attempt.running_since is not None
    attempt.active_s = at - attempt.running_since
    attempt.running_since, attempt.ended_at, attempt.outcome = None, at, outcome
    item.state, item.finished_seq = outcome, finishes
    return item


def test_retrying_failed_jobs_never_makes_the_rate_negative() -> None:
    """`R` queues failed jobs again: the number of finished jobs drops, but finishes already seen stay counted."""
    jobs = [job(f"get[{n}]", Kind.FETCH) for n in range(4)]
    estimator = Estimator()
    estimator.observe(jobs, 0.0)
    estimator.observe([start(item, 0.0) for item in jobs], 0.0)
    estimator.observe([finish(item, 2.0, JobState.FAILED) for item in jobs], 2.0)
    assert estimator.rate(4.0) == pytest.approx(1.0)
    for item in jobs:
        item.state, item.finished_seq = JobState.QUEUED, 0
    estimator.observe(jobs, 4.5)
    assert estimator.rate(5.0) == pytest.approx(0.8)
    estimator.observe([finish(start(item, 5.0), 6.0) for item in jobs], 6.0)
    assert estimator.rate(8.0) == pytest.approx(1.0)  # eight finishes in eight seconds


def test_jobs_that_finished_before_the_dashboard_looked_do_not_count_in_the_rate_but_teach_durations() -> None:
    done = [finish(start(job(f"crunch[{n}]", Kind.CALL), 0.0), 30.0) for n in range(3)]
    queued = job("crunch[3]", Kind.CALL)
    estimator = Estimator()
    estimator.observe([*done, queued], 100.0)
    assert estimator.rate(110.0) == 0.0
    assert estimator.eta(110.0) == pytest.approx(30.0)


def test_a_job_with_nothing_to_go_by_has_no_eta_until_one_alike_finishes() -> None:
    first, second = job("step[1]"), job("step[2]")
    estimator = Estimator()
    estimator.observe([start(first, 0.0), second], 0.0)
    assert estimator.eta(5.0) is None
    estimator.observe([finish(first, 8.0), start(second, 8.0)], 8.0)
    assert estimator.eta(9.0) == pytest.approx(7.0)


def test_a_running_job_past_the_longest_alike_has_no_eta() -> None:
    items = [job(f"step[{n}]") for n in range(3)]
    estimator = Estimator()
    estimator.observe([finish(start(items[0], 0.0), 4.0), finish(start(items[1], 0.0), 6.0)], 6.0)
    estimator.observe([start(items[2], 6.0)], 6.0)
    assert estimator.estimate(7.0) == pytest.approx(4.0)  # the median, 5 s, less the second it ran
    assert estimator.estimate(11.5) == pytest.approx(0.5)  # past the median: up to the longest, 6 s
    assert estimator.estimate(12.5) is None


def test_a_download_is_timed_by_its_bytes_and_speed() -> None:
    download = start(job("big", Kind.FETCH), 0.0)
    estimator = Estimator()
    for second in range(11):
        download.progress = Progress(second * 300_000, 50_000_000, "bytes")
        estimator.observe([download], float(second))
    assert estimator.estimate(10.0) == pytest.approx((50_000_000 - 3_000_000) / 300_000)


def test_waiting_jobs_share_their_lane_as_many_at_a_time_as_it_ran() -> None:
    """Ten jobs of 10 s, two at a time: five rounds."""
    items = [job(f"w[{n}]") for n in range(10)]
    estimator = Estimator()
    estimator.observe(items, 0.0)
    estimator.observe([start(items[0], 0.0), start(items[1], 0.0)], 0.0)
    estimator.observe([finish(items[0], 10.0), finish(items[1], 10.0)], 10.0)
    estimator.observe([start(items[2], 10.0), start(items[3], 10.0)], 10.0)
    assert estimator.estimate(10.0) == pytest.approx(40.0)


def test_a_job_waiting_for_another_starts_after_it() -> None:
    build = start(job("build"), 0.0)
    deploy = job("deploy", after=("build",))
    earlier = [finish(start(job(name), 0.0), seconds) for name, seconds in (("build-old", 1.0),)]
    estimator = Estimator()
    estimator.observe([*earlier, build, deploy], 0.0)
    build.progress = Progress(1, 4)
    estimator.observe([build], 0.0)
    build.progress = Progress(2, 4)
    estimator.observe([build], 10.0)  # half done after 10 s: 10 s to go
    estimator.observe([finish(start(job("deploy-old"), 0.0), 3.0)], 10.0)
    assert estimator.estimate(10.0) >= 10.0 + 1.0


def test_paused_jobs_and_paused_dispatching_have_no_eta() -> None:
    items = [job(f"s[{n}]") for n in range(3)]
    estimator = Estimator()
    estimator.observe([finish(start(items[0], 0.0), 2.0), items[1], items[2]], 2.0)
    assert estimator.estimate(2.0) is not None
    assert estimator.estimate(2.0, dispatching=False) is None
    items[1].state = JobState.PAUSED
    estimator.observe([items[1]], 3.0)
    assert estimator.estimate(3.0) is None


def test_the_eta_counts_down_between_estimates_and_ends_at_zero() -> None:
    item = start(job("one"), 0.0)
    estimator = Estimator()
    estimator.observe([finish(start(job("one-before"), 0.0), 10.0)], 0.0)
    estimator.observe([item], 0.0)
    assert estimator.eta(0.0) is not None
    first = estimator.eta(0.1)
    assert first is not None and estimator.eta(0.3) == pytest.approx(first - 0.2)
    estimator.observe([finish(item, 5.0)], 5.0)
    assert estimator.eta(5.0) == 0.0


def test_one_look_gives_the_eta_that_following_the_jobs_gives() -> None:
    """`jobdeck status` looks once (eta_of): alike jobs that finished say how long the rest take, a running job
    that reports progress has its average speed so far (what a dashboard measured over two looks here), and a job
    waits in its lane for a place."""
    done = [finish(start(job(f"crunch[{n}]"), 0.0), 10.0) for n in range(2)]
    running = start(job("crunch[2]"), 10.0)
    queued = job("crunch[3]")
    then = job("pack", after=("crunch",))
    download = start(job("get", Kind.FETCH), 10.0)
    jobs = [*done, running, queued, then, download]
    followed = Estimator()
    download.progress = Progress(done=20, total=100, unit="bytes")
    followed.observe(jobs, 12.0)
    download.progress = Progress(done=40, total=100, unit="bytes")
    followed.observe([download], 14.0)
    # One shell job at a time was seen: crunch[2] has 6 s left, then crunch[3] and pack take 10 s each (what the
    # crunches took); the download, at 10% a second, has 6 s left.
    assert eta_of(jobs, 14.0) == pytest.approx(6.0 + 10.0 + 10.0)
    assert followed.estimate(14.0) == pytest.approx(eta_of(jobs, 14.0))
    assert eta_of(done, 14.0) == 0.0
    running.state = JobState.PAUSED
    assert eta_of(jobs, 14.0) is None  # a paused job: no ETA, as the dashboard says
