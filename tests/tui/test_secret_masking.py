"""The dashboard, attached to a real server, shows `${VAR}` secrets as `***`: in a job's output and its error."""

from __future__ import annotations

import html
import os
import re
import socket
from pathlib import Path

import pytest

from runner.model import JobState
from runner.server.remote import RemoteEngine
from tests.conftest import Place
from tests.helpers import until
from tui.app import JobdeckApp
from tui.panes import Pane
from tui.screens.job_detail import JobDetailScreen

pytestmark = pytest.mark.anyio

SECRETS = {"TOKEN": "tok-abcdef123", "KEY": "key-9876543210"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def secret_deck(place: Place) -> Path:
    deck = place.root / "secrets.toml"
    deck.write_text(f"""
[[job]]
name = "echoed"
shell = "echo token ${{TOKEN}}; exit 3"

[[job]]
name = "refused"
fetch = "http://127.0.0.1:{closed_port()}/${{TOKEN}}/y?q=${{KEY}}"
""")
    return deck


def screen_text(app: JobdeckApp) -> str:
    """The characters on screen (the screenshot's SVG, unescaped), in screen order."""
    return html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")


async def test_the_dashboard_shows_secrets_masked(place: Place) -> None:
    engine = RemoteEngine(place.socket, environ={**os.environ, **SECRETS})
    app = JobdeckApp(files=[secret_deck(place)], engine_factory=lambda: engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None, what="attached")
        await until(
            pilot,
            lambda: len(engine.jobs) == 2 and all(job.state is JobState.FAILED for job in engine.jobs.values()),
            timeout=30,  # includes starting a server process, slow on a loaded machine
            what="both jobs failed",
        )
        shown = ""
        # The echoed job's output, the other one's error: each detail is read once what it shows has arrived
        # (the output's heading counts its line; "token " alone is in the command line shown before it).
        for wanted, arrived in (("secrets/echoed", "OUTPUT  1 line"), ("secrets/refused", "/y?q=")):
            if isinstance(app.screen, JobDetailScreen):
                await pilot.press("escape")
                await until(pilot, lambda: not isinstance(app.screen, JobDetailScreen), what="back to the lists")
            finished = app.job_list(Pane.FINISHED)
            finished.focus()
            await until(
                pilot,
                lambda finished=finished: app.focused_list is finished and app.selected_job,
                what="a job selected",
            )
            await pilot.press("home")
            for _ in range(2):
                if app.selected_job is not None and app.selected_job.id == wanted:
                    break
                await pilot.press("down")
            assert app.selected_job is not None and app.selected_job.id == wanted
            await pilot.press("enter")
            await until(
                pilot,
                lambda arrived=arrived: isinstance(app.screen, JobDetailScreen) and arrived in screen_text(app),
                what=f"the detail of {wanted} shown",
            )
            shown += screen_text(app)
    assert "token ***" in shown, "the echoed job's output, masked"
    assert "/***/y" in shown, "the refused job's error, masked"
    assert [name for name, value in SECRETS.items() if value in shown] == []
