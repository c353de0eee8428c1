"""Forgetting finished decks in the engine: what goes, what is refused, and that a name is never reused."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.deck.parser import load_deck
from runner.engine import engine as engine_module
from runner.engine.engine import FREEZE_MIN_JOBS, Engine
from runner.errors import CommandError
from runner.model import CallSpec, JobState
from tests.helpers import wait_for

pytestmark = pytest.mark.anyio
WriteDeck = Callable[..., Path]


async def test_a_finished_deck_is_forgotten_and_its_name_not_given_again(write_deck: WriteDeck) -> None:
    quick = write_deck(
        '[deck]\nname = "quick"\n[[job]]\nname = "add"\ncall = "tasks:add"\non = "thread"\neach = [1, 2, 3]\n'
        "args = ['{item}', 1]\n",
        name="quick.toml",
    )
    held = write_deck('[deck]\nname = "held"\n[[job]]\nname = "wait"\nshell = "true"\n', name="held.toml")
    async with Engine() as engine:
        await engine.pause_all()
        await engine.add_deck(load_deck(held))
        await engine.pause(engine.job("held/wait"))  # held back while queued: it stays unfinished
        await engine.resume_all()
        await engine.add_deck(load_deck(quick))
        await wait_for(lambda: all(job.state.finished for job in engine.jobs_of("quick")), what="quick done")
        revision = engine.revision

        assert await engine.forget("quick") == 3
        assert list(engine.decks) == ["held"]
        assert list(engine.jobs) == ["held/wait"]
        assert engine.counts()[JobState.SUCCEEDED] == 0 and engine.counts()[JobState.PAUSED] == 1
        assert engine.revision > revision

        with pytest.raises(CommandError, match="cannot forget held: 1 of its jobs has not finished"):
            await engine.forget("held")
        with pytest.raises(CommandError, match="no deck named 'quick'"):
            await engine.forget("quick")
        assert await engine.forget_finished() == []

        again = await engine.add_deck(load_deck(quick))
        assert again.name == "quick#2"
        assert min(job.order for job in engine.jobs_of("quick#2")) > engine.jobs["held/wait"].order
        await engine.resume(engine.job("held/wait"))
        await engine.wait_until_settled()
        assert await engine.forget_finished(ended_before=time.time() - 3600) == []  # not long enough ago
        assert await engine.forget_finished() == ["held", "quick#2"]
        assert not engine.jobs and engine.counts() == dict.fromkeys(JobState, 0)


async def test_a_finished_job_keeps_only_its_outcome(write_deck: WriteDeck) -> None:
    """What a finished job costs a long-lived server: no output tail (nor room for one) unless it wrote one, no
    scheduling state."""
    deck = write_deck(
        '[deck]\nname = "slim"\n[[job]]\nname = "quiet"\ncall = "tasks:add"\non = "thread"\nargs = [1, 2]\n'
        '[[job]]\nname = "chatty"\nshell = "echo hello"\n'
    )
    async with Engine() as engine:
        await engine.add_deck(load_deck(deck))
        await engine.wait_until_settled()
        quiet, chatty = engine.jobs["slim/quiet"], engine.jobs["slim/chatty"]
        assert not hasattr(quiet, "__dict__")  # slotted
        assert quiet._extras is None and quiet.output_total == 0 and quiet.note is None
        assert list(chatty.output)[-1].text == "hello"
        assert not engine._runs  # finished jobs need no scheduling state...
        await engine.retry(chatty)  # ...and get it back when queued again
        await engine.wait_until_settled()
        assert chatty.state is JobState.SUCCEEDED and len(chatty.attempts) == 2


async def test_a_big_finished_deck_leaves_no_scheduling_tables_behind(write_deck: WriteDeck) -> None:
    """A dict keeps its peak size when emptied: the tables kept for unfinished jobs shrink as a big deck ends,
    and a finished job's lane is found again when it is retried."""
    deck = write_deck(
        '[deck]\nname = "big"\n[[job]]\nname = "add"\ncall = "tasks:add"\non = "thread"\n'
        f"each = {list(range(3000))}\nargs = ['{{item}}', 1]\n"
    )
    async with Engine() as engine:
        empty_dict_size = sys.getsizeof({})
        await engine.add_deck(load_deck(deck))
        await engine.wait_until_settled()
        assert not engine._job_lanes and sys.getsizeof(engine._job_lanes) == empty_dict_size
        assert sys.getsizeof(engine._runs) < 4 * empty_dict_size
        (lane,) = engine._lanes.values()
        assert sys.getsizeof(lane._tickets) == empty_dict_size
        job = engine.jobs["big/add[7]"]
        assert sys.getsizeof(job.attempts) == sys.getsizeof([job.attempts[0]])  # no room kept for more
        assert job.spec._work is None  # type: ignore[attr-defined]  # made again when asked for
        assert job.spec.work == CallSpec("tasks", "add", (7, 1), on="thread", base_dir=deck.parent)
        await engine.retry(job)
        await engine.wait_until_settled()
        assert job.state is JobState.SUCCEEDED and job.result == 8 and len(job.attempts) == 2
        assert not engine._job_lanes


async def test_freed_memory_is_given_back_when_a_big_deck_settles_and_when_forgotten(
    write_deck: WriteDeck, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C heap keeps freed pages unless trimmed: after a big deck's end, and after forgetting, it is."""
    trims: list[int] = []
    monkeypatch.setattr(engine_module, "give_back_freed_memory", lambda: trims.append(1))
    small = write_deck(
        '[deck]\nname = "small"\n[[job]]\nname = "add"\ncall = "tasks:add"\non = "thread"\nargs = [1, 2]\n'
    )
    big = write_deck(
        '[deck]\nname = "big"\n[[job]]\nname = "add"\ncall = "tasks:add"\non = "thread"\n'
        f"each = {list(range(FREEZE_MIN_JOBS))}\nargs = ['{{item}}', 1]\n",
        name="big.toml",
    )
    async with Engine() as engine:
        await engine.add_deck(load_deck(small))
        await engine.wait_until_settled()
        assert trims == []  # a few jobs free too little to be worth a trim
        await engine.add_deck(load_deck(big))
        await engine.wait_until_settled()
        assert len(trims) == 1
        engine.take_changes()
        await engine.forget("big")
        assert len(trims) == 2
