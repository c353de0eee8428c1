"""The earlier runs in a journal file, as an in-process engine shows them (its `HistorySource`)."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread

from runner.engine.interface import PastJob, PastRun
from runner.journal.store import DeckRun, Journal


def past_run(run: DeckRun) -> PastRun:
    return PastRun(
        id=run.id,
        name=run.name,
        path=run.path,
        loaded_at=run.loaded_at,
        counts=dict(run.counts),
        total=run.total,
        unfinished=run.unfinished,
    )


class JournalHistory:
    """Reads the journal at `path`; each query opens it on a worker thread and closes it again, so a journal
    another process writes (a server, `jobdeck run`) is read as it is at that moment."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def available(self) -> bool:
        return self.path.exists()

    async def runs(self) -> list[PastRun]:
        def read() -> list[PastRun]:
            with Journal.open(self.path) as journal:
                return [past_run(run) for run in journal.history()]

        return await anyio.to_thread.run_sync(read)

    async def jobs(self, run_id: str) -> list[PastJob]:
        def read() -> list[PastJob]:
            with Journal.open(self.path) as journal:
                rows = journal.jobs(run_id)
            return [PastJob(name, row["state"], row["attempts"], row["error"]) for name, row in rows.items()]

        return await anyio.to_thread.run_sync(read)
