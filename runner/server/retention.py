"""What the server keeps, and for how long: finished decks are forgotten from memory after a while, and the
journal is kept within an age and a size.

The defaults: a deck whose jobs all finished more than 7 days ago is forgotten (it stays in the history); the
journal keeps runs for 90 days and at most 1 GiB. The server looks every 10 minutes. Each can be changed in the
environment the server starts with:

- `JOBDECK_FORGET_AFTER`: a duration ("7d", "12h", "30m", "45s", or seconds), or "never";
- `JOBDECK_JOURNAL_MAX_AGE`: a duration, or "never";
- `JOBDECK_JOURNAL_MAX_SIZE`: a size ("1G", "500M", "64k", or bytes), or "never";
- `JOBDECK_TIDY_EVERY`: how often the server looks (a duration).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread

from runner.journal.pruning import DAY_S, JournalLimits
from runner.server.memory import release_freed_memory

if TYPE_CHECKING:
    from runner.server.server import Server

log = logging.getLogger("jobdeck.server")
T = TypeVar("T")

FORGET_AFTER_VARIABLE = "JOBDECK_FORGET_AFTER"
JOURNAL_MAX_AGE_VARIABLE = "JOBDECK_JOURNAL_MAX_AGE"
JOURNAL_MAX_SIZE_VARIABLE = "JOBDECK_JOURNAL_MAX_SIZE"
TIDY_EVERY_VARIABLE = "JOBDECK_TIDY_EVERY"
NEVER = "never"
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY_S}
_SIZE_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True)
class Retention:
    forget_after_s: float | None = 7 * DAY_S
    """A deck whose jobs all finished longer ago than this is forgotten from memory; None: never."""
    journal: JournalLimits = field(default_factory=JournalLimits)
    tidy_every_s: float = 600.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Retention:
        """The defaults, changed by the JOBDECK_* variables set; a bad value is logged and its default kept."""
        environ = os.environ if environ is None else environ
        default = cls()
        forget_after = _read(environ, FORGET_AFTER_VARIABLE, parse_duration, default.forget_after_s)
        max_age = _read(environ, JOURNAL_MAX_AGE_VARIABLE, parse_duration, default.journal.max_age_s)
        max_size = _read(environ, JOURNAL_MAX_SIZE_VARIABLE, parse_size, default.journal.max_bytes)
        every = _read(environ, TIDY_EVERY_VARIABLE, parse_duration, default.tidy_every_s)
        return cls(forget_after, JournalLimits(max_age, max_size), every or default.tidy_every_s)


def _read(environ: Mapping[str, str], variable: str, parse: Callable[[str], T], default: T) -> T | None:
    text = environ.get(variable, "").strip()
    if not text:
        return default
    if text.lower() == NEVER:
        return None
    try:
        return parse(text)
    except ValueError as bad:
        log.warning("ignored %s=%r: %s; using the default", variable, text, bad)
        return default


def parse_duration(text: str) -> float:
    """ "7d", "12h", "30m", "45s" or a number of seconds."""
    text = text.strip().lower()
    unit = _DURATION_UNITS.get(text[-1:])
    number = text[:-1] if unit is not None else text
    try:
        value = float(number) * (unit or 1.0)
    except ValueError:
        raise ValueError('expected a duration such as "7d", "12h", "30m", "45s" or "never"') from None
    if not math.isfinite(value) or value < 0:
        raise ValueError("a duration must be 0 or more")
    return value


def parse_size(text: str) -> int:
    """ "1G", "500M", "64k" (powers of 1024, an optional "B" or "iB" after) or a number of bytes."""
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = _SIZE_UNITS.get(text[-1:])
    number = text[:-1] if unit is not None else text
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        raise ValueError('expected a size such as "1G", "500M", "64k" or "never"') from None
    if not math.isfinite(value) or value < 0:
        raise ValueError("a size must be 0 or more")
    return int(value)


async def keep_tidy(server: Server, retention: Retention | None = None) -> None:
    """Forget old finished decks and prune the journal every `tidy_every_s`, for the server's life."""
    retention = Retention.from_environ() if retention is None else retention
    while True:
        await anyio.sleep(retention.tidy_every_s)
        try:
            await tidy(server, retention)
        except Exception:  # tidying is housekeeping: its trouble must not stop the server
            log.exception("tidying up failed; trying again in %g s", retention.tidy_every_s)


async def tidy(server: Server, retention: Retention) -> None:
    engine = server.engine
    recorder = server.recorder
    if retention.forget_after_s is not None:
        if recorder is not None:
            await recorder.flush()  # a deck is forgotten only once the journal has all of it
        forgotten = await engine.forget_finished(ended_before=time.time() - retention.forget_after_s)
        if forgotten:
            release_freed_memory()
            log.info(
                "forgot %d deck(s) finished more than %g s ago: %s",
                len(forgotten),
                retention.forget_after_s,
                ", ".join(forgotten),
            )
    journal = server.journal
    limits = retention.journal
    if journal is None or (limits.max_age_s is None and limits.max_bytes is None):
        return
    from runner.journal.store import prune

    run_ids = recorder.run_ids if recorder is not None else {}
    keep = {run_ids[name] for name in engine.decks if name in run_ids}
    pruned = await anyio.to_thread.run_sync(prune, journal, limits, keep)
    if pruned:
        log.info("pruned %d old run(s) from the journal", len(pruned))
        if engine.logs is not None:
            await engine.logs.remove_runs(pruned)  # their job logs go with them
