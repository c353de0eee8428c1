"""The dashboard driven by keys, over a real engine running real shell jobs."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot

from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.journal.history import JournalHistory
from runner.model import JobState
from tests.helpers import CONSOLE_SCRIPT, cancel_with_c, file_size, in_terminal, process_alive, until
from tui.app import JobdeckApp
from tui.panes import Pane
from tui.screens.dialogs import HelpScreen, QuitScreen

pytestmark = pytest.mark.anyio

DECK = """
[deck]
name = "demo"
shell_limit = 2

[[job]]
name = "sleeper"
shell = "echo $$ > sleeper.pid; exec sleep 60"

[[job]]
name = "writer"
shell = "while true; do echo x >> writer.out; sleep 0.02; done"

[[job]]
name = "waiting"
shell = "true"

[[job]]
name = "broken"
shell = "echo failing; exit 4"
after = []
"""


@pytest.fixture
def deck_path(tmp_path: Path) -> Path:
    path = tmp_path / "demo.toml"
    path.write_text(DECK)
    return path


def sleeper_selected(app: JobdeckApp) -> bool:
    return app.selected_job is not None and app.selected_job.name == "sleeper"


@asynccontextmanager
async def dashboard(*paths: Path, size: tuple[int, int] = (100, 30)) -> AsyncIterator[tuple[JobdeckApp, Pilot]]:
    app = JobdeckApp([load_deck(path) for path in paths], start_dir=paths[0].parent if paths else None)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.engine is not None and len(app.engine.jobs) == 4 * len(paths))
        yield app, pilot
        if app.is_running:
            await app.stop_engine()


async def type_path(pilot: Pilot, path: Path) -> None:
    """Fill the open dialog's path field (typing a long temporary path key by key is slow) and press enter."""
    from textual.widgets import Input

    pilot.app.screen.query_one(Input).value = str(path)
    await pilot.press("enter")


def state(app: JobdeckApp, name: str) -> JobState:
    assert app.engine is not None
    return app.engine.job(name).state


def pane_names(app: JobdeckApp, pane: Pane) -> list[str]:
    return [job.name for job in app.job_list(pane).jobs]


async def test_jobs_fill_the_panes_and_the_running_pane_has_focus(deck_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: pane_names(app, Pane.RUNNING) == ["sleeper", "writer"])
        assert app.focused is app.job_list(Pane.RUNNING)
        assert app.job_list(Pane.RUNNING).border_title == "Running (2)"
        assert pane_names(app, Pane.QUEUED) == ["waiting", "broken"]
        summary = str(app.query_one("#summary").render())
        assert "demo" in summary and "2 running" in summary and "2 queued" in summary


async def test_tab_and_shift_tab_move_between_panes(deck_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await pilot.press("tab")
        assert app.focused is app.job_list(Pane.FINISHED)
        await pilot.press("tab")
        assert app.focused is app.job_list(Pane.QUEUED)
        await pilot.press("shift+tab")
        assert app.focused is app.job_list(Pane.FINISHED)
        await pilot.press("shift+tab")
        assert app.focused is app.job_list(Pane.RUNNING)


async def test_selection_moves_with_arrows_vim_keys_home_and_end(deck_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: len(pane_names(app, Pane.RUNNING)) == 2)
        running = app.job_list(Pane.RUNNING)
        assert app.selected_job is not None and app.selected_job.name == "sleeper"
        await pilot.press("j")
        assert app.selected_job.name == "writer"
        await pilot.press("k")
        assert app.selected_job.name == "sleeper"
        await pilot.press("end")
        assert running.cursor == 1
        await pilot.press("home", "down")
        assert running.cursor == 1
        await pilot.press("pageup")
        assert running.cursor == 0
        await pilot.press("pagedown")
        assert running.cursor == 1


async def test_p_pauses_and_resumes_the_selected_job(deck_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: sleeper_selected(app))
        await pilot.press("p")
        assert state(app, "sleeper") is JobState.PAUSED
        await pilot.pause(0.2)
        assert "paused" in app.job_list(Pane.RUNNING).render_line(1).text
        await pilot.press("p")
        assert state(app, "sleeper") is JobState.RUNNING


async def test_p_holds_back_a_queued_job(deck_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await pilot.press("tab", "tab")  # the Queued pane
        assert app.selected_job is not None and app.selected_job.name == "waiting"
        await pilot.press("p")
        assert state(app, "waiting") is JobState.PAUSED
        await pilot.press("p")
        assert state(app, "waiting") is JobState.QUEUED


async def test_shift_p_pauses_and_resumes_dispatching(deck_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await pilot.press("P")
        assert app.engine is not None and not app.engine.dispatching
        await pilot.pause(0.2)
        assert "dispatching paused" in str(app.query_one("#summary").render())
        await pilot.press("P")
        assert app.engine.dispatching


async def test_c_cancels_and_r_retries_the_selected_job(deck_path: Path, tmp_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: (tmp_path / "sleeper.pid").exists() and sleeper_selected(app))
        sleep_pid = int((tmp_path / "sleeper.pid").read_text())
        await cancel_with_c(pilot, lambda: state(app, "sleeper") is JobState.CANCELLED)
        assert not process_alive(sleep_pid)
        await until(pilot, lambda: "sleeper" in pane_names(app, Pane.FINISHED))
        await pilot.press("tab")  # Finished
        finished = app.job_list(Pane.FINISHED)
        await pilot.press("home")
        for _ in finished.jobs:
            if sleeper_selected(app):
                break
            await pilot.press("down")
        assert sleeper_selected(app)
        assert app.check_action("retry_job", ()) is True
        await pilot.press("r")
        await until(pilot, lambda: state(app, "sleeper") is JobState.RUNNING)
        assert len(app.engine.job("sleeper").attempts) == 2  # type: ignore[union-attr]
        assert finished.jobs == [] or "sleeper" not in pane_names(app, Pane.FINISHED)


async def test_shift_r_retries_every_failed_job(deck_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: sleeper_selected(app))
        # make room: cancel the sleeper so "broken" runs
        await cancel_with_c(pilot, lambda: state(app, "sleeper") is JobState.CANCELLED)
        await until(pilot, lambda: state(app, "broken") is JobState.FAILED)
        await pilot.press("R")
        await until(pilot, lambda: len(app.engine.job("broken").attempts) == 2)  # type: ignore[union-attr]


async def test_keys_that_do_not_apply_are_disabled(deck_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: sleeper_selected(app))
        assert app.check_action("retry_job", ()) is None
        assert app.check_action("cancel_job", ()) is True
        await pilot.press("r")
        assert len(app.engine.job("sleeper").attempts) == 1  # type: ignore[union-attr]


async def test_slash_filters_rows_and_escape_clears(deck_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: len(pane_names(app, Pane.RUNNING)) == 2)
        await pilot.press("slash", *"writ")
        assert pane_names(app, Pane.RUNNING) == ["writer"]
        assert pane_names(app, Pane.QUEUED) == []
        await pilot.press("escape")
        assert pane_names(app, Pane.RUNNING) == ["sleeper", "writer"]
        assert app.focused is app.job_list(Pane.RUNNING)
        await pilot.press("slash", *"queued", "enter")
        assert pane_names(app, Pane.QUEUED) == ["waiting", "broken"]
        assert pane_names(app, Pane.RUNNING) == []


async def test_enter_opens_the_job_detail(deck_path: Path) -> None:
    from tui.screens.job_detail import JobDetailScreen

    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: len(pane_names(app, Pane.RUNNING)) == 2)
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, JobDetailScreen)


async def test_question_mark_shows_the_keys(deck_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_o_loads_a_job_file_from_the_dialog(deck_path: Path, tmp_path: Path) -> None:
    from tui.screens.open_deck import OpenDeckScreen

    second = tmp_path / "second.toml"
    second.write_text('[[job]]\nname = "extra"\nshell = "true"\n')
    async with dashboard(deck_path) as (app, pilot):
        await pilot.press("o")
        assert isinstance(app.screen, OpenDeckScreen)
        await type_path(pilot, second)
        await until(pilot, lambda: "second/extra" in app.engine.jobs)  # type: ignore[union-attr]
        assert not isinstance(app.screen, OpenDeckScreen)


async def test_a_bad_file_from_the_dialog_shows_its_errors_and_changes_nothing(deck_path: Path, tmp_path: Path) -> None:
    from tui.screens.open_deck import OpenDeckScreen

    bad = tmp_path / "bad.toml"
    bad.write_text('[[job]]\nname = "x"\nshell = "true"\nretires = 2\n')
    async with dashboard(deck_path) as (app, pilot):
        await pilot.press("o")
        await type_path(pilot, bad)
        await pilot.pause(0.3)
        assert isinstance(app.screen, OpenDeckScreen)
        shown = " ".join(str(widget.render()) for widget in app.screen.query("*") if hasattr(widget, "render"))
        assert "did you mean 'retries'?" in shown
        assert "bad.toml:4" in shown
        assert sorted(app.engine.decks) == ["demo"]  # type: ignore[union-attr]


async def test_q_asks_first_and_n_stays(deck_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, QuitScreen)
        assert app.is_running


async def test_quitting_with_running_shell_jobs_leaves_no_child_process(deck_path: Path, tmp_path: Path) -> None:
    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: (tmp_path / "sleeper.pid").exists())
        sleep_pid = int((tmp_path / "sleeper.pid").read_text())
        await pilot.press("q", "y")
        await until(pilot, lambda: not app.is_running, timeout=15)
    assert not process_alive(sleep_pid)
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    assert [pid for pid in children if process_alive(int(pid)) and not is_resource_tracker(pid)] == []


def is_resource_tracker(pid: str) -> bool:
    """multiprocessing's resource tracker (started by an earlier Dask test's cluster) lives as long as pytest."""
    try:
        return b"multiprocessing.resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


async def test_a_tiny_terminal_shows_a_clear_message(deck_path: Path) -> None:
    async with dashboard(deck_path, size=(50, 12)) as (app, pilot):
        await pilot.pause(0.1)
        assert app.screen.has_class("-too-small")
        assert app.query_one("#too-small").display
        assert not app.query_one("#panes").display


async def test_the_dashboard_opens_empty_without_files() -> None:
    app = JobdeckApp([])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.pause(0.2)
        assert "press o to open a job file" in str(app.query_one("#summary").render())
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)


async def test_keys_on_the_detail_screen_act_on_its_job(deck_path: Path) -> None:
    from tui.screens.job_detail import JobDetailScreen

    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: sleeper_selected(app))
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        await pilot.press("p")
        await until(pilot, lambda: state(app, "sleeper") is JobState.PAUSED)
        await cancel_with_c(pilot, lambda: state(app, "sleeper") is JobState.CANCELLED)


async def test_ctrl_p_offers_the_dashboard_commands(deck_path: Path) -> None:
    from textual.command import CommandPalette

    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: sleeper_selected(app))
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"pause or resume job", "enter")
        await until(pilot, lambda: state(app, "sleeper") is JobState.PAUSED)


async def test_the_demo_deck_fills_every_pane(tmp_path: Path) -> None:
    from runner.demo.server import DemoServer
    from runner.demo.workspace import prepare_workspace

    workspace = prepare_workspace()
    try:
        with DemoServer() as server:
            os.environ["JOBDECK_DEMO_URL"] = server.url
            app = JobdeckApp([load_deck(workspace / "demo.toml")], start_dir=workspace)
            async with app.run_test(size=(80, 24)) as pilot:
                seen: set[Pane] = set()
                for _ in range(100):
                    seen |= {pane for pane in Pane if app.job_list(pane).jobs}
                    if len(seen) == 3:
                        break
                    await pilot.pause(0.05)
                assert seen == set(Pane)
                await app.stop_engine()
    finally:
        os.environ.pop("JOBDECK_DEMO_URL", None)
        shutil.rmtree(workspace, ignore_errors=True)


async def test_no_color_keeps_every_state_readable(deck_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    async with dashboard(deck_path) as (app, pilot):
        assert app.no_color
        await until(pilot, lambda: sleeper_selected(app))
        # cancel the sleeper: a cancelled row, then "waiting" and "broken" finish
        await cancel_with_c(pilot, lambda: state(app, "sleeper") is JobState.CANCELLED)
        await until(pilot, lambda: state(app, "broken") is JobState.FAILED)
        await pilot.pause(0.3)
        rows = [app.job_list(Pane.FINISHED).render_line(y).text for y in range(1, 4)]
        assert any(row.startswith("⊘ sleeper") and "cancelled" in row for row in rows)
        assert any(row.startswith("✗ broken") and "failed" in row for row in rows)
        assert any(row.startswith("✓ waiting") and "succeeded" in row for row in rows)


def test_a_closed_terminal_stops_local_jobs_and_leaves_no_process(deck_path: Path, tmp_path: Path) -> None:
    """SIGHUP to a real `jobdeck --local FILE` in a pseudo-terminal: the dashboard quits and cancels its shell jobs."""
    import signal

    with in_terminal(CONSOLE_SCRIPT, "--local", deck_path, cwd=tmp_path) as terminal:
        pid_file = tmp_path / "sleeper.pid"
        terminal.read_until(lambda: file_size(pid_file) > 0, what="the sleeper's pid written")
        sleep_pid = int(pid_file.read_text())
        terminal.process.send_signal(signal.SIGHUP)
        terminal.read_to_end()  # the dashboard should quit on SIGHUP
        assert not process_alive(sleep_pid)


async def test_the_header_shows_what_the_job_kinds_run_on(deck_path: Path) -> None:
    from runner.engine.engine import default_kinds
    from runner.kinds.shell import ShellKind
    from runner.model import Kind

    class ClusterShell(ShellKind):
        def describe(self) -> list[str]:
            return ["dask tcp://127.0.0.1:8786 · 2 workers · 4 threads"]

    app = JobdeckApp(
        [load_deck(deck_path)], engine_factory=lambda: Engine(kinds={**default_kinds(), Kind.SHELL: ClusterShell()})
    )
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: "2 workers" in str(app.query_one("#summary").render()))
        assert "dask tcp://127.0.0.1:8786 · 2 workers · 4 threads" in str(app.query_one("#summary").render())
        await app.stop_engine()


async def test_in_process_the_history_reads_the_journal_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tui.screens.history import HistoryScreen

    deck = tmp_path / "earlier.toml"
    deck.write_text('[deck]\nname = "earlier"\n\n[[job]]\nname = "x"\nshell = "true"\n')
    db = tmp_path / "journal.db"
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli", "run", "--db", str(db), str(deck)], capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    app = JobdeckApp([], engine_factory=lambda: Engine(history=JournalHistory(db)))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        await until(pilot, lambda: len(app.screen.runs) == 1)
        assert app.screen.runs[0].name == "earlier" and app.screen.runs[0].counts == {"succeeded": 1}
        await pilot.press("r")
        await until(pilot, lambda: "earlier" in app.engine.decks)
        await app.stop_engine()


async def test_without_a_journal_history_says_where_it_comes_from(tmp_path: Path) -> None:
    app = JobdeckApp([], engine_factory=lambda: Engine(history=JournalHistory(tmp_path / "none.db")))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press("h")
        await pilot.pause()
        assert any("no journal to show" in str(notice.message) for notice in app._notifications)
        await app.stop_engine()


async def test_escape_from_the_detail_closes_it_and_keeps_the_filter(deck_path: Path) -> None:
    from tui.screens.job_detail import JobDetailScreen

    async with dashboard(deck_path) as (app, pilot):
        await until(pilot, lambda: len(pane_names(app, Pane.RUNNING)) == 2)
        await pilot.press("slash", *"writ", "enter")
        assert pane_names(app, Pane.RUNNING) == ["writer"]
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, JobDetailScreen)
        assert app.model.filter_text == "writ" and pane_names(app, Pane.RUNNING) == ["writer"]
        await pilot.press("escape")  # on the panes, escape clears it
        assert app.model.filter_text == "" and pane_names(app, Pane.RUNNING) == ["sleeper", "writer"]
