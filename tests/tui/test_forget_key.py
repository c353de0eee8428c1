"""F in the dashboard, attached to a real server: a finished deck leaves the panes and the server, and stays in
the history; a deck with unfinished jobs is refused and goes on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot

from runner.model import JobState
from runner.server.client import Client, ensure_server
from runner.server.remote import RemoteEngine
from tests.conftest import Place
from tests.helpers import until
from tui.app import JobdeckApp
from tui.panes import Pane
from tui.screens.job_detail import JobDetailScreen

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def attached(place: Place, *files: Path) -> AsyncIterator[tuple[JobdeckApp, Pilot]]:
    await (await ensure_server(place.socket, log_path=place.log)).close()
    app = JobdeckApp(files=list(files), engine_factory=lambda: RemoteEngine(place.socket))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None, what="attached")
        yield app, pilot


async def server_decks(place: Place) -> list[str]:
    async with await Client.connect(place.socket) as client:
        snapshot = await client.request("snapshot", since=0)
    return list(snapshot["decks"])


def notices(app: JobdeckApp) -> str:
    return "\n".join(str(notice.message) for notice in app._notifications)


async def test_f_forgets_the_selected_finished_deck_and_refuses_one_still_running(place: Place) -> None:
    done = place.root / "done.toml"
    done.write_text('[deck]\nname = "done"\n[[job]]\nname = "hello"\nshell = "true"\n')
    busy = place.root / "busy.toml"
    busy.write_text(
        '[deck]\nname = "busy"\n[[job]]\nname = "quick"\nshell = "true"\n'
        '[[job]]\nname = "long"\nshell = "exec sleep 60"\n'
    )
    async with attached(place, done, busy) as (app, pilot):
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 2, what="two jobs finished")
        assert app.engine is not None
        finished = app.job_list(Pane.FINISHED)
        finished.focus()
        await until(pilot, lambda: app.focused_list is finished and app.selected_job, what="a finished job selected")

        async def select(job_id: str) -> None:
            # Finished jobs are listed in the order they ended, which a loaded machine may change, and a late
            # update may sort the list again between two key presses: start over from the top until it holds.
            for _ in range(5):
                await pilot.press("home")
                for _ in range(app.model.count(Pane.FINISHED)):
                    if app.selected_job is not None and app.selected_job.id == job_id:
                        return
                    await pilot.press("down")
            assert app.selected_job is not None and app.selected_job.id == job_id

        await select("busy/quick")
        await pilot.press("F")  # busy still runs "long": refused, nothing changes
        await until(pilot, lambda: "cannot forget busy: 1 of its jobs has not finished" in notices(app), what="no")
        assert await server_decks(place) == ["done", "busy"]
        assert app.engine.jobs["busy/long"].state is JobState.RUNNING

        await select("done/hello")
        await pilot.press("F")
        await until(pilot, lambda: "done/hello" not in app.engine.jobs, what="forgotten in the mirror")
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 1, what="gone from the pane")
        assert list(app.engine.decks) == ["busy"]
        assert "forgot done (1 job)" in notices(app)
        assert await server_decks(place) == ["busy"]
        runs = await app.engine.history_runs()
        assert "done" in [run.name for run in runs]


async def test_a_deck_forgotten_elsewhere_leaves_an_open_detail_view_standing(place: Place) -> None:
    done = place.root / "done.toml"
    done.write_text('[deck]\nname = "done"\n[[job]]\nname = "hello"\nshell = "true"\n')
    async with attached(place, done) as (app, pilot):
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 1, what="finished")
        app.job_list(Pane.FINISHED).focus()
        await until(pilot, lambda: app.selected_job is not None, what="selected")
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        async with await Client.connect(place.socket) as client:
            await client.request("forget", deck="done")  # another client (or the server's own policy)
        assert app.engine is not None
        await until(pilot, lambda: not app.engine.jobs, what="the mirror dropped the deck")
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 0, what="the panes dropped its job")
        assert app.is_running and isinstance(app.screen, JobDetailScreen)
        await pilot.press("escape")
        assert app.is_running and not isinstance(app.screen, JobDetailScreen)
