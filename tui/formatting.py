"""How job facts read on screen: glyphs that carry meaning without colour, times, sizes, rates, bars.

Every number the dashboard shows with a unit is spelled here, once: sizes in SI units (`kB`, `MB`), durations
compact for the panes (`format_seconds`) or spelled out for the detail view (`format_duration`).
"""

from __future__ import annotations

import re
import reprlib
from datetime import datetime, tzinfo
from typing import Any

from runner.engine.interface import ObservedJob
from runner.model import JobState, Progress
from runner.stored_results import is_stored_result

STATE_GLYPHS: dict[JobState, str] = {
    JobState.QUEUED: "·",
    JobState.RUNNING: "▶",
    JobState.PAUSED: "‖",
    JobState.RETRYING: "↻",
    JobState.SUCCEEDED: "✓",
    JobState.FAILED: "✗",
    JobState.CANCELLED: "⊘",
    JobState.SKIPPED: "↷",
}


def row_seconds(job: ObservedJob, now: float) -> float:
    """Elapsed active time of a running attempt, or the duration of the last one."""
    attempt = job.current_attempt
    if attempt is None:
        return 0.0
    return attempt.active_seconds(now)


def format_seconds(seconds: float) -> str:
    """Compact, for a pane's column: `-`, `4.2s`, `42s`, `3:05`, `2h07m`."""
    if seconds <= 0:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}:{rest:02d}" if minutes else f"{rest}s"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


def format_duration(seconds: float) -> str:
    """Spelled out, for the detail view: `0.4 s`, `12 s`, `3m 05s`, `2h 07m`."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_clock(timestamp: float, tz: tzinfo | None) -> str:
    """HH:MM:SS of a wall-clock time, in `tz` (local time when None)."""
    return datetime.fromtimestamp(timestamp, tz).strftime("%H:%M:%S")


def format_rate(per_second: float) -> str:
    """Jobs finished per second: `2.5/s`."""
    return f"{per_second:.1f}/s"


def format_attempt(job: ObservedJob) -> str:
    count = len(job.attempts)
    return f"#{count}" if count else ""


def format_bytes(count: float) -> str:
    """At most four significant characters and a unit: `983 kB`, `3.0 MB`."""
    for unit in ("B", "kB", "MB", "GB"):
        if count < 999.5 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" or count >= 99.5 else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.0f} GB"


def format_amount(value: float, unit: str) -> str:
    """A quantity of a progress unit: bytes as `format_bytes` says them, anything else as `12 items`."""
    if unit == "bytes":
        return format_bytes(value)
    return f"{value:g}{' ' + unit if unit else ''}"


def format_progress(progress: Progress) -> str:
    """Compact, for a pane's column: `3.0 MB/8.0 MB`, `42%`, or a bare count."""
    if progress.unit == "bytes":
        if progress.total:
            return f"{format_bytes(progress.done)}/{format_bytes(progress.total)}"
        return format_bytes(progress.done)
    fraction = progress.fraction
    if fraction is not None:
        return f"{fraction * 100:.0f}%"
    return f"{progress.done:g}"


def progress_bar(fraction: float, width: int) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def format_progress_long(progress: Progress, width: int = 20) -> str:
    """For the detail view: `██████░░░░░░░░ 42%  1.2 MB of 2.9 MB`; `12 items so far` when the total is unknown."""
    fraction = progress.fraction
    done = format_amount(progress.done, progress.unit)
    if fraction is None or progress.total is None:
        return f"{done} so far"
    return f"{progress_bar(fraction, width)} {fraction:4.0%}  {done} of {format_amount(progress.total, progress.unit)}"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return format_seconds(seconds) if seconds > 0 else "0s"


_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?")
"""Terminal escape sequences a program wrote (colours, titles): never drawn in a row."""
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """`text` as one line of plain characters: escape sequences dropped, control characters (line breaks, tabs)
    and runs of blanks as one space."""
    return " ".join(_CONTROLS.sub(" ", _ESCAPES.sub("", text)).split())


def shorten(text: str, width: int) -> str:
    """`text` cut to `width` characters, its last one `…` when something was cut."""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…" if width > 0 else ""


def shorten_middle(text: str, width: int) -> str:
    """`text` cut to `width` characters in its middle, keeping both ends (`nigh…y#2`): names that differ only at
    their ends (`nightly`, `nightly#2`) stay apart."""
    if len(text) <= width:
        return text
    if width < 3:
        return shorten(text, width)
    tail = (width - 1) // 2
    return text[: width - 1 - tail] + "…" + text[len(text) - tail :]


_RESULT_REPR = reprlib.Repr()
_RESULT_REPR.maxstring = 80
_RESULT_REPR.maxother = 80
_RESULT_REPR.maxlong = 40
for _attribute in ("maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque", "maxdict"):
    setattr(_RESULT_REPR, _attribute, 8)


def result_preview(value: Any) -> str:
    """A call's result on one line, for a pane's outcome column: its repr, bounded whatever the value's size
    (a list of a million items costs eight), or "" when it returned None. A result kept in a file shows its size
    and the start of its JSON. The engine masked the secrets in either."""
    if value is None:
        return ""
    if is_stored_result(value):
        return f"→ {format_bytes(value['size_bytes'])}: {one_line(str(value['preview']))}"
    return "→ " + one_line(_RESULT_REPR.repr(value))
