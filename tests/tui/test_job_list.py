"""The rows of the job panes as a person reads and steers them: which row is selected, and that it shows; where
the selection goes as rows come and go; which deck a row belongs to; what a finished row says came of its job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from rich.color import Color
from rich.style import Style
from textual.pilot import Pilot

from runner.deck.parser import load_deck
from runner.model import JobState
from runner.server.client import ensure_server
from runner.server.remote import RemoteEngine
from tests.conftest import Place
from tests.helpers import until
from tui.app import JobdeckApp
from tui.panes import Pane
from tui.widgets.job_list import JobList

pytestmark = pytest.mark.anyio

SLEEPERS = """
[deck]
name = "sleepers"
shell_limit = 4

[[job]]
name = "first"
shell = "exec sleep 60"
after = ["gate"]

[[job]]
name = "second"
shell = "exec sleep 60"

[[job]]
name = "third"
shell = "exec sleep 60"

[[job]]
name = "gate"
shell = "while [ ! -e go ]; do sleep 0.02; done"
"""
"""`first` comes into Running above the others once the test creates the file `go`."""


@asynccontextmanager
async def dashboard(
    *paths: Path, size: tuple[int, int] = (100, 30), jobs: int
) -> AsyncIterator[tuple[JobdeckApp, Pilot]]:
    app = JobdeckApp([load_deck(path) for path in paths], start_dir=paths[0].parent)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.engine is not None and len(app.engine.jobs) == jobs, what="decks loaded")
        yield app, pilot
        if app.is_running:
            await app.stop_engine()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def names(app: JobdeckApp, pane: Pane) -> list[str]:
    return [job.name for job in app.job_list(pane).jobs]


def selected(app: JobdeckApp) -> str | None:
    return app.selected_job.name if app.selected_job is not None else None


def rows(job_list: JobList) -> list[str]:
    """The text of the pane's lines as drawn (header or "none" first), as far as it is tall."""
    return [job_list.render_line(y).text for y in range(job_list.scrollable_content_region.height)]


def row_backgrounds(job_list: JobList, y: int) -> set[Color | None]:
    return {segment.style.bgcolor if segment.style else None for segment in job_list.render_line(y) if segment.text}


def distance(one: Color, other: Color) -> int:
    a, b = one.get_truecolor(), other.get_truecolor()
    return sum(abs(x - y) for x, y in zip(a, b, strict=True))


# --- the selected row shows -------------------------------------------------------------------------------------------


async def test_the_selected_row_has_a_background_and_a_dimmer_one_where_the_pane_has_no_focus(tmp_path: Path) -> None:
    async with dashboard(write(tmp_path / "sleepers.toml", SLEEPERS), jobs=4) as (app, pilot):
        running = app.job_list(Pane.RUNNING)
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["second", "third", "gate"], what="three running")
        assert app.focused is running and running.cursor == 0
        await pilot.pause(0.1)
        plain = row_backgrounds(running, 2)
        focused = row_backgrounds(running, 1)
        assert len(plain) == 1 and len(focused) == 1, "one background across each whole row"
        assert focused != plain, "the selected row of the focused pane stands out"

        await pilot.press("tab")  # Finished has the focus now; Running's selection stays, dimmer
        await pilot.pause(0.1)
        blurred = row_backgrounds(running, 1)
        assert len(blurred) == 1 and blurred not in (plain, focused)
        (surface,), (bright,), (dim,) = plain, focused, blurred
        assert surface is not None and bright is not None and dim is not None
        assert distance(dim, surface) < distance(bright, surface), "the pane without focus shows it dimmer"
        assert row_backgrounds(running, 2) == plain


async def test_without_colours_the_selected_row_is_drawn_reversed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    async with dashboard(write(tmp_path / "sleepers.toml", SLEEPERS), jobs=4) as (app, pilot):
        running = app.job_list(Pane.RUNNING)
        await until(pilot, lambda: len(names(app, Pane.RUNNING)) == 3, what="three running")
        await pilot.pause(0.1)
        cursor_row = [segment.style or Style() for segment in running.render_line(1) if segment.text]
        other_row = [segment.style or Style() for segment in running.render_line(2) if segment.text]
        assert all(style.reverse for style in cursor_row)
        assert not any(style.reverse for style in other_row)


# --- where the selection goes -----------------------------------------------------------------------------------------


async def test_the_cursor_stays_on_the_first_row_until_moved(tmp_path: Path) -> None:
    async with dashboard(write(tmp_path / "sleepers.toml", SLEEPERS), jobs=4) as (app, pilot):
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["second", "third", "gate"], what="three running")
        assert selected(app) == "second"
        (tmp_path / "go").touch()  # the gate ends; `first` starts, above the others
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["first", "second", "third"], what="first running")
        assert selected(app) == "first" and app.job_list(Pane.RUNNING).cursor == 0
        await pilot.press("p")
        assert app.engine is not None and app.engine.job("first").state is JobState.PAUSED


async def test_a_moved_cursor_stays_on_its_job_and_keeps_its_place_when_the_job_leaves(tmp_path: Path) -> None:
    async with dashboard(write(tmp_path / "sleepers.toml", SLEEPERS), jobs=4) as (app, pilot):
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["second", "third", "gate"], what="three running")
        await pilot.press("j")
        assert selected(app) == "third"
        (tmp_path / "go").touch()
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["first", "second", "third"], what="first running")
        assert selected(app) == "third", "a row came in above: the cursor stays on its job"
        await pilot.press("k")
        assert selected(app) == "second"
        await pilot.press("c")  # `second` goes to Finished: the cursor stays at its place, on the next job
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["first", "third"], what="second cancelled")
        assert selected(app) == "third" and app.job_list(Pane.RUNNING).cursor == 1
        await pilot.press("home")  # back on the first row, which it keeps again
        assert selected(app) == "first" and app.job_list(Pane.RUNNING).on_first_row


# --- Finished: the newest on top, wherever the jobs run ---------------------------------------------------------------

QUICK = "[deck]\nname = 'quick'\n" + "".join(f"\n[[job]]\nname = 'q{number}'\nshell = 'true'\n" for number in range(3))


@pytest.mark.anyio
async def test_once_every_job_has_finished_the_focus_goes_to_finished_where_enter_opens_a_job(tmp_path: Path) -> None:
    """Jobs that all end before the person presses a key must not leave the focus on an empty Running pane."""
    async with dashboard(write(tmp_path / "quick.toml", QUICK), jobs=3) as (app, pilot):
        finished = app.job_list(Pane.FINISHED)
        await until(pilot, lambda: len(finished.jobs) == 3, what="all finished")
        await until(pilot, lambda: app.focused is finished, what="Finished in focus")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is not app.screen_stack[0], what="the job's detail open")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.screen_stack[0], what="back")
        await pilot.press("tab")  # to Queued, empty: a pane chosen now keeps the focus
        queued = app.job_list(Pane.QUEUED)
        await until(pilot, lambda: app.focused is queued, what="Queued in focus")
        app.pull_changes()
        await pilot.pause()
        assert app.focused is queued


IN_TURN = "[deck]\nname = 'turns'\nshell_limit = 1\n" + "".join(
    f"\n[[job]]\nname = 'step{number:02d}'\nshell = 'true'\n" for number in range(1, 31)
)
"""Thirty quick jobs that run one at a time, so they finish in load order."""
NEWEST_FIRST = [f"step{number:02d}" for number in range(30, 0, -1)]


async def test_finished_shows_the_newest_job_on_top(tmp_path: Path) -> None:
    async with dashboard(write(tmp_path / "turns.toml", IN_TURN), jobs=30, size=(80, 24)) as (app, pilot):
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 30, what="every job finished")
        assert names(app, Pane.FINISHED) == NEWEST_FIRST
        await until(pilot, lambda: app.focused is app.job_list(Pane.FINISHED), what="Finished in focus, all done")
        assert selected(app) == "step30"
        assert rows(app.job_list(Pane.FINISHED))[1].startswith("✓ step30")


async def test_attached_again_finished_shows_the_newest_job_on_top(place: Place) -> None:
    await (await ensure_server(place.socket, log_path=place.log)).close()
    deck = write(place.root / "turns.toml", IN_TURN)
    first = JobdeckApp(files=[deck], engine_factory=lambda: RemoteEngine(place.socket))
    async with first.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: first.model.count(Pane.FINISHED) == 30, timeout=30, what="every job finished")
        await pilot.press("d")
        await until(pilot, lambda: not first.is_running, what="detached")

    again = JobdeckApp(engine_factory=lambda: RemoteEngine(place.socket))
    async with again.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: again.model.count(Pane.FINISHED) == 30, what="the finished jobs, seen again")
        await pilot.pause(0.2)
        finished = again.job_list(Pane.FINISHED)
        assert names(again, Pane.FINISHED) == NEWEST_FIRST
        shown = rows(finished)
        assert shown[1].startswith("✓ step30") and shown[2].startswith("✓ step29")
        await until(pilot, lambda: again.focused is finished, what="Finished in focus: opened on finished work")
        assert selected(again) == "step30"
        await pilot.press("d")


# --- which deck -------------------------------------------------------------------------------------------------------

TWO_JOBS = '[deck]\nname = "{name}"\n\n[[job]]\nname = "get"\nshell = "exec sleep 60"\n'


async def test_rows_name_their_deck_once_more_than_one_is_loaded(tmp_path: Path) -> None:
    nightly = write(tmp_path / "nightly.toml", TWO_JOBS.format(name="nightly"))
    async with dashboard(nightly, jobs=1) as (app, pilot):
        running = app.job_list(Pane.RUNNING)
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["get"], what="one running")
        await pilot.pause(0.1)
        assert rows(running)[1].startswith("▶ get ")
        assert app.engine is not None
        await app.engine.load(nightly)  # the same file again: deck nightly#2, with the same job names
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["get", "get"], what="both running")
        await pilot.pause(0.1)
        first, second = rows(running)[1:3]
        assert first.startswith("▶ nightly/get ") and second.startswith("▶ nightly#2/get ")


async def test_a_long_deck_name_is_cut_in_its_middle_and_the_rows_stay_apart(tmp_path: Path) -> None:
    long_name = "the-nightly-build-of-everything"
    deck = write(tmp_path / "long.toml", TWO_JOBS.format(name=long_name))
    async with dashboard(deck, size=(80, 24), jobs=1) as (app, pilot):
        assert app.engine is not None
        await app.engine.load(deck)
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["get", "get"], what="both running")
        await pilot.pause(0.1)
        first, second = (row.split()[1] for row in rows(app.job_list(Pane.RUNNING))[1:3])
        assert first != second and first.endswith("/get") and second.endswith("#2/get")
        assert "…" in first


# --- what came of a job -----------------------------------------------------------------------------------------------

OUTCOMES = """
[[job]]
name = "answer"
call = "answers:answer"
args = [6, 7]

[[job]]
name = "login"
shell = "test -n '${JOBDECK_TEST_TOKEN}'"

[[job]]
name = "told"
call = "answers:told"
on = "thread"

[[job]]
name = "big"
call = "answers:big"

[[job]]
name = "long"
call = "answers:long"

[[job]]
name = "silent"
call = "answers:nothing"

[[job]]
name = "talker"
shell = "printf 'compiling\\\\nwrote \\\\033[1mreport.html\\\\033[0m\\\\n'"

[[job]]
name = "grumbler"
shell = "echo 'error: 3 problems'; exit 1"

[[job]]
name = "working"
shell = "echo 'step 1 of 3'; exec sleep 60"
"""
"""The call `told` returns the value of a variable the deck references (a secret: masked, as everywhere)."""
ANSWERS = """
def answer(a, b):
    return a * b

def told():
    import os

    return {"token": os.environ["JOBDECK_TEST_TOKEN"]}

def big():
    return list(range(1_000_000))

def long():
    return list(range(100))

def nothing():
    return None
"""


def outcome_column(job_list: JobList, name: str) -> str:
    """What the row of job `name` says in the progress / outcome column."""
    shown = rows(job_list)
    start = shown[0].index("progress / outcome")
    for row, job in zip(shown[1:], job_list.jobs, strict=False):
        if job.name == name:
            return row[start:].strip()
    raise AssertionError(f"{name} is not shown in {job_list.id}")


async def test_finished_rows_say_what_came_of_the_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBDECK_TEST_TOKEN", "tok-secret-42")
    write(tmp_path / "answers.py", ANSWERS)
    deck = write(tmp_path / "outcomes.toml", OUTCOMES)
    async with dashboard(deck, size=(120, 40), jobs=9) as (app, pilot):
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 8, timeout=30, what="eight finished")
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["working"], what="one still running")
        await until(pilot, lambda: "step 1 of 3" in rows(app.job_list(Pane.RUNNING))[1], what="its last line shown")
        finished = app.job_list(Pane.FINISHED)
        await pilot.pause(0.1)
        assert outcome_column(finished, "answer") == "→ 42"
        assert outcome_column(finished, "told") == "→ {'token': '***'}"
        assert outcome_column(finished, "big").startswith("→ 7.9 MB: [0, 1, 2, 3, 4")  # kept in a file
        assert outcome_column(finished, "long") == "→ [0, 1, 2, 3, 4, 5, 6, 7, ...]"
        assert outcome_column(finished, "silent") == outcome_column(finished, "login") == ""
        assert outcome_column(finished, "talker") == "wrote report.html"
        assert outcome_column(finished, "grumbler") == "exited with status 1 · error: 3 problems"
        assert "tok-secret-42" not in "".join(rows(finished))


async def test_a_long_outcome_is_cut_to_the_pane(tmp_path: Path) -> None:
    deck = write(tmp_path / "long.toml", "[[job]]\nname = 'long'\nshell = 'seq -s , 1 500'\n")
    async with dashboard(deck, size=(80, 24), jobs=1) as (app, pilot):
        finished = app.job_list(Pane.FINISHED)
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 1, what="finished")
        await pilot.pause(0.1)
        row = rows(finished)[1]
        assert row.rstrip().endswith("…") and "1,2,3,4" in row
        assert len(row) == finished.scrollable_content_region.width


async def test_attached_a_shell_row_shows_its_last_line_without_opening_it(place: Place) -> None:
    await (await ensure_server(place.socket, log_path=place.log)).close()
    deck = write(place.root / "say.toml", "[[job]]\nname = 'say'\nshell = 'echo first; echo the last word'\n")
    app = JobdeckApp(files=[deck], engine_factory=lambda: RemoteEngine(place.socket))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 1, timeout=30, what="finished")
        await pilot.pause(0.1)
        assert outcome_column(app.job_list(Pane.FINISHED), "say") == "the last word"
        await pilot.press("d")
        await until(pilot, lambda: not app.is_running, what="detached")


async def test_a_theme_change_redraws_the_rows_in_the_new_colours(tmp_path: Path) -> None:
    async with dashboard(write(tmp_path / "sleepers.toml", SLEEPERS), jobs=4) as (app, pilot):
        running = app.job_list(Pane.RUNNING)
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["second", "third", "gate"], what="three running")
        app.theme = "textual-dark"
        await pilot.pause(0.1)
        dark = row_backgrounds(running, 2)
        app.theme = "textual-light"
        await pilot.pause(0.1)
        light = row_backgrounds(running, 2)
        assert dark and light and dark != light, (dark, light)
