"""The issue's scenario against a real server: the guardian is killed, then the server. The guardian's replacement
ends the running and the paused shell job, and the next server runs each again alone."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio.to_thread
import pytest

from runner.server.client import ensure_server
from tests.conftest import Place
from tests.helpers import process_alive, wait_for
from tests.runner.procs.test_guardian import guardians_of, replacement_guardian

pytestmark = pytest.mark.anyio


def process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def runs(starts: Path) -> list[tuple[int, int]]:
    """(shell, background child) pids, one line per run of the job."""
    lines = starts.read_text().splitlines() if starts.exists() else []
    return [(int(shell), int(child)) for shell, child in (line.split() for line in lines)]


async def test_killing_the_guardian_then_the_server_leaves_no_job_running_beside_the_next_servers(
    place: Place,
) -> None:
    busy, nap = place.root / "busy", place.root / "nap"
    deck = place.root / "deck.toml"
    jobs = (f'[[job]]\nname = "{file.name}"\nshell = "sleep 30 & echo $$ $! >> {file}; wait"\n' for file in (busy, nap))
    deck.write_text('[deck]\nname = "guarded"\n\n' + "\n".join(jobs))
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.request("load", path=str(deck))
        await wait_for(lambda: len(runs(busy)) == 1 and len(runs(nap)) == 1, what="both jobs started")
        await client.request("command", command="pause", job="guarded/nap")
        [(_, napping)] = runs(nap)
        await wait_for(lambda: process_state(napping) == "T", what="the paused job stopped")
        await client.request("status")  # the journal has committed both jobs as running
        server = client.server.pid
    first_runs = [pid for run in runs(busy) + runs(nap) for pid in run]
    [guardian] = guardians_of(server)
    os.kill(guardian, signal.SIGKILL)
    groups = {shell for shell, _ in runs(busy) + runs(nap)}
    await anyio.to_thread.run_sync(replacement_guardian, server, guardian, groups)
    os.kill(server, signal.SIGKILL)
    await wait_for(lambda: not any(map(process_alive, first_runs)), what="the first runs ended by the new guardian")

    async with await ensure_server(place.socket, log_path=place.log) as client:
        await wait_for(lambda: len(runs(busy)) == 2 and len(runs(nap)) == 2, what="both jobs run again")
        assert not any(map(process_alive, first_runs))
        for job in ("busy", "nap"):
            await client.request("command", command="cancel", job=f"guarded/{job}")
