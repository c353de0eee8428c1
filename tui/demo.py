"""`jobdeck demo`: the dashboard on the demo deck (runner/demo/demo.toml), against a loopback server it starts.

The demo runs in a fresh folder of its own (the deck, its tasks, and what its jobs download), removed when the
demo ends unless asked to keep it. Once the demo's jobs have all finished, `a` (or "Run the demo again" in the
command palette) runs the deck again in the same folder, after clearing the last run's downloads.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

import anyio
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from runner.deck.parser import load_deck
from runner.demo.server import DemoServer
from runner.demo.workspace import DEMO_DECKS, prepare_workspace
from runner.engine.engine import Engine
from runner.engine.estimate import Estimator
from runner.errors import CommandError, DeckError
from runner.joblogs.keeper import JobLogs
from runner.model import Deck
from tui.app import JobdeckApp

DEMO_LATENCY_S = 0.05
FINISHED_CHECK_S = 1.0
DOWNLOADS = "downloads"
"""The demo deck's out_dir and its shell jobs' output folder: cleared before each run again."""


def engine_with_logs() -> Engine:
    """The demo's engine: its jobs' whole output is kept (for the detail view) in a temporary folder."""
    engine = Engine()
    engine.logs = JobLogs.temporary_folder()
    return engine


class DemoApp(JobdeckApp):
    """The dashboard with the demo's extras: it says when the demo has finished and can run it again."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *JobdeckApp.BINDINGS,
        Binding("a", "run_demo_again", "run again", show=False, id="demo-again"),
    ]

    def __init__(self, workspace: Path, decks: Sequence[Deck]) -> None:
        super().__init__(decks, start_dir=workspace, engine_factory=engine_with_logs)
        self.workspace = workspace
        self.deck_files = [deck.path for deck in decks]
        """The files of the decks the demo runs (again with `a`)."""
        self.demo_decks = [deck.name for deck in decks]
        """The names the demo's runs were loaded as (`demo`, then `demo#2`...): the jobs `a` waits for."""
        self._said_finished = False

    def on_mount(self) -> None:
        # Textual runs JobdeckApp.on_mount too (handlers are called along the class hierarchy): no super() here.
        self.set_interval(FINISHED_CHECK_S, self._say_when_finished)

    def _unfinished_demo_jobs(self) -> int:
        engine = self.engine
        if engine is None:
            return 0
        return sum(1 for job in engine.jobs.values() if job.deck in self.demo_decks and not job.state.finished)

    def _say_when_finished(self) -> None:
        engine = self.engine
        if self._said_finished or engine is None or self._quitting or not engine.jobs:
            return
        if not self._unfinished_demo_jobs():
            self._said_finished = True
            self.notify("The demo has finished: [b]a[/b] runs it again, [b]q[/b] quits.", timeout=30)

    async def action_run_demo_again(self) -> None:
        """Forget the demo's finished run, clear its downloads, and load the deck again (as `demo#2`...)."""
        engine = self.engine
        if engine is None or self._quitting:
            return
        unfinished = self._unfinished_demo_jobs()
        if unfinished:
            jobs = f"{unfinished} job{'s' if unfinished != 1 else ''}"
            self.notify(
                f"The demo is still running ({jobs}): it runs again once they have finished (c cancels the "
                "selected job).",
                severity="warning",
                timeout=6,
            )
            return
        try:
            for name in [name for name in self.demo_decks if name in engine.decks]:
                await engine.forget(name)
            await anyio.to_thread.run_sync(partial(shutil.rmtree, self.workspace / DOWNLOADS, ignore_errors=True))
            decks = [await engine.load(path) for path in self.deck_files]
        except (CommandError, DeckError) as error:
            self.notify(f"The demo could not run again: {error}", severity="error", timeout=10)
            return
        self.demo_decks += [loaded.name for loaded in decks]
        deck = decks[0]
        self._said_finished = False
        self._estimator = Estimator()  # the forgotten run's jobs are not this run's throughput or ETA
        self.notify(f"Running the demo again, as {deck.name}.", timeout=4)
        self.pull_changes()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Run the demo again", "Once its jobs have finished, run the demo deck again (a)", self.action_run_demo_again
        )


def run_demo(*, keep: bool = False) -> int:
    """The demo, in a folder of its own that is removed afterwards unless `keep`."""
    try:
        workspace = prepare_workspace()
    except FileNotFoundError as error:
        print(f"jobdeck demo: {error}", file=sys.stderr)
        return 2
    app: DemoApp | None = None
    try:
        with DemoServer(latency=DEMO_LATENCY_S) as server:
            os.environ["JOBDECK_DEMO_URL"] = server.url
            try:
                decks = [load_deck(workspace / name) for name in DEMO_DECKS]
            except DeckError as error:
                print(f"jobdeck demo: the demo deck is broken:\n{error}", file=sys.stderr)
                return 2
            app = DemoApp(workspace, decks)
            app.on_finish.append(lambda: leave_workspace(workspace, keep=keep))
            app.run()
    finally:
        if app is None:
            leave_workspace(workspace, keep=keep)
        else:
            app.finish()  # also when the exit deadline ended the process: the folder goes either way
    return app.return_code or 0


def leave_workspace(workspace: Path, *, keep: bool) -> None:
    """Remove the demo's folder, or say where it is kept."""
    if keep:
        say(f"jobdeck demo: its files are in {workspace}")
        return
    shutil.rmtree(workspace, ignore_errors=True)
    say("jobdeck demo: removed its files (`jobdeck demo --keep` keeps them)")


def say(line: str) -> None:
    """A line on the terminal, if it is still there (the real stdout: this may run while Textual redirects it)."""
    out = sys.__stdout__
    if out is not None:
        with contextlib.suppress(OSError, ValueError):
            out.write(f"{line}\n")
            out.flush()
