"""The engine interface: the in-process Engine and the RemoteEngine (a real server) answer a viewer alike."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.engine.interface import EngineInterface, HistorySource, PastJob, PastRun
from runner.journal.history import JournalHistory
from runner.model import JobState
from runner.server.client import ensure_server
from runner.server.remote import RemoteEngine
from tests.conftest import Place
from tests.helpers import wait_for

pytestmark = pytest.mark.anyio

DECK = """
[deck]
name = "pair"

[[job]]
name = "quick"
shell = "echo done"

[[job]]
name = "slow"
shell = "exec sleep 60"
"""


@asynccontextmanager
async def engine_of(where: str, place: Place) -> AsyncIterator[EngineInterface]:
    if where == "local":
        async with Engine(history=JournalHistory(place.root / "journal.db")) as engine:
            yield engine
    else:
        await (await ensure_server(place.socket, log_path=place.log)).close()
        async with RemoteEngine(place.socket) as remote:
            yield remote


def deck_file(place: Place, text: str = DECK) -> Path:
    path = place.root / "pair.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("where", ["local", "attached"])
async def test_a_viewer_loads_watches_and_steers_either_engine_alike(where: str, place: Place) -> None:
    async with engine_of(where, place) as engine:
        assert isinstance(engine, EngineInterface)
        assert engine.attached is (where == "attached") and engine.lost is None
        deck = await engine.load(deck_file(place))
        assert deck.name == "pair" and len(deck.jobs) == 2 and list(engine.decks) == ["pair"]
        # The job itself, not the counts: a server shows a job's end (and every change after it) only once the
        # journal has committed it, while its counts are current. Until then the pause below could not be seen.
        await wait_for(
            lambda: getattr(engine.jobs.get("pair/quick"), "state", None) is JobState.SUCCEEDED, what="quick succeeded"
        )
        assert engine.counts()[JobState.SUCCEEDED] == 1
        await wait_for(lambda: engine.jobs["pair/slow"].state is JobState.RUNNING, what="slow running")
        assert [job.name for job in engine.changed_since(0)] == ["quick", "slow"]

        engine.watch("pair/slow")
        await wait_for(lambda: engine.spec_lines("pair/slow") is not None, what="spec lines")
        assert dict(engine.spec_lines("pair/slow") or ())["command"] == "exec sleep 60"
        engine.unwatch("pair/slow")

        revision = engine.revision
        await engine.pause("pair/slow")
        assert engine.jobs["pair/slow"].state is JobState.PAUSED
        assert engine.revision > revision and [job.name for job in engine.changed_since(revision)] == ["slow"]
        await engine.cancel("pair/slow")
        await wait_for(lambda: engine.jobs["pair/slow"].state is JobState.CANCELLED, what="cancelled")
        assert await engine.retry_failed() == 0


async def test_in_process_history_comes_from_the_journal_the_engine_is_given(place: Place) -> None:
    journal = place.root / "journal.db"
    deck = deck_file(place, DECK.replace("exec sleep 60", "exit 1"))
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli", "run", "--db", str(journal), str(deck)], capture_output=True, timeout=60
    )
    assert journal.exists(), done.stderr
    history = JournalHistory(journal)
    assert isinstance(history, HistorySource)
    async with Engine(history=history) as engine:
        assert engine.history_available
        [run] = await engine.history_runs()
        assert isinstance(run, PastRun) and run.name == "pair" and run.total == 2 and run.unfinished == 0
        assert dict(run.counts) == {"succeeded": 1, "failed": 1}
        jobs = {job.name: job for job in await engine.history_jobs(run.id)}
        assert jobs["quick"] == PastJob("quick", "succeeded", 1)
        assert jobs["slow"] == PastJob("slow", "failed", 1, "exited with status 1")


async def test_without_a_journal_an_engine_has_no_history(tmp_path: Path) -> None:
    async with Engine() as engine:
        assert not engine.history_available and await engine.history_runs() == []
    async with Engine(history=JournalHistory(tmp_path / "none.db")) as engine:
        assert not engine.history_available and await engine.history_runs() == []


async def test_attached_history_is_the_servers_journal_as_the_same_types(place: Place) -> None:
    async with engine_of("attached", place) as engine:
        await engine.load(deck_file(place))
        await engine.cancel("pair/slow")
        await wait_for(lambda: engine.counts()[JobState.CANCELLED] == 1, what="cancelled")
        assert engine.history_available

        runs: list[PastRun] = []
        with anyio.fail_after(10):  # the server's journal records the change a moment later
            while not runs:
                runs = [run for run in await engine.history_runs() if not run.unfinished]
                await anyio.sleep(0.05)
        [run] = runs
        assert run.name == "pair" and dict(run.counts) == {"succeeded": 1, "cancelled": 1}
        jobs = {job.name: job for job in await engine.history_jobs(run.id)}
        assert jobs["slow"] == PastJob("slow", "cancelled", jobs["slow"].attempts, jobs["slow"].error)


@pytest.mark.parametrize("where", ["local", "attached"])
async def test_shutting_down_ends_every_job(where: str, place: Place) -> None:
    async with engine_of(where, place) as engine:
        await engine.load(deck_file(place))
        await wait_for(lambda: engine.jobs["pair/slow"].state is JobState.RUNNING, what="slow running")
        await engine.shut_down()
        if where == "local":
            assert engine.jobs["pair/slow"].state is JobState.CANCELLED
        else:
            assert not place.socket.exists()
