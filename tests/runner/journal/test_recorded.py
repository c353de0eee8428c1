"""`jobdeck run` and the server wire an engine to its journal one way: `recorded_engine`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.journal.recorded import recorded_engine
from runner.journal.store import Journal
from runner.model import JobState

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]


async def test_without_a_journal_the_engine_runs_unrecorded(write_deck: WriteDeck) -> None:
    engine = Engine()
    async with recorded_engine(engine, None) as recorder:
        assert recorder is None
        await engine.load(write_deck('[[job]]\nname = "hello"\nshell = "true"\n'))
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    assert engine.job("hello").state is JobState.SUCCEEDED


async def test_the_journal_gets_the_jobs_the_engine_cancels_on_its_way_out(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    deck = write_deck('[deck]\nname = "long"\n\n[[job]]\nname = "nap"\nshell = "sleep 60"\n')
    with Journal.open(tmp_path / "journal.db") as journal:
        engine = Engine(grace_period=0.5)
        async with recorded_engine(engine, journal) as recorder:
            assert recorder is not None
            await engine.load(deck)
            with anyio.fail_after(30):
                while engine.job("nap").state is not JobState.RUNNING:
                    await anyio.sleep(0.01)
        [run] = journal.history()
        jobs = journal.jobs(run.id)
    assert jobs["nap"]["state"] == JobState.CANCELLED.value
