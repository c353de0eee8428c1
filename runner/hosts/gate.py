"""One host:port as every deck of an engine shares it: its open connections, its pacing, a pause it asked for.

A gate never makes anyone wait: it says whether a request may start now, and if not why and (for pacing and
pauses) from when. The engine keeps the jobs it turned away and offers them again (runner.engine.admission).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from runner.hosts.bandwidth import ByteBucket
from runner.hosts.waiting import HOST_BUSY, HOST_PAUSED, PACING
from runner.hosts.waiting_line import WaitingLine
from runner.model import HostLimits

DEFAULT_PORTS = {"http": 80, "https": 443}


def host_of(url: str) -> tuple[str, int] | None:
    """The host (lower case) and port a URL's request goes to; None when it has none."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host, port if port is not None else DEFAULT_PORTS.get(parts.scheme.lower(), 80)


@dataclass
class HostGate:
    name: str
    """`host:port`."""
    limits: HostLimits
    """What the config file says of this host (its table over its defaults): under a deck's and a job's."""
    bandwidth: ByteBucket | None = None
    """Shared by every fetch to this host, when the config file gives it a bandwidth."""
    connections: int = 0
    next_start: float = 0.0
    """time.monotonic() before which no request may start, by the pacing of the last one started."""
    paused_until: float = 0.0
    """time.monotonic() until which the host asked to be left alone (Retry-After)."""
    waiting: WaitingLine = field(default_factory=WaitingLine)
    """Jobs turned away: offered again as the host frees up."""
    wake_at: float | None = None
    """When a timer will offer the waiting jobs again (pacing, a pause), if one is set."""

    def refusal(self, limits: HostLimits, now: float) -> tuple[str, float | None] | None:
        """None when a request under `limits` may start now; else why not, and when it may (None: when a
        connection ends)."""
        if now < self.paused_until:
            return HOST_PAUSED, self.paused_until
        if limits.host_limit is not None and self.connections >= limits.host_limit:
            return HOST_BUSY, None
        if limits.interval and now < self.next_start:
            return PACING, self.next_start
        return None

    def start(self, limits: HostLimits, now: float) -> None:
        self.connections += 1
        if limits.interval:
            self.next_start = max(self.next_start, now + limits.interval)

    def paced_from(self, now: float, interval: float) -> None:
        """A request is being sent now: the next may start `interval` after it (when it is later than thought)."""
        self.next_start = max(self.next_start, now + interval)

    def end(self) -> None:
        self.connections -= 1

    def pause_for(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    @property
    def idle(self) -> bool:
        """Nothing to remember: no connection, nobody waiting, no pacing or pause still in force."""
        now = time.monotonic()
        return not self.connections and not self.waiting and now >= self.next_start and now >= self.paused_until
