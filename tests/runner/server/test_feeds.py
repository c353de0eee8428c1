"""A mirror's updates: a job's end waits for the journal's commit, and nothing else waits for it; a reply comes
after what its request changed, not after every change pending."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from runner.engine.engine import Engine
from runner.model import JobState
from runner.server.conversation import Conversation
from runner.server.feeds import Feed
from runner.server.framing import HEADER, decode
from runner.server.messages import Subscribe
from runner.server.protocol import snapshot_jobs
from runner.server.server import Server
from runner.server.state_log import StateLog
from runner.server.views import JobView
from tests.helpers import wait_state

pytestmark = pytest.mark.anyio


class Journaled:
    """What a feed asks of its server (the server's own methods), with a journal committed up to `committed`."""

    committed_revision = Server.committed_revision
    committed_changes = Server.committed_changes

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.recorder = SimpleNamespace(committed_revision=0)
        self.connections = SimpleNamespace(limits=SimpleNamespace(idle_timeout_s=10.0))
        self.feeds = SimpleNamespace(state_log=StateLog(engine))

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


class Wire:
    """A conversation whose messages go to a list instead of a socket: what its client would read, in order."""

    def __init__(self, server: Journaled, subscription: Subscribe) -> None:
        self.sent, self._received = anyio.create_memory_object_stream[bytes](100)
        self.conversation = Conversation(self.sent, None, None)  # type: ignore[arg-type]
        self.feed = self.conversation.feed = Feed(server, self.conversation, subscription)  # type: ignore[arg-type]
        self.frames_per_write: list[int] = []

    def read(self) -> list[dict[str, Any]]:
        messages = []
        while True:
            try:
                written = self._received.receive_nowait()  # one write: one frame or more
            except anyio.WouldBlock:
                return messages
            self.frames_per_write.append(0)
            while written:
                (length,) = HEADER.unpack(written[: HEADER.size])
                messages.append(decode(written[HEADER.size : HEADER.size + length]))
                written = written[HEADER.size + length :]
                self.frames_per_write[-1] += 1

    def updates_before(self, reply: dict[str, Any]) -> list[dict[str, str]]:
        """The jobs' states in each update sent before `reply`, which must come last."""
        *updates, last = self.read()
        assert last == reply
        return [states(update["push"]) for update in updates]


async def test_a_reply_comes_after_what_its_request_changed_and_the_other_changes_follow(tmp_path: Path) -> None:
    deck = tmp_path / "three.toml"
    deck.write_text("".join(f'[[job]]\nname = "{name}"\nshell = "true"\n' for name in ("a", "b", "c")))
    async with Engine() as engine:
        await engine.pause_all()  # so that they stay queued
        await engine.load(deck)
        server = Journaled(engine)
        server.committed = engine.revision
        wire = Wire(server, Subscribe(views=True))
        await wire.conversation.reply({"id": 1}, since=engine.revision)
        assert wire.updates_before({"id": 1}) == [{"a": "queued", "b": "queued", "c": "queued"}], "the first: all"

        await engine.pause(engine.job("a").id)  # changed since the last update, by someone else
        since = engine.revision
        await engine.pause(engine.job("b").id)  # what the request changes
        await wire.conversation.reply({"id": 2}, since=since)
        assert wire.updates_before({"id": 2}) == [{"b": "paused"}], "the request's change alone, ahead of a's"
        assert wire.frames_per_write[-1] == 2, "the update and its reply in one write (one turn of the loop)"
        assert states(wire.feed.make_update()[0]) == {"a": "paused"}, "then the rest, not b again"

        since = engine.revision
        await engine.resume(engine.job("a").id)
        await wire.conversation.reply({"id": 3}, since=since)
        await engine.pause(engine.job("a").id)  # after it went ahead: the next update has it again
        assert wire.updates_before({"id": 3}) == [{"a": "queued"}]
        assert states(wire.feed.make_update()[0]) == {"a": "paused"}

        await engine.pause(engine.job("c").id)  # by someone else
        await wire.conversation.reply({"id": 4}, since=engine.revision)
        assert wire.updates_before({"id": 4}) == [], "a request that changed nothing is answered at once"
        assert states(wire.feed.make_update()[0]) == {"c": "paused"}

        since = engine.revision
        await engine.resume_all()  # no job changes (all are paused), but what the dashboard shows does
        await wire.conversation.reply({"id": 5}, since=since)
        [update] = [message["push"] for message in wire.read()[:-1]]
        assert update["jobs"] == [] and update["dispatching"] is True


async def test_before_a_reply_an_uncommitted_end_is_held_back_and_an_event_stream_gets_every_update(
    tmp_path: Path,
) -> None:
    deck = tmp_path / "two.toml"
    deck.write_text('[[job]]\nname = "quick"\nshell = "true"\n[[job]]\nname = "other"\nshell = "sleep 30"\n')
    async with Engine() as engine:
        await engine.pause_all()
        await engine.load(deck)
        server = Journaled(engine)
        wire, events = Wire(server, Subscribe(views=True)), Wire(server, Subscribe(events=True))
        wire.feed.make_update()
        since = engine.revision
        await engine.pause(engine.job("other").id)
        await engine.resume_all()
        await wait_state(engine, "quick", JobState.SUCCEEDED)  # its end: not committed (committed stays 0)
        await wire.conversation.reply({"id": 1}, since=since)
        assert wire.updates_before({"id": 1}) == [{"other": "paused"}]

        await events.conversation.reply({"id": 1}, since=since)
        *pushed, _ = events.read()
        assert pushed and all("push" in message for message in pushed)
        assert pushed[0]["push"]["events"], "an event stream's reply waits for the events before it, in order"


async def test_a_jobs_spec_goes_to_a_reader_once_and_its_mirror_keeps_it(tmp_path: Path) -> None:
    """A job changes two or three times; its spec summary, most of the cost of its view, goes with the first
    update alone (and a snapshot still carries it: a snapshot's reader may have nothing)."""
    deck = tmp_path / "one.toml"
    deck.write_text('[[job]]\nname = "nap"\nshell = "sleep 30"\nretries = 2\n')
    async with Engine() as engine:
        await engine.pause_all()
        await engine.load(deck)
        server = Journaled(engine)
        server.committed = engine.revision
        feed = Feed(server, None, Subscribe(views=True))  # type: ignore[arg-type]
        [first] = feed.make_update()[0]["jobs"]  # type: ignore[index]
        assert first["spec"]["target"] == "sleep 30" and first["spec"]["retries"] == 2
        mirror = JobView.from_dict(first)

        await engine.pause(engine.job("nap").id)
        [later] = feed.make_update()[0]["jobs"]  # type: ignore[index]
        assert "spec" not in later and later["state"] == "paused"
        mirror.update(later)
        assert (mirror.state, mirror.spec.target, mirror.spec.retries) == (JobState.PAUSED, "sleep 30", 2)

        again = Feed(server, None, Subscribe(views=True))  # type: ignore[arg-type] # another reader: from scratch
        [fresh] = again.make_update()[0]["jobs"]  # type: ignore[index]
        assert fresh["spec"]["target"] == "sleep 30"
        assert snapshot_jobs([engine.job("nap")])[0][0]["spec"]["target"] == "sleep 30"
