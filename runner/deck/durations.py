"""Durations as people write them: a number of seconds, or a string such as "10s", "5m", "1h30m" or "500ms".

`parse_duration` reads the string form (for any caller: a deck key, a command-line option); `duration` is the
getter a job file's keys use, reporting a bad value at its key's line like the other typed getters.
"""

from __future__ import annotations

import math
import re
from typing import Final

from runner.deck.table import MISSING, Table, describe, is_number

UNIT_SECONDS: Final = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
"""Each unit a duration may use, largest first: the order its parts must come in."""
EXAMPLES: Final = '"10s", "5m", "1h30m" or "500ms"'
NO_TIMEOUT: Final = "use 0 for no timeout"
_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)")
_UNIT_WORDS: Final = {
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "day": "d",
    "days": "d",
    "msec": "ms",
    "millisecond": "ms",
    "milliseconds": "ms",
}
"""Units people spell out, and the short unit jobdeck reads instead."""


class DurationError(ValueError):
    """A duration that cannot be read; its message says why, `hint` what to write."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def parse_duration(text: str) -> float:
    """The seconds a duration string means: parts of a number and a unit (d, h, m, s, ms), largest unit first,
    each unit at most once ("1h30m", "1.5s", "2m 30s"). Raises DurationError otherwise."""
    position, total, previous = 0, 0.0, math.inf
    stripped = text.rstrip()
    while position < len(stripped):
        match = _PART.match(stripped, position)
        if match is None and stripped[position:].lstrip().startswith("-"):
            raise DurationError(f"{text!r} is negative", "a duration is 0 or more: use 0 for none")
        if match is None:
            raise DurationError(f"{text!r} is not a duration", f"write a number and a unit, e.g. {EXAMPLES}")
        amount, unit = match.groups()
        seconds = UNIT_SECONDS.get(unit.lower())
        if seconds is None:
            hint = _unit_hint(unit, amount, written_before=stripped[:position].strip())
            raise DurationError(f"{text!r} is not a duration: {_unit_problem(unit)}", hint)
        if seconds >= previous:
            raise DurationError(
                f"{text!r} is not a duration: {unit!r} comes after a part in a unit as small or smaller",
                f"write each unit once, largest first, e.g. {EXAMPLES}",
            )
        previous = seconds
        total += float(amount) * seconds
        position = match.end()
    if position == 0:
        raise DurationError("an empty string is not a duration", f"write a number and a unit, e.g. {EXAMPLES}")
    if not math.isfinite(total):
        raise DurationError(f"{text!r} is too long a duration", f"e.g. {EXAMPLES}")
    return total


def _unit_problem(unit: str) -> str:
    return "a number needs a unit" if not unit else f"{unit!r} is not a unit jobdeck knows"


def _unit_hint(unit: str, amount: str, *, written_before: str) -> str:
    meant = _UNIT_WORDS.get(unit.lower())
    if meant is not None:
        return f'write "{written_before}{amount}{meant}"; the units are ms, s, m (minutes), h and d'
    if not unit and written_before:
        return f'give every number its unit, e.g. "{written_before}{amount}m" for minutes'
    if not unit:
        return f'write "{amount}s", or the number alone ({amount}) for seconds'
    return f"the units are ms, s, m (minutes), h and d, e.g. {EXAMPLES}"


def duration(table: Table, key: str, *, minimum: float = 0.0, hint: str | None = None) -> float | None:
    """A key of `table` that is a duration: a number of seconds or a duration string (None: missing or bad)."""
    value = table.raw(key)
    if value is MISSING:
        return None
    if isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except DurationError as error:
            table.report(key, str(error), error.hint)
            return None
    elif is_number(value) and not math.isnan(value):
        seconds = float(value)
    else:
        table.report(
            key,
            f"must be a number of seconds or a duration such as {EXAMPLES}, not {describe(value)}",
            hint,
        )
        return None
    if not math.isfinite(seconds) or seconds < minimum:
        table.report(key, f"must be a duration of {minimum:g} s or more, not {describe(value)}", hint)
        return None
    return seconds
