"""What the user config file says: caps across every deck of the engine, and limits for every host or one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runner.model import NO_HOST_LIMITS, HostLimits

SERVER_LIMIT_KEYS = ("fetch_limit", "process_limit", "shell_limit")
SLOT_OF_LIMIT = {"fetch_limit": "fetch", "process_limit": "process", "shell_limit": "shell"}
"""Which engine lane (runner.kinds: JobKind.slot) each server-wide limit caps."""


@dataclass(frozen=True)
class UserConfig:
    path: Path | None = None
    """The file it was read from; None: there is none."""
    server_limits: Mapping[str, int] = field(default_factory=dict)
    """By lane ("fetch", "process", "shell"): jobs of that lane running at once across every deck."""
    defaults: HostLimits = NO_HOST_LIMITS
    """For every host."""
    hosts: Mapping[str, HostLimits] = field(default_factory=dict)
    """By `host` or `host:port` (lower case), over the defaults."""

    def host_limits(self, host: str, port: int) -> HostLimits:
        """What the file says of host:port: its `[hosts."host:port"]`, then `[hosts."host"]`, then the defaults."""
        limits = self.defaults
        for name in (host, f"{host}:{port}"):
            table = self.hosts.get(name)
            if table is not None:
                limits = table.over(limits)
        return limits


NO_CONFIG = UserConfig()
