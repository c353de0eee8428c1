"""Snapshots of the main screen at 80x24 and 120x40, over a real engine brought to a fixed state.

Times vary from run to run, so the app gets a fixed clock and the test pins each attempt's recorded times
before the snapshot; everything else (states, order, panes, progress) comes from the real run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from runner.deck.parser import load_deck
from runner.model import JobState, Progress
from tests.helpers import until
from tui.app import JobdeckApp
from tui.panes import Pane

FIXED_NOW = 1_790_000_000.0

DECK = """
[deck]
name = "nightly"
shell_limit = 1

[[job]]
name = "lint"
shell = "true"

[[job]]
name = "typecheck"
shell = "echo 'error: 3 problems'; exit 1"

[[job]]
name = "docs"
shell = "true"
after = ["typecheck"]

[[job]]
name = "build"
shell = "exec sleep 60"

[[job]]
name = "test"
shell = "true"
each = ["unit", "integration", "e2e"]

[[job]]
name = "deploy"
shell = "true"
after = ["build", "test"]
"""


def dashboard_app(tmp_path: Path) -> JobdeckApp:
    path = tmp_path / "nightly.toml"
    path.write_text(DECK)
    return JobdeckApp([load_deck(path)], start_dir=tmp_path, clock=lambda: FIXED_NOW)


async def bring_to_fixed_state(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, JobdeckApp)
    await until(pilot, lambda: app.engine is not None and app.engine.job("build").state is JobState.RUNNING)
    engine = app.engine
    assert engine is not None
    await engine.pause("build")
    await engine.pause("test[e2e]")
    assert engine.job("build").state is JobState.PAUSED
    for seconds, job in enumerate(engine.jobs.values(), start=1):
        for attempt in job.attempts:
            attempt.started_at = FIXED_NOW - 100
            attempt.active_s = seconds * 1.5
            attempt.running_since = None
    engine.job("build").progress = Progress(3, 8)
    for job in engine.jobs.values():
        engine.revision += 1
        job.revision = engine.revision
    await until(pilot, lambda: [job.name for job in app.job_list(Pane.RUNNING).jobs] == ["build"])
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_the_main_screen(snap_compare: object, tmp_path: Path, size: tuple[int, int]) -> None:
    app = dashboard_app(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=bring_to_fixed_state)  # type: ignore[operator]


SMALL_DECK = """
[deck]
name = "{name}"
shell_limit = 1

[[job]]
name = "fetch-{name}"
shell = "exec sleep 60"

[[job]]
name = "publish-{name}"
shell = "true"
after = ["fetch-{name}"]
"""


def test_the_header_at_80_columns_with_several_decks_and_dispatching_paused(
    snap_compare: object, tmp_path: Path
) -> None:
    """Deck names, state words and the rate give way; the counts, the ETA and "paused: P resumes" stay."""
    names = ("nightly-website-mirror", "weekly-dataset-refresh", "archive-and-upload")
    decks = []
    for name in names:
        path = tmp_path / f"{name}.toml"
        path.write_text(SMALL_DECK.format(name=name))
        decks.append(load_deck(path))
    app = JobdeckApp(decks, start_dir=tmp_path, clock=lambda: FIXED_NOW)

    async def all_running_then_paused(pilot: Pilot) -> None:
        await until(pilot, lambda: app.engine is not None and app.engine.counts()[JobState.RUNNING] == 3)
        engine = app.engine
        assert engine is not None
        await engine.pause_all()
        for job in engine.jobs.values():
            for attempt in job.attempts:
                attempt.started_at = FIXED_NOW - 100
                attempt.active_s = 42.0
                attempt.running_since = None
            engine.revision += 1
            job.revision = engine.revision
        await until(pilot, lambda: "P resumes" in app.query_one("#summary").render_line(0).text)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=all_running_then_paused)  # type: ignore[operator]
