"""Earlier decks from the journal: every run with its outcome, one run's jobs, and loading a run's file again.

The screen only reads through the two coroutines it is given (an engine's `history_runs` and `history_jobs`),
so it neither knows nor cares whether the journal is the server's or a local file. Re-running dismisses the
screen with the run's file path; the app loads it like the open dialog does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from runner.engine.interface import PastJob, PastRun
from runner.journal.reading import short_run_ids
from runner.model import JobState
from tui.formatting import STATE_GLYPHS

RunsSource = Callable[[], Awaitable[list[PastRun]]]
JobsSource = Callable[[str], Awaitable[list[PastJob]]]
OUTCOME_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED)


def outcome_text(counts: Mapping[str, int]) -> str:
    parts = [f"{STATE_GLYPHS[state]} {counts[state.value]}" for state in OUTCOME_STATES if counts.get(state.value)]
    if counts.get("interrupted"):
        parts.append(f"⚡ {counts['interrupted']} interrupted")
    return "  ".join(parts)


class HistoryTable(DataTable[str]):
    """A table of rows moved through with the keys the panes use: j k besides the arrows, g G home end for the
    first and last row (a DataTable's own home and end scroll sideways)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "down", show=False),
        Binding("k", "cursor_up", "up", show=False),
        Binding("g,home", "scroll_top", "first", show=False),
        Binding("G,end", "scroll_bottom", "last", show=False),
    ]


class HistoryScreen(Screen[Path | None]):
    """Runs newest first; enter shows a run's jobs, r loads its file again, escape goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,h", "close", "back"),
        Binding("enter", "show_jobs", "jobs"),
        Binding("r", "rerun", "re-run"),
        Binding("f5", "reload", "refresh"),
    ]

    DEFAULT_CSS = """
    HistoryScreen { layout: vertical; }
    HistoryScreen #history-title { height: 1; text-style: bold; padding: 0 1; }
    HistoryScreen #runs { height: 1fr; }
    HistoryScreen #run-jobs { height: 1fr; border-top: solid $primary; }
    HistoryScreen #history-keys { height: 1; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, runs: RunsSource, jobs: JobsSource) -> None:
        super().__init__()
        self._runs_source = runs
        self._jobs_source = jobs
        self.runs: list[PastRun] = []

    def compose(self) -> ComposeResult:
        yield Static("history: loading…", id="history-title")
        with Vertical():
            yield HistoryTable(id="runs", cursor_type="row", zebra_stripes=True)
            yield HistoryTable(id="run-jobs", cursor_type="row")
        yield Static(
            "j k move   enter jobs of the run   r re-run its file   f5 refresh   escape back", id="history-keys"
        )

    def on_mount(self) -> None:
        runs = self.query_one("#runs", DataTable)
        runs.add_columns("run", "loaded", "deck", "jobs", "outcome", "file")
        self.query_one("#run-jobs", DataTable).add_columns("job", "state", "attempts", "error")
        self.query_one("#run-jobs", DataTable).display = False
        runs.focus()
        self.action_reload()

    @work(exclusive=True, group="history")
    async def action_reload(self) -> None:
        try:
            self.runs = await self._runs_source()
        except Exception as failure:  # the journal may be unreadable or the server gone: say so, stay open
            self.query_one("#history-title", Static).update(f"history: cannot read the journal: {failure}")
            return
        table = self.query_one("#runs", DataTable)
        table.clear()
        ids = short_run_ids(run.id for run in self.runs)  # what `jobdeck export RUN` takes
        for run in self.runs:
            loaded = datetime.fromtimestamp(run.loaded_at).strftime("%Y-%m-%d %H:%M")
            unfinished = f"  ({run.unfinished} unfinished)" if run.unfinished else ""
            outcome = outcome_text(run.counts) + unfinished
            table.add_row(ids[run.id], loaded, run.name, str(run.total), outcome, run.path)
        title = self.query_one("#history-title", Static)
        count = len(self.runs)
        title.update(f"history: {count} run{'s' * (count != 1)}" if count else "history: the journal has no runs yet")

    @property
    def selected_run(self) -> PastRun | None:
        table = self.query_one("#runs", DataTable)
        if not self.runs or table.cursor_row < 0 or table.cursor_row >= len(self.runs):
            return None
        return self.runs[table.cursor_row]

    @on(DataTable.RowSelected, "#runs")
    def _run_chosen(self) -> None:
        self.action_show_jobs()

    @work(exclusive=True, group="history-jobs")
    async def action_show_jobs(self) -> None:
        run = self.selected_run
        if run is None:
            return
        try:
            jobs = await self._jobs_source(run.id)
        except Exception as failure:
            self.notify(f"cannot read that run's jobs: {failure}", severity="error")
            return
        table = self.query_one("#run-jobs", DataTable)
        table.clear()
        for job in sorted(jobs, key=lambda job: job.name):
            table.add_row(job.name, job.state, str(job.attempts), (job.error or "")[:200])
        table.display = True
        table.border_title = run.name

    def action_rerun(self) -> None:
        run = self.selected_run
        if run is not None:
            self.dismiss(Path(run.path))

    def action_close(self) -> None:
        self.dismiss(None)
