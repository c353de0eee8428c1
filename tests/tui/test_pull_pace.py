"""While pulls bring many changes, the timer pulls only as often as keeps drawing to a tenth of the time; a
quiet pull puts it back to every tick."""

from __future__ import annotations

from tui.pull_pace import BUSY_MAX_INTERVAL_S, BUSY_SHARE, PullPace


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_busy_pull_holds_the_next_for_its_share_and_a_quiet_one_lets_it_go() -> None:
    clock = Clock()
    pace = PullPace(clock)
    assert pace.due()
    started = clock.now
    clock.now += 0.03  # the pull and its frame took 30 ms
    pace.busy_pull(started)
    clock.now = started + 0.03 / BUSY_SHARE - 0.01
    assert not pace.due()
    clock.now = started + 0.03 / BUSY_SHARE + 1e-9
    assert pace.due()
    pace.quiet_pull()
    assert pace.due()


def test_a_slow_pull_never_holds_the_next_for_longer_than_the_cap() -> None:
    clock = Clock()
    pace = PullPace(clock)
    started = clock.now
    clock.now += 2.0  # a machine so busy the frame took seconds
    pace.busy_pull(started)
    assert pace.due()  # its share is long past the cap already
    started = clock.now
    clock.now += 0.2
    pace.busy_pull(started)
    clock.now = started + BUSY_MAX_INTERVAL_S - 0.01
    assert not pace.due()
    clock.now = started + BUSY_MAX_INTERVAL_S
    assert pace.due()
