"""History for an in-process dashboard: the earlier runs in a journal file, read on a worker thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread

from runner.journal.recovery import run_jobs_to_list, run_to_dict
from runner.journal.store import Journal


def local_history(
    path: Path,
) -> tuple[Callable[[], Awaitable[list[dict[str, Any]]]], Callable[[str], Awaitable[list[dict[str, Any]]]]]:
    """The two readers HistoryScreen takes, over the journal at `path`."""

    def read_runs() -> list[dict[str, Any]]:
        with Journal.open(path) as journal:
            return [run_to_dict(run) for run in journal.history()]

    def read_jobs(run_id: str) -> list[dict[str, Any]]:
        with Journal.open(path) as journal:
            return run_jobs_to_list(journal.jobs(run_id))

    async def runs() -> list[dict[str, Any]]:
        return await anyio.to_thread.run_sync(read_runs)

    async def jobs(run_id: str) -> list[dict[str, Any]]:
        return await anyio.to_thread.run_sync(read_jobs, run_id)

    return runs, jobs
