"""A shell job's JOBDECK_PROGRESS and JOBDECK_STATUS lines in the panes: a bar, its amount and the status while
it runs, the status as what came of it once it succeeded, as a call job's progress and result show."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.model import JobState
from tests.helpers import until
from tests.tui.test_job_list import dashboard, rows, write
from tui.panes import Pane

pytestmark = pytest.mark.anyio

DECK = """
[deck]
name = "copies"

[[job]]
name = "copying"
shell = '''
echo "JOBDECK_PROGRESS 3/4"
echo "JOBDECK_STATUS copying part 3"
echo a line of output
while [ ! -e go ]; do sleep 0.02; done
'''

[[job]]
name = "saying"
shell = '''
echo "JOBDECK_STATUS thinking"
echo its last line
while [ ! -e go ]; do sleep 0.02; done
echo "JOBDECK_STATUS all copied"
echo bye
'''
"""


async def test_running_rows_show_progress_and_status_and_finished_rows_the_status(tmp_path: Path) -> None:
    async with dashboard(write(tmp_path / "copies.toml", DECK), jobs=2) as (app, pilot):

        def row(name: str, pane: Pane) -> str:
            return next((text for text in rows(app.job_list(pane)) if f" {name} " in text), "")

        await until(pilot, lambda: "· copying part 3" in row("copying", Pane.RUNNING), what="progress and status")
        assert "██████░░ 75% · copying part 3" in row("copying", Pane.RUNNING)
        await until(pilot, lambda: "thinking" in row("saying", Pane.RUNNING), what="a status without progress")
        assert "its last line" not in row("saying", Pane.RUNNING), "the status, not the last line"
        (tmp_path / "go").touch()
        engine = app.engine
        assert engine is not None
        await until(pilot, lambda: all(job.state is JobState.SUCCEEDED for job in engine.jobs.values()))
        await until(pilot, lambda: row("saying", Pane.FINISHED).rstrip().endswith(" all copied"), what="finished")
