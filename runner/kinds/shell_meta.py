"""Lines a shell job writes to talk to jobdeck rather than to its reader: progress and a status text.

    JOBDECK_PROGRESS 42/100        42 of 100 (a count)
    JOBDECK_PROGRESS 42%           the same, as a percentage
    JOBDECK_PROGRESS 12MB/100MB    bytes (B, kB, MB, GB, TB, or KiB, MiB, GiB, TiB), as downloads report them
    JOBDECK_PROGRESS 7             7 done, total unknown
    JOBDECK_STATUS uploading part 3 of 7

on stdout or stderr. Such a line is taken out of the job's output (its panes, `logs` and log files) and becomes
the job's progress or status; a line that starts with the prefix but does not read as one of these is ordinary
output. Every line the job writes passes `ShellMeta.take`: one that does not start with "JOBDECK_" costs one
`str.startswith`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

PREFIX: Final = "JOBDECK_"
PROGRESS: Final = "JOBDECK_PROGRESS"
STATUS: Final = "JOBDECK_STATUS"
STATUS_CHARS: Final = 200
"""How much of a status text is kept: a row shows less."""

BYTE_UNITS: Final = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_AMOUNT = r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)"
_FRACTION = re.compile(rf"{_AMOUNT}\s*(?:/\s*{_AMOUNT})?")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


@dataclass(frozen=True)
class ProgressLine:
    done: float
    total: float | None
    unit: str
    """"bytes", or "" for a count (as runner.model.Progress)."""


def read_progress(text: str) -> ProgressLine | None:
    """What follows `JOBDECK_PROGRESS `, read; None when it is no progress jobdeck understands."""
    text = text.strip()
    percent = _PERCENT.fullmatch(text)
    if percent is not None:
        return ProgressLine(float(percent.group(1)), 100.0, "")
    match = _FRACTION.fullmatch(text)
    if match is None:
        return None
    done_text, done_unit, total_text, total_unit = match.groups()
    units = [done_unit] if total_text is None else [done_unit, total_unit]
    if any(units) and not all(unit.lower() in BYTE_UNITS for unit in units):
        return None  # a unit jobdeck does not know, or bytes on one side only
    scales = [BYTE_UNITS[unit.lower()] if unit else 1 for unit in units]
    done = float(done_text) * scales[0]
    total = None if total_text is None else float(total_text) * scales[1]
    if not math.isfinite(done) or (total is not None and (not math.isfinite(total) or total <= 0)):
        return None
    return ProgressLine(done, total, "bytes" if any(units) else "")


class ShellMeta:
    """Takes a shell job's JOBDECK_ lines out of its output and reports what they say."""

    def __init__(
        self,
        report_progress: Callable[[float, float | None, str], None],
        report_status: Callable[[str | None], None],
    ) -> None:
        self.report_progress = report_progress
        self.report_status = report_status
        self.status: str | None = None
        """The last status the job gave (None: none, or it cleared it with an empty one)."""

    def take(self, line: str) -> bool:
        """Whether `line` was a progress or status line (reported, and not output); False for anything else."""
        if not line.startswith(PREFIX):
            return False
        word, *rest_parts = line.split(maxsplit=1)
        rest = rest_parts[0] if rest_parts else ""
        if word == PROGRESS:
            progress = read_progress(rest)
            if progress is None:
                return False
            self.report_progress(progress.done, progress.total, progress.unit)
            return True
        if word == STATUS:
            self.status = rest.strip()[:STATUS_CHARS] or None
            self.report_status(self.status)
            return True
        return False
