"""Opening the dashboard: attached to the server, in this process (`--local`), or on the demo deck.

Textual is imported only here, and only once the dashboard is about to open.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner.cli.exits import EXIT_BAD_INPUT, EXIT_OK
from runner.cli.loading import load_all

if TYPE_CHECKING:
    from runner.config.user_config import UserConfig
    from runner.engine.engine import Engine


def dashboard_command(files: Sequence[Path], *, local: bool, socket_path: Path | None) -> int:
    """Open the dashboard with these job files loaded; bad files are refused before it opens.

    Attached (the default), the server loads the files and runs the jobs; they go on after a detach.
    With `local`, the engine runs in this process and its jobs end with it."""
    decks = load_all(files, sys.stderr)
    if decks is None:
        print(
            "jobdeck: the dashboard was not opened; fix the problems above, or open files from it with o",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    from tui.app import JobdeckApp

    if local:
        from functools import partial

        from runner.cli.config_file import user_config_or_report

        config = user_config_or_report(sys.stderr)
        if config is None:
            print("jobdeck: the dashboard was not opened", file=sys.stderr)
            return EXIT_BAD_INPUT
        app = JobdeckApp(decks, engine_factory=partial(local_engine, config))
    else:
        from runner.server.remote import RemoteEngine

        app = JobdeckApp(
            files=[Path(file).resolve() for file in files], engine_factory=lambda: RemoteEngine(socket_path)
        )
    app.run()
    app.finish()  # what it stopped, or that it detached
    return app.return_code or EXIT_OK


def local_engine(config: UserConfig | None = None) -> Engine:
    """The engine of `jobdeck --local`: its jobs are not journaled, but `h` still shows the runs the journal holds,
    and their whole output is kept (for the detail view) in a temporary folder, removed when the engine ends."""
    from runner import paths
    from runner.config.user_config import NO_CONFIG
    from runner.engine.engine import Engine
    from runner.joblogs.keeper import JobLogs
    from runner.journal.history import JournalHistory

    engine = Engine(history=JournalHistory(paths.journal_path()), config=config or NO_CONFIG)
    engine.logs = JobLogs.temporary_folder()
    return engine


def demo_command(*, keep: bool = False) -> int:
    """The dashboard on the demo deck, against the demo HTTP server; its folder is removed afterwards unless `keep`."""
    from tui.demo import run_demo

    return run_demo(keep=keep)
