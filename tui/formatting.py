"""How job facts read on screen: glyphs that carry meaning without colour, times, sizes, bars."""

from __future__ import annotations

from runner.model import Job, JobState, Progress

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


def row_seconds(job: Job, now: float) -> float:
    """Elapsed active time of a running attempt, or the duration of the last one."""
    attempt = job.current_attempt
    if attempt is None:
        return 0.0
    return attempt.active_seconds(now)


def format_seconds(seconds: float) -> str:
    if seconds <= 0:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}:{rest:02d}" if minutes else f"{rest}s"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


def format_attempt(job: Job) -> str:
    count = len(job.attempts)
    return f"#{count}" if count else ""


def format_bytes(count: float) -> str:
    """At most four significant characters and a unit: `983 kB`, `3.0 MB`."""
    for unit in ("B", "kB", "MB", "GB"):
        if count < 999.5 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" or count >= 99.5 else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.0f} GB"


def format_progress(progress: Progress) -> str:
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


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return format_seconds(seconds) if seconds > 0 else "0s"
