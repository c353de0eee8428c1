"""The job detail view reads the job's log files: the whole output, not only the last 2,000 lines kept in memory,
searched on a worker thread; attached to a real server (an in-process engine gives its `log_place` the same way,
see tests/runner/joblogs), and how a capped log's cut and a shell job's result look."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input

from runner.joblogs.attempt_file import AttemptFile, Batch
from runner.joblogs.layout import LogPlace
from runner.joblogs.records import record_line
from runner.model import OUTPUT_TAIL_LINES, Attempt, Job, JobSpec, JobState, Kind, ShellSpec
from runner.server.remote import RemoteEngine
from tests.conftest import Place
from tests.helpers import until
from tui.app import JobdeckApp
from tui.panes import Pane
from tui.screens.job_detail import JobDetailScreen, OutputView

T0 = 1_700_000_000.0

LINES = OUTPUT_TAIL_LINES + 500
"""More than a job keeps in memory: the first lines are only in the files."""

DECK = f"""
[deck]
name = "talk"

[[job]]
name = "long"
shell = "seq 1 {LINES}; echo the end >&2"
"""


def screen_text(app: JobdeckApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def open_detail(app: JobdeckApp, pilot: Pilot) -> OutputView:
    """The detail view of the deck's one job, once it has finished."""
    await until(pilot, lambda: app.engine is not None and app.engine.counts()[JobState.SUCCEEDED] == 1, what="done")
    finished = app.job_list(Pane.FINISHED)
    await until(pilot, lambda: app.focused is finished, what="Finished in focus, once its only job has ended")
    await until(pilot, lambda: app.selected_job is not None, what="selected")
    await pilot.press("enter")
    assert isinstance(app.screen, JobDetailScreen)
    output = app.screen.query_one(OutputView)
    await until(pilot, lambda: output.reading_files and output.line_count, what="the log files read")
    return output


async def check_whole_log(app: JobdeckApp, pilot: Pilot) -> None:
    output = await open_detail(app, pilot)
    await until(pilot, lambda: output.line_count == LINES + 1, what=f"{LINES + 1} lines")
    assert f"OUTPUT  {LINES + 1:,} lines · ! stderr" in screen_text(app)
    # It follows the end: the scroll comes with the frame after the lines (a loaded machine showed line 26 first).
    await until(pilot, lambda: output.visible_texts[-1:] == ["the end"], what="the last line shown")
    output.focus()
    await pilot.press("home")
    await until(pilot, lambda: output.visible_texts[:2] == ["1", "2"], what="the first lines, long gone from memory")
    await pilot.press("slash")
    app.screen.query_one("#search", Input).value = "1234"  # as typed, without a key press a character
    await until(pilot, lambda: output.match_count == 1, what="the search of the files")
    assert output.current_line is not None and output.current_line.text == "1234"
    assert "1234" in output.visible_texts


@pytest.mark.anyio
async def test_attached_the_detail_view_reads_the_servers_log_files(place: Place) -> None:
    deck = place.root / "talk.toml"
    deck.write_text(DECK)
    app = JobdeckApp(files=[deck], engine_factory=lambda: RemoteEngine(place.socket))
    async with app.run_test(size=(100, 40)) as pilot:
        await check_whole_log(app, pilot)


# --- how it looks ----------------------------------------------------------------------------------------------


def failed_build(logs: Path) -> Job:
    """A failed shell job whose log outgrew its cap: its files written as the server writes them."""
    spec = JobSpec(name="build", kind=Kind.SHELL, work=ShellSpec(command="make -j4 all", cwd=Path("/srv/app")))
    job = Job(id="nightly/build", deck="nightly", spec=spec, state=JobState.FAILED, revision=3)
    job.attempts = [Attempt(1, T0, T0 + 95.5, JobState.FAILED, "exited with status 2", 95.5)]
    job.error = "exited with status 2"
    job.result = {"exit_code": 2, "signal": None, "last_line": "make: *** [all] Error 2"}
    records = [record_line("stdout", f"cc -O2 -c src/unit_{n:04d}.c") for n in range(1, 4001)]
    records.append(record_line("stderr", "make: *** [all] Error 2"))
    writer = AttemptFile(LogPlace(logs), 1, tail_limit=8192)
    writer.write(Batch(head=records[:300], tail=records[300:], tail_start=(300 * 25, 300)))
    writer.close()
    return job


class LogApp(App[None]):
    def __init__(self, job: Job, logs: Path) -> None:
        super().__init__()
        self.job, self.logs = job, logs

    def on_mount(self) -> None:
        spec = [("kind", "shell"), ("command", "make -j4 all"), ("cwd", "/srv/app")]
        self.push_screen(
            JobDetailScreen(
                self.job, spec_lines=lambda: spec, log_place=lambda: LogPlace(self.logs), clock=lambda: T0, tz=UTC
            )
        )


def test_snapshot_a_failed_jobs_result_and_the_cut_in_its_log(snap_compare: Any, tmp_path: Path) -> None:
    app = LogApp(failed_build(tmp_path / "build"), tmp_path / "build")

    async def find_the_cut(pilot: Pilot[None]) -> None:
        output = app.screen.query_one(OutputView)
        await until(pilot, lambda: output.line_count, what="the files read")
        await pilot.press("slash")
        app.screen.query_one("#search", Input).value = "cut:"
        await until(pilot, lambda: output.match_count == 1, what="the cut found")
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=find_the_cut)
