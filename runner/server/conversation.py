"""The server's side of one connection: its messages go out one at a time, and a subscribed one also carries
pushed updates (runner.server.feeds), each reply after an update with what its request changed."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import SocketStream, TaskGroup

from runner.server.framing import send_message

if TYPE_CHECKING:
    from runner.server.connections import Connection
    from runner.server.feeds import Feed


class Conversation:
    """A connection's messages out: replies from the request loop and, once subscribed, updates from its feed's
    task in `tasks` (which ends with the connection)."""

    def __init__(self, stream: SocketStream, connection: Connection, tasks: TaskGroup) -> None:
        self.stream = stream
        self.connection = connection
        self.tasks = tasks
        self.feed: Feed | None = None
        self.sending = anyio.Lock()
        """Held while a message goes out (and while a feed makes the update it is about to send)."""

    async def send(self, message: dict[str, Any]) -> None:
        async with self.sending:
            await send_message(self.stream, message)

    async def reply(self, message: dict[str, Any], *, since: int | None = None) -> None:
        """Send a reply; on a subscribed connection, after what the request changed (`Feed.send_reply`: `since` is
        the engine's revision when the request came; None: every update still to send goes first)."""
        async with self.sending:
            if self.feed is None:
                await send_message(self.stream, message)
            else:
                await self.feed.send_reply(message, since)


current_conversation: ContextVar[Conversation] = ContextVar("current_conversation")
"""The conversation whose request is being handled (a handler that needs its connection reads it here)."""
