"""The history screen on its own, over a fixed list of runs: moving through it with the keys the panes use."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable

from runner.engine.interface import PastJob, PastRun
from tests.helpers import until
from tui.screens.history import HistoryScreen

pytestmark = pytest.mark.anyio

RUNS = [
    PastRun(id=f"run{n}", name=f"deck{n}", path=f"/decks/deck{n}.toml", loaded_at=1_790_000_000.0 - n) for n in range(6)
]


async def runs() -> list[PastRun]:
    return RUNS


async def jobs(run_id: str) -> list[PastJob]:
    return [PastJob(name=f"{run_id}-job{n}", state="succeeded", attempts=1) for n in range(3)]


class HistoryApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.results: list[Path | None] = []

    async def on_mount(self) -> None:
        await self.push_screen(HistoryScreen(runs, jobs), self.results.append)


async def test_j_k_g_and_shift_g_move_through_the_runs() -> None:
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one("#runs", DataTable)
        await until(pilot, lambda: table.row_count == len(RUNS))
        assert table.cursor_row == 0
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == len(RUNS) - 1
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == len(RUNS) - 1
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("j", "j", "j", "r")
        await until(pilot, lambda: app.results == [Path("/decks/deck3.toml")])


async def test_each_run_shows_the_id_jobdeck_export_takes() -> None:
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one("#runs", DataTable)
        await until(pilot, lambda: table.row_count == len(RUNS))
        assert [table.get_row_at(number)[0] for number in range(3)] == ["run0", "run1", "run2"]
