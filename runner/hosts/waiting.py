"""What a queued job's note says while it waits for its host or for a server-wide limit of the config file.

Such a job is not running: panes, `status` and `--json` show it as `queued (host busy)` and the like.
"""

from __future__ import annotations

HOST_BUSY = "host busy"
PACING = "pacing"
HOST_PAUSED = "host paused"
"""By a Retry-After it answered."""
SERVER_LIMIT = "server limit"
WAITING_NOTES = frozenset({HOST_BUSY, PACING, HOST_PAUSED, SERVER_LIMIT})


def waiting_for(state: str, note: str | None) -> str | None:
    """Why a job in `state` with `note` waits for its host or a server-wide limit; None when it does not."""
    return note if state == "queued" and note in WAITING_NOTES else None
