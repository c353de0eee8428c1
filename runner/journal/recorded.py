"""An engine and the recorder that journals it: the one wiring that `jobdeck run` and the server share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.engine.engine import Engine
    from runner.journal.recorder import Recorder
    from runner.journal.starts import StartsLog
    from runner.journal.store import Journal


@asynccontextmanager
async def recorded_engine(
    engine: Engine,
    journal: Journal | None,
    *,
    carry_over: Mapping[str, tuple[str, Iterable[str]]] | None = None,
    starts: StartsLog | None = None,
) -> AsyncIterator[Recorder | None]:
    """Run `engine` for the block, journaled in `journal` when there is one; yields the Recorder (None without a
    journal). The recorder is entered before the engine and left after it, so the journal also gets the engine's
    last changes: the jobs it cancels on the way out. Opening and closing the journal is the caller's business.
    `carry_over`, `starts`: see Recorder.

    With a journal, the jobs' whole output is kept in files beside it too (runner.joblogs), each run's under its
    journal id, unless the engine has its own `logs` already."""
    async with AsyncExitStack() as stack:
        recorder = None
        if journal is not None:
            from runner.journal.recorder import Recorder  # sqlite3 and the rest: only for a journaled run

            recorder = await stack.enter_async_context(Recorder(engine, journal, carry_over=carry_over, starts=starts))
            if engine.logs is None:
                from runner.joblogs.keeper import JobLogs
                from runner.joblogs.layout import logs_root

                engine.logs = JobLogs(logs_root(journal.path), run_id_for=recorder.run_id_for)
        await stack.enter_async_context(engine)
        yield recorder
