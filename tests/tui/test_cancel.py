"""`c` asks before throwing away work: a job that has run a while is cancelled only after `y`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot

from runner.deck.parser import load_deck
from runner.model import JobState
from tests.helpers import until
from tui.app import JobdeckApp
from tui.screens.dialogs import ConfirmScreen
from tui.screens.job_detail import JobDetailScreen

pytestmark = pytest.mark.anyio

DECK = """
[deck]
name = "work"

[[job]]
name = "long"
shell = "exec sleep 60"

[[job]]
name = "broken"
shell = "exit 3"
"""

LATER_S = 600.0
"""How far the dashboard's clock runs ahead: every running job seems to have run for ten minutes."""


@asynccontextmanager
async def dashboard(tmp_path: Path, clock: Callable[[], float]) -> AsyncIterator[tuple[JobdeckApp, Pilot]]:
    path = tmp_path / "work.toml"
    path.write_text(DECK)
    app = JobdeckApp([load_deck(path)], start_dir=tmp_path, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.selected_job is not None and app.selected_job.name == "long")
        yield app, pilot
        if app.is_running:
            await app.stop_engine()


def state(app: JobdeckApp, name: str) -> JobState:
    assert app.engine is not None
    return app.engine.job(name).state


async def test_c_on_a_job_that_has_run_a_while_asks_and_n_keeps_it(tmp_path: Path) -> None:
    async with dashboard(tmp_path, lambda: time.time() + LATER_S) as (app, pilot):
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Cancel long?" in str(app.screen.query_one(".question").render())
        assert isinstance(app.screen, ConfirmScreen) and "10m" in app.screen.detail
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert state(app, "long") is JobState.RUNNING
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: state(app, "long") is JobState.CANCELLED)


async def test_c_on_a_young_job_cancels_at_once(tmp_path: Path) -> None:
    async with dashboard(tmp_path, time.time) as (app, pilot):
        await pilot.press("c")
        await until(pilot, lambda: state(app, "long") is JobState.CANCELLED)
        assert not isinstance(app.screen, ConfirmScreen)


async def test_c_in_the_detail_view_asks_too(tmp_path: Path) -> None:
    async with dashboard(tmp_path, lambda: time.time() + LATER_S) as (app, pilot):
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        assert state(app, "long") is JobState.RUNNING


async def test_shift_r_and_shift_p_stay_quick(tmp_path: Path) -> None:
    async with dashboard(tmp_path, lambda: time.time() + LATER_S) as (app, pilot):
        await until(pilot, lambda: state(app, "broken") is JobState.FAILED)
        await pilot.press("R")
        await until(pilot, lambda: len(app.engine.job("broken").attempts) == 2)  # type: ignore[union-attr]
        await pilot.press("P")
        await until(pilot, lambda: app.engine is not None and not app.engine.dispatching)
        assert not isinstance(app.screen, ConfirmScreen)
