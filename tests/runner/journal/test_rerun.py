"""A server killed with SIGKILL mid-deck: every job the next server runs again says so in its attempts, and the
restored summary counts exactly those jobs."""

from __future__ import annotations

import os
import re
import signal
from collections import Counter
from pathlib import Path

import anyio
import pytest

from runner.journal.store import CUT_SHORT_ATTEMPT, UNRECORDED_ATTEMPT
from runner.server.client import ensure_server
from runner.server.server import socket_answers
from tests.conftest import Place
from tests.helpers import process_alive, wait_for

pytestmark = pytest.mark.anyio

JOBS = 120


def busy_deck(place: Place) -> tuple[Path, Path]:
    """Short shell jobs, eight at a time, each logging its start: a kill lands among starts and ends."""
    starts = place.root / "starts.log"
    deck = place.root / "busy.toml"
    items = ", ".join(map(str, range(JOBS)))
    deck.write_text(
        f'[deck]\nname = "busy"\nshell_limit = 8\n\n[[job]]\nname = "job"\neach = [{items}]\n'
        f'shell = "echo {{item}} >> {starts}; sleep 0.05"\n'
    )
    return deck, starts


def started(starts: Path) -> Counter[str]:
    return Counter(starts.read_text().split()) if starts.exists() else Counter()


async def test_jobs_run_again_after_kill_9_say_so_and_the_summary_counts_them(place: Place) -> None:
    deck, starts = busy_deck(place)
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.request("load", path=str(deck))
        await wait_for(lambda: len(started(starts)) >= JOBS // 3, what="a third of the jobs started")
        pid = client.server.pid
    os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: not process_alive(pid) and not socket_answers(place.socket), timeout=5)

    async with await ensure_server(place.socket, log_path=place.log) as client:
        restored = (await client.request("status"))["server"]["restored"]
        with anyio.fail_after(20):
            while True:
                jobs = (await client.request("snapshot", since=0))["jobs"]
                if len(jobs) == JOBS and all(job["state"] == "succeeded" for job in jobs):
                    break
                await anyio.sleep(0.05)

    by_item = {str(job["spec"]["item"]): job for job in jobs}
    reasons = (CUT_SHORT_ATTEMPT, UNRECORDED_ATTEMPT)
    again = {item for item, job in by_item.items() if any(a["error"] in reasons for a in job["attempts"])}
    ran_twice = {item for item, count in started(starts).items() if count > 1}
    assert ran_twice, "the kill landed among running jobs"
    assert ran_twice <= again, "every job that ran twice says why in its attempts"
    for item in again:
        attempts = by_item[item]["attempts"]
        assert [a["number"] for a in attempts] == list(range(1, len(attempts) + 1))
        assert attempts[-2]["error"] in reasons and attempts[-1]["outcome"] == "succeeded"
    counted = [int(match[1]) for line in restored if (match := re.match(r"(\d+) job\(s\) run again", line))]
    assert counted == [len(again)], restored
    assert f"{len(again)} of them again" in restored[1]
