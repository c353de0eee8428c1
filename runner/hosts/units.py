"""Reading the values of `rate` ("10/s", "600/m", "2/h") and `bandwidth` ("5MB/s", "512KiB/s")."""

from __future__ import annotations

import re

RATE_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
BYTE_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}
_RATE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*/\s*([A-Za-z]+)\s*")
_BANDWIDTH = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]+)\s*/\s*([A-Za-z]+)\s*")


class UnitError(ValueError):
    """A value that does not read as a rate or a bandwidth; the message says what to write instead."""


def rate_interval(text: str) -> float:
    """Seconds between two requests at the rate `text`, e.g. "10/s" -> 0.1."""
    match = _RATE.fullmatch(text)
    if match is None:
        raise UnitError('write requests per second, minute or hour, e.g. "10/s", "600/m" or "2/h"')
    count, unit = float(match.group(1)), match.group(2)
    if unit not in RATE_UNITS:
        raise UnitError(f'{unit!r} is not a unit of time here: use s, m or h, e.g. "{match.group(1)}/s"')
    if count <= 0:
        raise UnitError("a rate of 0 would never send a request; leave rate out for no pacing")
    return RATE_UNITS[unit] / count


def bytes_per_second(text: str) -> float:
    """The bandwidth `text` in bytes per second, e.g. "5MB/s" -> 5_000_000.0."""
    match = _BANDWIDTH.fullmatch(text)
    if match is None:
        raise UnitError(f'write an amount per second, e.g. "5MB/s" (units: {", ".join(BYTE_UNITS)})')
    amount, unit, per = float(match.group(1)), match.group(2), match.group(3)
    if per not in ("s", "sec"):
        raise UnitError(f'bandwidth is per second: write "{match.group(1)}{unit}/s"')
    if unit not in BYTE_UNITS:
        meant = next((known for known in BYTE_UNITS if known.lower() == unit.lower()), None)
        if meant is not None:
            raise UnitError(f'did you mean "{match.group(1)}{meant}/s"?')
        raise UnitError(f"{unit!r} is not a unit of bytes: use one of {', '.join(BYTE_UNITS)}")
    if amount <= 0:
        raise UnitError("a bandwidth of 0 would never finish a download; leave bandwidth out for no limit")
    return amount * BYTE_UNITS[unit]
