"""Push streams: a client subscribes once on its connection (`Subscribe`), and the server sends it an `Update`
whenever the engine has changed, instead of the client asking several times a second.

Coalesced: an update goes out at most every FRAME_S (the first change after a quiet spell goes at once, the
changes after it wait for the frame), and none while nothing changes: the feed's task waits on the engine's
revision (`Engine.wait_for_change`), so an idle server and an idle client do nothing for it.

Bounded: an update is made only when the previous one has been written, from the engine's state as it is then,
so what waits for a slow reader is never more than one update. A mirror gets each changed job's latest state
(however many times it changed meanwhile); an event stream gets each change of state from the server's
bounded StateLog, output lines from the tail the engine keeps of each job, the latest progress, and `dropped`
events for what a reader too slow for them missed (runner.server.feed_events). A reader that takes nothing
for as long as a connection may stay idle is disconnected, and the server's log says why. The engine never
waits for a feed: it only bumps its revision.

Before a reply, a mirror gets what the request changed, ahead of the other changes (`Feed.send_reply`):
a command's effect is in the mirror when the command returns, without the wait for everything else.

Like every view of the server, a feed shows a job's end only once the journal has committed it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import ByteSendStream, SocketAttribute, UNIXSocketStream

from runner.server.conversation import Conversation, current_conversation
from runner.server.feed_events import EventTeller, event_json
from runner.server.framing import encode
from runner.server.messages import EventType, StreamEvent, Subscribe, Subscribed, Update, push_message
from runner.server.protocol import snapshot_jobs
from runner.server.state_log import StateLog
from runner.server.wire import to_wire

if TYPE_CHECKING:
    from runner.model import JobSpec
    from runner.server.server import Server

log = logging.getLogger("jobdeck.server")

FRAME_S = 0.05
"""At most one update per this long while the engine changes: 20 a second, faster than a dashboard redraws."""
GOODBYE_S = 1.0
"""How long the last updates may take to go out when the server stops."""


class Feed:
    """One subscribed connection's stream of updates."""

    def __init__(self, server: Server, conversation: Conversation, request: Subscribe) -> None:
        self.server = server
        self.conversation = conversation
        self.views = request.views
        self.deck = request.deck
        engine = server.engine
        self.revision = 0
        """The engine revision the views are up to: a mirror starts from nothing."""
        self.held: set[str] = set()
        """Jobs whose end was not shown yet: the journal had not committed it."""
        self.specs_sent: dict[str, JobSpec] = {}
        """The spec each job had when its summary last went to this reader: until it changes (an `after` made
        concrete), the job's later views go without it, the reader keeping what it has (a job changes two or
        three times; its summary was most of the cost of its view)."""
        self.sent_ahead: dict[str, int] = {}
        """Jobs sent ahead of the others before a reply, with their revision then: the next update leaves out
        those that have not changed since."""
        self.events_revision = engine.revision
        """The engine revision the events are up to: they tell what happens from now on."""
        self.teller = EventTeller(engine, server.feeds.state_log, request.deck) if request.events else None
        self.first = True
        self.next_at = 0.0
        """When the next update may go (anyio.current_time())."""

    def close(self) -> None:
        if self.teller is not None:
            self.teller.close()

    async def run(self) -> None:
        """Send updates for as long as the connection lasts; a connection that cannot be written to is closed."""
        engine = self.server.engine
        try:
            while True:
                waiting_for = self.waiting_for
                if waiting_for is None:
                    await anyio.sleep(FRAME_S)
                else:
                    await engine.wait_for_change(waiting_for)
                delay = self.next_at - anyio.current_time()
                if delay > 0:
                    await anyio.sleep(delay)
                async with self.conversation.sending:
                    await self.push_pending()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            log.debug("a subscriber hung up", exc_info=True)
            self.conversation.connection.close()

    async def push_pending(self) -> None:
        """Send the updates that bring the stream up to date (several when they do not fit in one). Call it with
        the conversation's `sending` lock held."""
        while True:
            update, more = self.make_update()
            if update is not None:
                await self.send(update)
            if not more:
                return

    async def send_reply(self, reply: dict[str, Any], since: int | None) -> None:
        """Send a reply after what its request changed (call it with the conversation's `sending` lock held).
        `since`: the engine's revision when the request came.

        A mirror gets one update ahead of the rest with the jobs changed since then (a command's job, the jobs
        its cancel skipped), and nothing when nothing changed: at a thousand changes a second, sending every
        pending change first made a command's reply wait for an update of dozens of jobs, which the dashboard
        waiting for it then had to read and apply. The other changes follow at the next frame as usual (and the
        jobs sent ahead if they changed again: a job's views never go back in time). The update and the reply
        go in one write: on a busy server, each write let the event loop run other work first (a millisecond,
        typically). Every pending update goes first instead for an event stream (its events stay in order),
        before the first update, when `since` is None, and when what changed does not fit in one update."""
        reply_frame = encode(reply)  # too large (ProtocolError): nothing is sent, and nothing marked sent ahead
        ahead = self._ahead(since)
        if ahead is None:
            await self.push_pending()
            await self._write(reply_frame)
        else:
            await self._write((encode(push_message(ahead)) if ahead else b"") + reply_frame)

    def _ahead(self, since: int | None) -> dict[str, Any] | None:
        """The update to send before a reply (empty: none is needed), or None when every pending one must go."""
        engine = self.server.engine
        if since is None or self.teller is not None or not self.views or self.first:
            return None
        if engine.revision <= since:
            return {}
        committed = self.server.committed_revision()
        shown = [
            job
            for job in engine.changed_since(since)
            if (self.deck is None or job.deck == self.deck)
            and (job.revision > self.revision or job.id in self.held)  # not shown as it is by an update already
            and not (committed is not None and job.state.finished and job.revision > committed)
        ]
        jobs, cut = snapshot_jobs(shown, known_specs=self.specs_sent)
        if cut is not None:
            return None
        self._note_specs_sent(jobs)
        self.sent_ahead.update((job.id, job.revision) for job in shown)
        # The stream's revision does not move: what it is up to is what the next update goes on from.
        update = Update(jobs=[], more=False, revision=self.revision, **self.server.engine_summary(), events=[])
        return {**to_wire(update), "jobs": jobs}

    async def send(self, update: dict[str, Any]) -> None:
        await self._write(encode(push_message(update)))

    async def _write(self, frames: bytes) -> None:
        """Write at once what the socket takes; the rest (a slow reader's) once there is room, for a while."""
        stream = self.conversation.stream
        written = _write_now(stream, frames)
        if written == len(frames):
            return
        limit = self.server.connections.limits.idle_timeout_s
        with anyio.move_on_after(limit) as stalled:
            await stream.send(frames[written:])
        if stalled.cancelled_caught:
            log.warning("closed a subscriber that read nothing for %g s (its updates could not be sent)", limit)
            self.conversation.connection.close()
            raise anyio.BrokenResourceError

    def make_update(self, *, stopping: bool = False) -> tuple[dict[str, Any] | None, bool]:
        """The next update (None: nothing to tell), and whether more is waiting for the one after."""
        self.next_at = anyio.current_time() + FRAME_S
        jobs: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        more = moved = False
        if self.views:
            since = self.revision
            jobs, more = self._views()
            moved = self.revision > since
        if self.teller is not None:
            events, full = self._events()
            more = more or full
            if stopping:
                events.append(event_json(StreamEvent(EventType.SERVER_STOPPED, time.time())))
        if not (jobs or events or stopping or self.first or moved):
            return None, more
        self.first = False
        revision = self.revision if self.views else self.events_revision
        summary = self.server.engine_summary()
        update = Update(jobs=[], more=more, revision=revision, **summary, events=[], stopping=stopping)
        # The jobs and events are JSON already (measured, to keep the update inside a frame).
        return {**to_wire(update), "jobs": jobs, "events": events}, more

    def _views(self) -> tuple[list[dict[str, Any]], bool]:
        """The wire views of the jobs changed since the last update, and whether some were left for the next.

        A job whose end the journal has not committed yet is held back (it shows as it was) until it has,
        while every other change goes out at once: a command's effect is not kept waiting by other jobs' ends."""
        engine = self.server.engine
        committed = self.server.committed_revision()
        candidates = engine.changed_since(self.revision)
        if self.held:  # held back last time and not changed since: they are not among the candidates
            jobs = engine.jobs
            candidates += [
                jobs[job_id] for job_id in self.held if job_id in jobs and jobs[job_id].revision <= self.revision
            ]
        if self.deck is not None:
            candidates = [job for job in candidates if job.deck == self.deck]
        if self.sent_ahead:
            sent, self.sent_ahead = self.sent_ahead, {}
            candidates = [job for job in candidates if sent.get(job.id) != job.revision]
        shown = []
        self.held = set()
        for job in candidates:
            if committed is not None and job.state.finished and job.revision > committed:
                self.held.add(job.id)
            else:
                shown.append(job)
        upto = engine.revision
        jobs, cut = snapshot_jobs(shown, known_specs=self.specs_sent)
        self._note_specs_sent(jobs)
        if cut is not None:  # the jobs changed after `cut` come with the next update, held or not
            upto = cut
            self.held = {job_id for job_id in self.held if engine.jobs[job_id].revision <= cut}
        self.revision = upto
        return jobs, cut is not None

    def _note_specs_sent(self, views: list[dict[str, Any]]) -> None:
        jobs = self.server.engine.jobs
        for view in views:
            if "spec" in view:
                self.specs_sent[view["id"]] = jobs[view["id"]].spec
        if len(self.specs_sent) > 2 * len(jobs) + 1000:  # forgotten decks' jobs
            self.specs_sent = {job_id: spec for job_id, spec in self.specs_sent.items() if job_id in jobs}

    def _events(self) -> tuple[list[dict[str, Any]], bool]:
        """The events since the last update, and whether some were left for the next. The changes after a job's
        end that the journal has not committed yet all wait for it, so that they are told in order."""
        assert self.teller is not None
        self.teller.state_log.catch_up()
        changed, upto = self.server.committed_changes(self.events_revision)
        if self.deck is not None:
            changed = [job for job in changed if job.deck == self.deck]
        self.events_revision = upto
        return self.teller.events(changed, upto)

    @property
    def waiting_for(self) -> int | None:
        """The engine revision this feed waits to see pass; None when it must look again at the next frame
        (what it holds back waits for the journal, not for the engine)."""
        if self.held:
            return None
        if self.views and self.teller is not None:
            return min(self.revision, self.events_revision)
        return self.revision if self.views else self.events_revision


def _write_now(stream: ByteSendStream, data: bytes) -> int:
    """Write what the stream's socket takes now, without waiting; how many bytes that was.

    A stream's own `send` first lets the event loop run whatever else is ready: on a server running a thousand
    state changes a second, that was a millisecond or more before a command's reply went out. Only for a UNIX
    socket stream (the server's): its `send` writes to the socket until done, keeping nothing back, so a direct
    write after it (under the conversation's `sending` lock) cannot overtake earlier bytes. A transport-based
    stream may still hold some, and always goes through its own `send`."""
    if not isinstance(stream, UNIXSocketStream):
        return 0
    sock = stream.extra(SocketAttribute.raw_socket)
    try:
        return int(sock.send(data))
    except OSError:  # no room (BlockingIOError), or a broken connection, which the stream's send then reports
        return 0


class Feeds:
    """The server's feeds, and the StateLog their event streams read."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.state_log = StateLog(server.engine)
        self.open: set[Feed] = set()

    async def subscribe(self, request: Subscribe) -> Any:
        """The `subscribe` handler: the connection whose request this is becomes a feed; its first updates go
        before this reply (Conversation.reply)."""
        conversation = current_conversation.get()
        if conversation.feed is not None:
            raise ValueError("this connection is subscribed already")
        feed = Feed(self.server, conversation, request)
        conversation.feed = feed
        conversation.connection.following = True
        self.open.add(feed)
        conversation.tasks.start_soon(self._follow, feed)
        return to_wire(Subscribed(self.server.engine.revision))

    async def _follow(self, feed: Feed) -> None:
        try:
            await feed.run()
        finally:
            self.open.discard(feed)
            feed.close()

    async def run(self) -> None:
        """The server's part of every feed, for as long as it serves."""
        await self.state_log.run()

    async def say_goodbye(self) -> None:
        """The server stops: every feed gets what changed last, then an update that says so (bounded in time)."""
        if not self.open:
            return
        recorder = self.server.recorder
        with anyio.move_on_after(GOODBYE_S, shield=True):
            if recorder is not None:
                await recorder.flush()  # the jobs' last states are shown, now that they are committed
            async with anyio.create_task_group() as group:
                for feed in list(self.open):
                    group.start_soon(self._goodbye, feed)

    @staticmethod
    async def _goodbye(feed: Feed) -> None:
        try:
            async with feed.conversation.sending:
                await feed.push_pending()
                last, _ = feed.make_update(stopping=True)
                if last is not None:
                    await feed.send(last)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
