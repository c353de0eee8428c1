"""Each shell job's leash ends its process group when the server dies, even with the guardian gone first and the
job paused: nothing of it runs on beside the copy the next server starts."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from runner.server.client import ensure_server
from tests.conftest import Place
from tests.helpers import process_alive, wait_for
from tests.runner.procs.test_guardian import guardians_of

pytestmark = pytest.mark.anyio


def process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def started_pids(starts: Path) -> list[int]:
    return [int(line) for line in starts.read_text().split()] if starts.exists() else []


async def test_a_paused_job_outlives_neither_its_guardian_nor_its_server_and_runs_again_alone(place: Place) -> None:
    starts = place.root / "starts"
    deck = place.root / "deck.toml"
    deck.write_text(f'[deck]\nname = "leashed"\n\n[[job]]\nname = "nap"\nshell = "echo $$ >> {starts}; exec sleep 9"\n')
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.request("load", path=str(deck))
        await wait_for(lambda: len(started_pids(starts)) == 1, what="the job started")
        [first_run] = started_pids(starts)
        await client.request("command", command="pause", job="leashed/nap")
        await wait_for(lambda: process_state(first_run) == "T", what="the job stopped")
        await client.request("status")  # the journal has committed the job as running
        server = client.server.pid
    [guardian] = guardians_of(server)
    os.kill(guardian, signal.SIGKILL)
    os.kill(server, signal.SIGKILL)
    await wait_for(lambda: not process_alive(first_run), what="the paused job ended by its leash")

    async with await ensure_server(place.socket, log_path=place.log) as client:
        await wait_for(lambda: len(started_pids(starts)) == 2, what="the job run again by the next server")
        assert not process_alive(first_run)
        await client.request("command", command="cancel", job="leashed/nap")
