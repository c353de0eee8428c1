"""The starts log beside the journal: every start noted is read back, and noting one keeps the GIL, so that a
busy event loop is not made to wait for a thread job at each start."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.journal.starts import WRITES_BEFORE_KEEPING_GIL, StartsLog, UnrecordedStart, read_starts


@pytest.fixture
def starts(tmp_path: Path) -> Iterator[StartsLog]:
    log = StartsLog(tmp_path / "journal.db")
    yield log
    log.close(remove=True)


def test_every_start_noted_is_read_back_in_order(starts: StartsLog) -> None:
    count = WRITES_BEFORE_KEEPING_GIL * 3
    for number in range(count):
        starts.note("run-1", f"job-{number}", 1, 1000.5 + number)
    assert read_starts(starts.paths) == [
        UnrecordedStart("run-1", f"job-{number}", 1, 1000.5 + number) for number in range(count)
    ]


def test_noting_a_start_keeps_the_gil(starts: StartsLog) -> None:
    for number in range(WRITES_BEFORE_KEEPING_GIL):  # the first starts go through os.write
        starts.note("run-1", f"warm-{number}", 1, 1.0)
    spins = 0
    stop = threading.Event()
    running = threading.Event()

    def spin() -> None:  # wants the GIL all the time: it gets it whenever the test's thread lets it go
        nonlocal spins
        running.set()
        while not stop.is_set():
            spins += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.5)  # far longer than the notes below take: only a released GIL lets `spin` run
    spinner = threading.Thread(target=spin, daemon=True)
    try:
        spinner.start()
        assert running.wait(10)
        before = spins
        for number in range(5000):
            starts.note("run-1", f"job-{number}", 1, 1.0)
        after = spins
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        spinner.join(10)
    assert after == before, "a note let the GIL go"
