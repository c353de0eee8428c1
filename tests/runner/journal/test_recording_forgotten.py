"""The recorder after a deck is forgotten: the engine holds as many decks as before, and a new one is still seen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.journal.recorder import Recorder
from runner.journal.store import Journal

pytestmark = pytest.mark.anyio


async def test_a_deck_loaded_right_after_a_forget_is_journaled(write_deck: Callable[..., Path], tmp_path: Path) -> None:
    first = write_deck('[deck]\nname = "first"\n[[job]]\nname = "a"\nshell = "true"\n', name="first.toml")
    second = write_deck('[deck]\nname = "second"\n[[job]]\nname = "b"\nshell = "true"\n', name="second.toml")
    with Journal.open(tmp_path / "journal.db") as journal:
        engine = Engine()
        async with Recorder(engine, journal, flush_interval=60) as recorder, engine:
            await engine.add_deck(load_deck(first))
            await engine.wait_until_settled()
            await recorder.flush()
            await engine.forget("first")
            await engine.add_deck(load_deck(second))  # within one flush interval: one deck, as before
            await engine.wait_until_settled()
            await recorder.flush()
        assert sorted(run.name for run in journal.history()) == ["first", "second"]
        assert {run.name: run.counts for run in journal.history()}["second"] == {"succeeded": 1}
