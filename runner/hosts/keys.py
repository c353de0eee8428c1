"""Reading `host_limit`, `rate`, `min_interval` and `bandwidth` from a table: a job's, `[deck]`, or the config file's.

Each bad value is a problem at its key's line with what to write instead; a bad or missing value reads as not
said (None), so the rest of the file is still checked.
"""

from __future__ import annotations

from collections.abc import Mapping

from runner.deck.lookalikes import Lookalike, Renamed
from runner.deck.table import MISSING, Table, describe
from runner.hosts.units import UnitError, bytes_per_second, rate_interval
from runner.model import HostLimits

PACING_KEYS = ("host_limit", "rate", "min_interval")
"""A job, its deck and the config file may set these."""
HOST_KEYS = (*PACING_KEYS, "bandwidth")
"""`[deck]` and the config file may set these too (a deck's bandwidth is its own, the config's a host's)."""

_BANDWIDTH_WORDS = ("max_speed", "speed", "limit_rate", "max_download_limit", "bwlimit", "max_bandwidth", "throttle")
PACING_LOOKALIKES: Mapping[str, Lookalike] = {
    **dict.fromkeys(
        ("max_connections", "connections", "max_connections_per_host", "per_host", "host_connections", "split"),
        Renamed("host_limit", meaning="connections to one host:port at once, across every deck"),
    ),
    **dict.fromkeys(
        ("rate_limit", "ratelimit", "requests_per_second", "rps", "qps"),
        Renamed("rate", example='"10/s"', meaning="requests to one host per second, minute or hour"),
    ),
    **dict.fromkeys(
        ("delay_between", "interval", "wait", "sleep", "request_delay", "min_delay"),
        Renamed("min_interval", example="0.2", meaning="seconds between two requests to one host"),
    ),
}
"""What curl, wget, aria2 and rate-limiting libraries call the keys a job may set."""
HOST_LOOKALIKES: Mapping[str, Lookalike] = {
    **PACING_LOOKALIKES,
    **dict.fromkeys(
        _BANDWIDTH_WORDS,
        Renamed("bandwidth", example='"5MB/s"', meaning="bytes per second (B, KB, MB, GB, KiB, MiB, GiB)"),
    ),
}
"""The same for `[deck]` and the config file, which may also set a bandwidth."""
JOB_BANDWIDTH = dict.fromkeys(
    ("bandwidth", *_BANDWIDTH_WORDS),
    "bandwidth is shared: set it in [deck] (the deck's fetches together) or for a host in the config file, "
    'e.g. bandwidth = "5MB/s"',
)
"""A job cannot have a bandwidth of its own."""


def read_host_limits(table: Table, *, bandwidth: bool) -> HostLimits:
    """The limits the table sets; `bandwidth` says whether it may set one."""
    host_limit = table.whole_number("host_limit", minimum=1)
    interval = _interval(table)
    per_second = _bandwidth(table) if bandwidth else None
    return HostLimits(host_limit=host_limit, interval=interval, bandwidth=per_second)


def host_limits_text(limits: HostLimits) -> str:
    """What a job's own limits say, for its detail view: `host_limit 2, min_interval 0.1 s`."""
    parts = []
    if limits.host_limit is not None:
        parts.append(f"host_limit {limits.host_limit}")
    if limits.interval is not None:
        parts.append(f"min_interval {limits.interval:g} s")
    return ", ".join(parts)


def _interval(table: Table) -> float | None:
    rate, min_interval = table.raw("rate"), table.raw("min_interval")
    if rate is not MISSING and min_interval is not MISSING:
        table.report(
            "min_interval", "rate and min_interval both pace requests", 'keep one: rate = "10/s" is min_interval = 0.1'
        )
        return None
    if min_interval is not MISSING:
        return table.number("min_interval", minimum=0, hint="seconds between two requests to one host, e.g. 0.2")
    if rate is MISSING:
        return None
    if not isinstance(rate, str):
        example = f'"{rate}/s"' if isinstance(rate, int | float) and not isinstance(rate, bool) else '"10/s"'
        table.report("rate", f'must be a string such as "10/s", not {describe(rate)}', f"e.g. rate = {example}")
        return None
    try:
        return rate_interval(rate)
    except UnitError as error:
        table.report("rate", f"{rate!r} is not a rate", str(error))
        return None


def _bandwidth(table: Table) -> float | None:
    value = table.raw("bandwidth")
    if value is MISSING:
        return None
    if not isinstance(value, str):
        table.report(
            "bandwidth", f'must be a string such as "5MB/s", not {describe(value)}', 'e.g. bandwidth = "5MB/s"'
        )
        return None
    try:
        return bytes_per_second(value)
    except UnitError as error:
        table.report("bandwidth", f"{value!r} is not a bandwidth", str(error))
        return None
