"""Jobs moving between panes redraw the panes, not the whole screen: a pane's row count and the header's text
change at nearly every pull, and laying out the screen at each took half the dashboard's time in a run of tiny
jobs. The screen is laid out again only when the panes' heights change; the scrollbars follow the row counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual._compositor import Compositor

from runner.model import JobState
from tests.helpers import until
from tests.tui.test_job_list import dashboard, write
from tui.app import JobdeckApp
from tui.panes import Pane

pytestmark = pytest.mark.anyio

JOBS = 60
DECK = f"""
[deck]
name = "steps"
shell_limit = 1

[[job]]
name = "step"
shell = "sleep 0.03"
each = {{ range = [{JOBS}] }}
"""


async def test_pulls_that_move_jobs_between_full_panes_do_not_lay_out_the_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layouts: list[int] = []
    pulls: list[int] = []
    reflow = Compositor.reflow  # the whole screen laid out again (a scroll reflows only what it shows)

    def counted_reflow(self: Compositor, *arguments: object, **keywords: object) -> object:
        layouts.append(1)
        return reflow(self, *arguments, **keywords)  # type: ignore[arg-type]

    pull = JobdeckApp.pull_changes

    def counted_pull(self: JobdeckApp) -> None:
        pulls.append(1)
        pull(self)

    monkeypatch.setattr(JobdeckApp, "pull_changes", counted_pull)  # before the app's timer takes it
    async with dashboard(write(tmp_path / "steps.toml", DECK), size=(80, 24), jobs=JOBS) as (app, pilot):
        finished, queued = app.job_list(Pane.FINISHED), app.job_list(Pane.QUEUED)
        # Both panes show more jobs than they have rows for: their heights stay as they are.
        await until(pilot, lambda: len(finished.jobs) >= 12, timeout=30, what="12 jobs finished")
        monkeypatch.setattr(Compositor, "reflow", counted_reflow)
        pulls.clear()
        await until(pilot, lambda: len(queued.jobs) <= 12, timeout=30, what="12 jobs left")
        monkeypatch.setattr(Compositor, "reflow", reflow)
        counted = (len(layouts), len(pulls))
        assert finished.show_vertical_scrollbar and queued.show_vertical_scrollbar
        engine = app.engine
        assert engine is not None
        await until(pilot, lambda: all(job.state is JobState.SUCCEEDED for job in engine.jobs.values()), timeout=30)
        await until(pilot, lambda: len(finished.jobs) == JOBS and not queued.jobs, what="all shown finished")
        await pilot.pause(0.2)
        assert finished.max_scroll_y == JOBS + 1 - finished.scrollable_content_region.height
        assert not queued.show_vertical_scrollbar
    layout_count, pull_count = counted
    assert pull_count >= 5, f"only {pull_count} pulls: the test saw too little"
    assert layout_count <= 2, f"{layout_count} layouts of the screen in {pull_count} pulls"


GATED = """
[deck]
name = "gated"

[[job]]
name = "gate"
shell = "while [ ! -e go ]; do sleep 0.02; done"

[[job]]
name = "after"
shell = "exec sleep 60"
after = ["gate"]
"""


async def test_a_job_that_left_its_pane_since_the_pull_keeps_the_row_it_had_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dashboard(write(tmp_path / "gated.toml", GATED), jobs=2) as (app, pilot):
        queued = app.job_list(Pane.QUEUED)
        await until(pilot, lambda: [job.name for job in queued.jobs] == ["after"], what="after queued")
        await pilot.pause(0.2)
        shown = queued.render_line(1).text
        assert "queued" in shown
        monkeypatch.setattr(app._pace, "due", lambda: False)  # no timer pull from now on
        engine = app.engine
        assert engine is not None
        (tmp_path / "go").touch()
        await until(pilot, lambda: engine.job("after").state is JobState.RUNNING, what="after running")
        queued.refresh()
        await pilot.pause(0.1)
        assert [job.name for job in queued.jobs] == ["after"]  # not pulled: still listed here
        assert queued.render_line(1).text == shown  # drawn as it was, not as a running job in the Queued pane
        monkeypatch.undo()
        await until(pilot, lambda: not queued.jobs, what="moved by the next pull")
