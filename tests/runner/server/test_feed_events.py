"""An event stream's changes of state: each one in order while the stream keeps up with the bounded log, and how
far it fell behind, then each job as it is now, when it does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runner.engine.engine import Engine
from runner.server.feed_events import EventTeller
from runner.server.state_log import StateLog
from tests.helpers import wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
async def held_jobs(tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine with two queued jobs that never start (dispatching is paused): their states change only by
    command, so every change is known."""
    deck = tmp_path / "held.toml"
    deck.write_text('[deck]\nname = "held"\n[[job]]\nname = "a"\nshell = "true"\n[[job]]\nname = "b"\nshell = "true"\n')
    async with Engine() as engine:
        await engine.pause_all()
        await engine.load(deck)
        yield engine


async def told_after(engine: Engine, log: StateLog, commands: list[tuple[str, str]]) -> list[dict[str, Any]]:
    teller = EventTeller(engine, log)
    revision = engine.revision
    for command, job in commands:
        await getattr(engine, command)(job)
    log.catch_up()
    events, more = teller.events(engine.changed_since(revision), engine.revision)
    teller.close()
    assert not more
    return events


def toggles(count: int) -> list[tuple[str, str]]:
    return [(command, "held/a") for _ in range(count) for command in ("pause", "resume")]


async def test_a_stream_that_keeps_up_is_told_every_change_in_order(held_jobs: Engine) -> None:
    events = await told_after(held_jobs, StateLog(held_jobs, capacity=10), [*toggles(2), ("pause", "held/b")])
    assert [(event["id"], event["previous"], event["state"]) for event in events] == [
        ("held/a", "queued", "paused"),
        ("held/a", "paused", "queued"),
        ("held/a", "queued", "paused"),
        ("held/a", "paused", "queued"),
        ("held/b", "queued", "paused"),
    ]


async def test_a_stream_behind_the_log_is_told_how_many_it_missed_then_each_job_as_it_is(held_jobs: Engine) -> None:
    log = StateLog(held_jobs, capacity=3)
    events = await told_after(held_jobs, log, [*toggles(3), ("pause", "held/b")])
    assert events[0]["type"] == "dropped" and events[0]["states"] == 4, "7 changes, the last 3 kept"
    now = [(event["id"], event["state"]) for event in events[1:]]
    assert now == [("held/a", "queued"), ("held/b", "paused")]
    assert all("previous" not in event for event in events[1:])
    assert log.entries.maxlen == 3 and len(log.entries) == 3


async def test_a_line_written_before_the_log_takes_the_job_s_start_is_told_after_the_start(tmp_path: Path) -> None:
    # A shell job's first line can come before the log's task has taken the job's change to running (the log
    # takes the engine's events in a task of its own): it must still be told after that change.
    deck = tmp_path / "quick.toml"
    deck.write_text('[deck]\nname = "quick"\n[[job]]\nname = "hello"\nshell = "echo awake; exec sleep 60"\n')
    async with Engine() as engine:
        log = StateLog(engine)
        teller = EventTeller(engine, log)  # a reader, and no task taking the events: they wait until catch_up
        revision = engine.revision
        await engine.load(deck)
        await wait_for(lambda: engine.job("quick/hello").output_total == 1, what="the job's line")
        log.catch_up()
        events, _ = teller.events(engine.changed_since(revision), engine.revision)
        teller.close()
        await engine.cancel("quick/hello")
    told = [(event["type"], event.get("state") or event.get("line")) for event in events]
    assert told == [("deck_loaded", None), ("state", "running"), ("output", "awake")]
