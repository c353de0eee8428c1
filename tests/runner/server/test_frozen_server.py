"""A server stopped with SIGSTOP does not count the time it was frozen against its jobs' timeouts: a job that
ended meanwhile is judged by its end, and one still running gets the active time it was promised."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from runner.server.client import Client, ensure_server
from tests.conftest import Place
from tests.helpers import process_alive, wait_for

pytestmark = pytest.mark.anyio

FREEZE_S = 3.0
FINAL = {"succeeded", "failed", "cancelled", "skipped"}


def deck_text(root: Path) -> str:
    return (
        '[deck]\nname = "frozen"\n\n'
        # ends while the server is frozen, after which its 3 s deadline has long passed on the wall clock
        f'[[job]]\nname = "quick"\nshell = "echo $$ > {root}/quick.pid; sleep 1"\ntimeout = 3\n\n'
        # still running when the server wakes: the time it was frozen must not count
        f'[[job]]\nname = "long"\nshell = "echo $$ > {root}/long.pid; sleep 3.5"\ntimeout = 2.5\n'
    )


async def finished_jobs(client: Client) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = {}

    async def refresh() -> bool:
        snapshot = await client.request("snapshot", since=0)
        jobs.update({job["name"]: job for job in snapshot["jobs"]})
        return len(jobs) == 2 and all(job["state"] in FINAL for job in jobs.values())

    deadline = time.monotonic() + 10
    while not await refresh():
        assert time.monotonic() < deadline, f"not finished within 10 s: {jobs}"
        await wait_for(lambda: True)  # a pause between snapshots
    return jobs


async def test_jobs_are_not_timed_out_for_the_time_their_server_was_stopped(place: Place) -> None:
    deck = place.root / "deck.toml"
    deck.write_text(deck_text(place.root))
    pid_files = [place.root / "quick.pid", place.root / "long.pid"]
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.request("load", path=str(deck))
        await wait_for(lambda: all(path.exists() and path.read_text().endswith("\n") for path in pid_files))
        quick = int(pid_files[0].read_text())
        server = client.server.pid
        os.kill(server, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            await wait_for(lambda: not process_alive(quick), what="quick's work done during the freeze")
            time.sleep(max(0.0, frozen_at + FREEZE_S - time.monotonic()))  # the freeze itself
        finally:
            os.kill(server, signal.SIGCONT)
        jobs = await finished_jobs(client)
    assert jobs["quick"]["state"] == "succeeded", jobs["quick"]
    assert jobs["long"]["state"] == "succeeded", jobs["long"]
