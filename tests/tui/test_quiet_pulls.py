"""A dashboard whose jobs have all finished stops pulling until the engine changes, then shows the change."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.deck.parser import load_deck
from runner.model import JobState
from tests.helpers import until
from tui import quiet_pulls
from tui.app import JobdeckApp
from tui.panes import Pane

pytestmark = pytest.mark.anyio


async def test_an_idle_dashboard_pulls_nothing_until_a_job_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quiet_pulls, "QUIET_AFTER_S", 0.3)
    deck = tmp_path / "once.toml"
    deck.write_text('[deck]\nname = "once"\n[[job]]\nname = "quick"\nshell = "true"\n')
    app = JobdeckApp([load_deck(deck)])
    async with app.run_test(size=(100, 30)) as pilot:
        pulls: list[object] = []
        update_summary = app._update_summary

        def counted(*args: object) -> None:
            pulls.append(args)
            update_summary(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(app, "_update_summary", counted)  # every pull ends by showing the header
        await until(pilot, lambda: app.engine is not None and app.engine.counts()[JobState.SUCCEEDED] == 1)
        await until(pilot, lambda: app._quiet_pulls.quiet, what="the timer stopped")
        before = len(pulls)
        await pilot.pause(0.5)  # five ticks of a timer that pulls ten times a second
        assert len(pulls) == before, "no pulls while nothing changes"

        engine = app.engine
        assert engine is not None
        await engine.retry("once/quick")
        await until(pilot, lambda: engine.jobs["once/quick"].state is JobState.SUCCEEDED)
        finished = app.job_list(Pane.FINISHED)
        await until(pilot, lambda: "#2" in finished.render_line(1).text, what="its second try shown")
        await app.stop_engine()
