"""The server's connections: how many it keeps, which it closes, and accepting when file descriptors run out.

Every connection costs the server a file descriptor, and so do its jobs (pipes, journal files, workers). So the
server keeps at most `ConnectionLimits.max_connections` (by default a share of its RLIMIT_NOFILE, leaving the
rest to the jobs): a connection beyond that closes the longest idle one, or is refused when every connection is
in the middle of a request. A connection that sends nothing for `idle_timeout_s` is closed. Should `accept()`
still fail for want of descriptors (EMFILE and its kin), the server closes its longest idle connection, backs
off, and tries again; it says so once in its log, not at every try, and says when it accepts again.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
from anyio.abc import SocketListener, SocketStream, TaskGroup

log = logging.getLogger("jobdeck.server")

IDLE_TIMEOUT_S = 600.0
"""A connection that sends no request for this long is closed. Dashboards ask several times a second, and a
client waiting for a slow reply is not idle: only a forgotten or hostile connection lasts this long."""
DESCRIPTORS_KEPT_FOR_JOBS = 64
"""File descriptors never given to connections: the server's own files, and room for jobs to start."""
CONNECTIONS_SHARE = 0.5
"""The share of the descriptors above those kept for jobs that connections may use."""
MIN_CONNECTIONS = 8
OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 1.0
REFUSAL_TIMEOUT_S = 1.0


def descriptor_limit() -> int | None:
    """This process's soft RLIMIT_NOFILE (None when unlimited)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def default_max_connections(limit: int | None) -> int:
    """The connections kept at once under a descriptor limit of `limit`: 96 of 256, 480 of 1024."""
    if limit is None:
        return 4096
    return max(MIN_CONNECTIONS, int((limit - DESCRIPTORS_KEPT_FOR_JOBS) * CONNECTIONS_SHARE))


@dataclass(frozen=True)
class ConnectionLimits:
    idle_timeout_s: float = IDLE_TIMEOUT_S
    max_connections: int | None = None
    """None: `default_max_connections` of the descriptor limit, looked at again at each new connection."""

    def connections_allowed(self) -> int:
        if self.max_connections is not None:
            return self.max_connections
        return default_max_connections(descriptor_limit())


@dataclass(eq=False)
class Connection:
    """One client's connection: `busy` while the server works on one of its requests; `following` once it is
    subscribed to updates (runner.server.feeds): it may then send nothing for as long as it likes, and is never
    closed to make room, like a client waiting for an answer."""

    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    last_active: float = field(default_factory=time.monotonic)
    busy: bool = False
    following: bool = False

    def waits(self) -> None:
        """The server waits for the connection's next request: it is idle from now on."""
        self.busy = False
        self.last_active = time.monotonic()

    def close(self) -> None:
        """End the conversation; the server closes the socket as its handler returns."""
        self.scope.cancel()


class Connections:
    """The open connections, so that the server can shed the longest idle ones when it has too many."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open: set[Connection] = set()
        self.ceiling: int | None = None
        """A lower limit learned when descriptors ran out (the jobs use more than the share left to them)."""
        self.crowded = False
        """Said in the log that connections are shed; said again only once they are few again."""

    def add(self) -> Connection:
        connection = Connection()
        self.open.add(connection)
        return connection

    async def serve(
        self,
        connection: Connection,
        handler: Callable[[SocketStream, Connection], Awaitable[None]],
        stream: SocketStream,
    ) -> None:
        """Run the connection's handler until it returns or the connection is closed."""
        try:
            with connection.scope:
                await handler(stream, connection)
        finally:
            self.open.discard(connection)
            await stream.aclose()

    def allowed(self) -> int:
        allowed = self.limits.connections_allowed()
        return allowed if self.ceiling is None else min(allowed, self.ceiling)

    def live(self) -> list[Connection]:
        """The open connections not being closed already."""
        return [connection for connection in self.open if not connection.scope.cancel_called]

    def shed_idle(self) -> bool:
        """Close the connection idle the longest; False when every connection is busy (or none is open)."""
        idle = [connection for connection in self.live() if not (connection.busy or connection.following)]
        if not idle:
            return False
        min(idle, key=lambda connection: connection.last_active).close()
        return True

    def make_room(self) -> bool:
        """Room for one more connection, closing the longest idle one when the server keeps its most already;
        False when there is none to close (the new one is to be refused)."""
        allowed = self.allowed()
        live = len(self.live())
        if live < allowed:
            if self.crowded and live < allowed // 2:
                self.crowded = False
                self.ceiling = None
                log.info("fewer connections again (%d open): none are shed now", live)
            return True
        self._say_crowded(
            f"{live} connections open, the most this server keeps (its file descriptor limit is "
            f"{descriptor_limit() or 'unlimited'})"
        )
        return self.shed_idle()

    def out_of_descriptors(self, why: str) -> None:
        """`accept()` found no descriptor free: keep fewer connections from now on, leaving the rest to the jobs,
        and close the longest idle ones above that."""
        live = len(self.live())
        self.ceiling = max(MIN_CONNECTIONS, min(self.ceiling or live, live * 3 // 4))
        self._say_crowded(f"out of file descriptors ({why}) with {live} connections open; now keeping {self.ceiling}")
        while len(self.live()) > self.ceiling and self.shed_idle():
            pass
        if len(self.live()) >= live:
            self.shed_idle()  # at least one, for the connection waiting to be accepted

    def _say_crowded(self, what: str) -> None:
        if not self.crowded:
            self.crowded = True
            log.warning(
                "%s: the longest idle connections are closed to admit new ones, and new ones are refused while "
                "all are busy (said once, until there are few connections again)",
                what,
            )


async def accept_connections(
    listener: SocketListener,
    handler: Callable[[SocketStream, Connection], Awaitable[None]],
    connections: Connections,
    group: TaskGroup,
) -> None:
    """Accept connections for ever, each handled in a task of `group`; see the module's docstring."""
    backoff: float | None = None
    while True:
        try:
            stream = await listener.accept()
        except anyio.BrokenResourceError as broken:
            cause = broken.__cause__
            if not isinstance(cause, OSError) or cause.errno not in OUT_OF_DESCRIPTORS:
                raise
            connections.out_of_descriptors(cause.strerror or str(cause))
            backoff = FIRST_BACKOFF_S if backoff is None else min(backoff * 2, MAX_BACKOFF_S)
            await anyio.sleep(backoff)  # the waiting connection stays in the backlog: do not spin on it
            continue
        backoff = None
        if connections.make_room():
            group.start_soon(connections.serve, connections.add(), handler, stream)
        else:
            group.start_soon(refuse_busy, stream)


async def refuse_busy(stream: SocketStream) -> None:
    """Tell a connection beyond the limit why it is closed (bounded: it may never read)."""
    from runner.server.framing import send_message
    from runner.server.messages import Failure, failure_message

    refusal = Failure("busy", "the jobdeck server has too many connections, all busy; try again shortly")
    async with stream:
        with anyio.move_on_after(REFUSAL_TIMEOUT_S):
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await send_message(stream, failure_message(None, refusal))
