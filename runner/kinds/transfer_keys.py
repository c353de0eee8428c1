"""The fetch keys that shape a transfer rather than its request: `if_changed` and `stall_timeout` (the checksum
keys are in runner.kinds.checksums). `stall_timeout` is also a `[deck]` key: the default of its fetch jobs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runner.deck.durations import duration
from runner.deck.table import Table
from runner.model import FetchSpec

DEFAULT_STALL_TIMEOUT_S = 60.0
"""Seconds of active time a download may go without body bytes (fewer than runner.kinds.stalls.STALL_FLOOR
bytes) before its attempt fails."""
TRANSFER_KEYS = ("if_changed", "stall_timeout")
_STALL_HINT = 'time without data before the attempt fails, e.g. stall_timeout = "2m"; 0 or false switches it off'


def read_stall_timeout(table: Table) -> float | None:
    """`stall_timeout` in seconds, a number or a duration such as "2m" (0 or false: off); None when not given or
    bad."""
    if table.raw("stall_timeout") is False:
        return 0.0
    return duration(table, "stall_timeout", hint=_STALL_HINT)


def read_if_changed(table: Table, *, save: str | None, method: str) -> bool:
    value = table.flag("if_changed")
    if value and save is None:
        table.report(
            "if_changed",
            "needs save: it asks the server whether the saved file has changed",
            'add save = "FILE", or drop if_changed',
        )
        return False
    if value and method != "GET":
        table.report("if_changed", f"applies to GET requests, not {method}", "drop if_changed, or the method")
        return False
    return bool(value)


@dataclass(frozen=True)
class TransferKeys:
    """A fetch template's transfer keys, the same for every item of its fan-out."""

    checksum: str | None = None
    if_changed: bool = False
    stall_timeout: float | None = None

    def fields(self) -> dict[str, Any]:
        """As FetchSpec's keyword arguments."""
        return {"checksum": self.checksum, "if_changed": self.if_changed, "stall_timeout": self.stall_timeout}


NO_TRANSFER_KEYS = TransferKeys()


def transfer_lines(work: FetchSpec) -> Iterable[tuple[str, str]]:
    """The detail view's lines of the transfer keys a job sets (none when it sets none)."""
    if work.checksum is not None:
        yield "checksum", work.checksum
    if work.if_changed:
        yield "if_changed", "yes: a 304 leaves the saved file as it is"
    if work.stall_timeout is not None:
        yield "stall_timeout", f"{work.stall_timeout:g} s" if work.stall_timeout > 0 else "off"
