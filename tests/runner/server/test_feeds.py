"""A mirror's updates: a job's end waits for the journal's commit, and nothing else waits for it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runner.engine.engine import Engine
from runner.model import JobState
from runner.server.feeds import Feed
from runner.server.messages import Subscribe
from runner.server.server import Server
from tests.helpers import wait_state

pytestmark = pytest.mark.anyio


class Journaled:
    """What a feed asks of its server (the server's own methods), with a journal committed up to `committed`."""

    committed_revision = Server.committed_revision
    committed_changes = Server.committed_changes

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.recorder = SimpleNamespace(committed_revision=0)

    @property
    def committed(self) -> int:
        return int(self.recorder.committed_revision)

    @committed.setter
    def committed(self, revision: int) -> None:
        self.recorder.committed_revision = revision

    def engine_summary(self) -> dict[str, Any]:
        return {"decks": {}, "dispatching": True, "counts": {}, "kinds": []}


def states(update: dict[str, Any] | None) -> dict[str, str]:
    return {} if update is None else {job["name"]: job["state"] for job in update["jobs"]}


async def test_an_uncommitted_end_is_held_back_and_later_changes_of_other_jobs_are_not(tmp_path: Path) -> None:
    deck = tmp_path / "two.toml"
    deck.write_text(
        '[[job]]\nname = "quick"\nshell = "true"\n[[job]]\nname = "later"\nshell = "true"\nafter = ["quick"]\n'
    )
    async with Engine() as engine:
        server = Journaled(engine)
        feed = Feed(server, None, Subscribe(views=True))  # type: ignore[arg-type]
        await engine.load(deck)
        await engine.pause(engine.job("later").id)
        server.committed = engine.revision
        assert states(feed.make_update()[0])["later"] == "paused"

        await wait_state(engine, "quick", JobState.SUCCEEDED)
        await engine.pause_all()  # so that it stays queued
        await engine.resume(engine.job("later").id)  # a change after the end the journal has not committed
        assert states(feed.make_update()[0]) == {"later": "queued"}, "the end waits; the command's effect does not"
        assert feed.waiting_for is None, "it looks again at the next frame, for the commit"
        assert states(feed.make_update()[0]) == {}

        server.committed = engine.revision
        assert states(feed.make_update()[0]) == {"quick": "succeeded"}
        assert feed.waiting_for == engine.revision
