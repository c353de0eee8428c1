"""Loading a job file whose earlier load is still at work: refused when asked to (`again=False`), allowed otherwise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.engine.engine import Engine
from runner.errors import DeckAlreadyLoaded
from tests.helpers import wait_for

pytestmark = pytest.mark.anyio
WriteDeck = Callable[..., Path]

DECK = (
    '[deck]\nname = "work"\n[[job]]\nname = "long"\nshell = "exec sleep 60"\n[[job]]\nname = "quick"\nshell = "true"\n'
)


async def test_a_file_still_at_work_is_refused_without_again_and_names_the_earlier_deck(write_deck: WriteDeck) -> None:
    path = write_deck(DECK)
    async with Engine() as engine:
        await engine.load(path)
        await wait_for(lambda: engine.job("work/quick").state.finished, what="quick done")
        with pytest.raises(DeckAlreadyLoaded) as refused:
            await engine.load(path, again=False)
        assert refused.value.deck == "work" and refused.value.unfinished == 1
        assert list(engine.decks) == ["work"]
        assert (await engine.load(path, again=True)).name == "work#2"
        await engine.cancel_all()


async def test_a_finished_file_or_a_changed_one_loads_without_asking(write_deck: WriteDeck) -> None:
    path = write_deck(DECK)
    async with Engine() as engine:
        await engine.load(path)
        path.write_text(DECK.replace("exec sleep 60", "exec sleep 61"))  # other jobs: other work
        assert (await engine.load(path, again=False)).name == "work#2"
        await engine.cancel_all()
        await wait_for(lambda: all(job.state.finished for job in engine.jobs.values()), what="all cancelled")
        assert (await engine.load(path, again=False)).name == "work#3"  # the earlier copies are finished
        await engine.cancel_all()
