"""A job file loaded again while its earlier load is still at work: the dashboard asks before running it twice,
from the open dialog and for `jobdeck FILE` attaching to a server that has the file loaded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from runner.deck.parser import load_deck
from runner.model import JobState
from runner.server.client import ensure_server
from runner.server.remote import RemoteEngine
from tests.conftest import Place
from tests.helpers import until
from tui.app import JobdeckApp
from tui.screens.dialogs import ConfirmScreen
from tui.screens.open_deck import OpenDeckScreen

pytestmark = pytest.mark.anyio

DECK = '[deck]\nname = "work"\n\n[[job]]\nname = "long"\nshell = "exec sleep 60"\n'


def write_deck(folder: Path) -> Path:
    path = folder / "work.toml"
    path.write_text(DECK)
    return path


def decks(app: JobdeckApp) -> list[str]:
    assert app.engine is not None
    return sorted(app.engine.decks)


def question(app: JobdeckApp) -> str:
    screen = app.screen
    assert isinstance(screen, ConfirmScreen)
    return f"{screen.question} {screen.detail}"


async def test_the_open_dialog_asks_before_loading_a_file_still_at_work(tmp_path: Path) -> None:
    path = write_deck(tmp_path)
    app = JobdeckApp([load_deck(path)], start_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None and app.engine.job("long").state is JobState.RUNNING)
        await pilot.press("o")
        assert isinstance(app.screen, OpenDeckScreen)
        app.screen.query_one(Input).value = "work.toml"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked")
        assert "work.toml is loaded already, as deck 'work' with 1 unfinished job" in question(app)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, OpenDeckScreen), what="back in the dialog")
        assert "not loaded" in str(app.screen.query_one("#open-deck-status", Static).render())
        assert decks(app) == ["work"]
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked again")
        await pilot.press("y")
        await until(pilot, lambda: decks(app) == ["work", "work#2"], what="loaded a second time")
        await until(pilot, lambda: not isinstance(app.screen, (ConfirmScreen, OpenDeckScreen)), what="dialog closed")
        await app.stop_engine()


@asynccontextmanager
async def attached(place: Place, *files: Path) -> AsyncIterator[tuple[JobdeckApp, Pilot]]:
    app = JobdeckApp(files=list(files), engine_factory=lambda: RemoteEngine(place.socket))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None, what="attached")
        yield app, pilot


async def test_jobdeck_file_on_attach_asks_when_the_server_has_it_at_work(place: Place) -> None:
    await (await ensure_server(place.socket, log_path=place.log)).close()
    path = write_deck(place.root)
    async with attached(place, path) as (app, pilot):
        await until(pilot, lambda: decks(app) == ["work"], what="loaded")
        await pilot.press("d")
        await until(pilot, lambda: not app.is_running, what="detached")

    async with attached(place, path) as (app, pilot):
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked")
        assert "as deck 'work' with 1 unfinished job" in question(app)
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert decks(app) == ["work"]
        await pilot.press("d")
        await until(pilot, lambda: not app.is_running, what="detached")

    async with attached(place, path) as (app, pilot):
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked")
        await pilot.press("y")
        await until(pilot, lambda: decks(app) == ["work", "work#2"], what="loaded a second time")
