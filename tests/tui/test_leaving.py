"""Leaving the dashboard: it always ends, says what it stopped, and never waits on a job it cannot interrupt.

The job that makes leaving hard is a call on a thread that never reaches a checkpoint: nothing can stop it but
the end of the process. These tests run the real `jobdeck` in a pseudo-terminal, close the terminal or signal
it as a person's terminal or system would, and wait for the process to end.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest
from rich.console import Console
from textual.widgets import Static

from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.kinds.call import THREAD_NOTE
from runner.model import JobState
from runner.server.client import Client
from tests.conftest import Place, servers_on
from tests.helpers import CONSOLE_SCRIPT, Terminal, file_size, in_terminal, process_alive, until, wait_until
from tests.runner.server.server_process import start_server
from tui.app import JobdeckApp
from tui.farewell import SERVER_ENDS_WITHIN_S
from tui.screens.dialogs import StoppingScreen

STUCK_TASKS = '''
import time
from pathlib import Path


def stuck(folder):
    """Never reaches a checkpoint: it returns only once the test lets it (a file appears)."""
    Path(folder, "stuck.started").write_text("1")
    while not Path(folder, "release").exists():
        time.sleep(0.05)
    return "released"
'''
ENDS_WITHIN_S = 30.0
"""A guard for the test, far above the dashboard's own deadline (tui.app.GONE_EXIT_S): it must end at all."""


def stuck_deck(folder: Path, *, shell: bool = True) -> Path:
    """A thread job that never reaches a checkpoint and (with `shell`) a shell job that sleeps, writing its pid."""
    (folder / "stucktasks.py").write_text(STUCK_TASKS)
    deck = folder / "leaving.toml"
    text = (
        '[deck]\nname = "leaving"\n\n'
        f'[[job]]\nname = "stuck"\ncall = "stucktasks:stuck"\non = "thread"\nargs = ["{folder}"]\n'
    )
    if shell:
        text += '\n[[job]]\nname = "sleeper"\nshell = "echo $$ > sleeper.pid; exec sleep 600"\n'
    deck.write_text(text)
    return deck


def started(folder: Path, *, shell: bool = True) -> bool:
    return file_size(folder / "stuck.started") > 0 and (not shell or file_size(folder / "sleeper.pid") > 0)


def wait_running(terminal: Terminal, folder: Path, *, shell: bool = True) -> None:
    """Until the jobs run and the dashboard shows them (a `q` before that would find nothing to ask about)."""
    terminal.read_until(
        lambda: started(folder, shell=shell) and b"stuck" in terminal.output, what="the jobs running, on screen"
    )


def answer_quit_with_yes(terminal: Terminal) -> None:
    terminal.write(b"q")
    terminal.read_until(lambda: b"not finished" in terminal.output, what="the quit question")
    terminal.write(b"y")
    terminal.read_until(lambda: b"cancelling" in terminal.output, what="the stop waiting for the stuck job")


def shown_text(widget: Static) -> str:
    """What a Static shows, as plain text (its content may be any Rich renderable)."""
    console = Console(width=200, color_system=None)
    with console.capture() as capture:
        console.print(widget.content)
    return capture.get()


def server_note(place: Place, job_id: str) -> str | None:
    """The job's note as the server has it, asked on a connection of the test's own."""

    async def ask() -> str | None:
        async with await Client.connect(place.socket) as client:
            snapshot = await client.request("snapshot", since=0)
        return next(job.get("note") for job in snapshot["jobs"] if job["id"] == job_id)

    return anyio.run(ask)


def ended(terminal: Terminal) -> int:
    """The exit status, once the process has ended; its terminal is read meanwhile unless it was hung up."""
    if terminal.hung_up:
        return terminal.process.wait(timeout=ENDS_WITHIN_S)
    return terminal.read_to_end(timeout=ENDS_WITHIN_S)


@pytest.mark.parametrize("how", ["hang-up", "SIGHUP", "SIGTERM"])
def test_a_dashboard_waiting_on_a_stuck_job_ends_when_its_terminal_goes(how: str, tmp_path: Path) -> None:
    """`q`, `y`, then the terminal closes (or the system sends SIGHUP or SIGTERM) while a thread job that never
    reaches a checkpoint holds the stop: the process ends all the same, and leaves no process behind."""
    deck = stuck_deck(tmp_path)
    with in_terminal(CONSOLE_SCRIPT, "--local", deck, cwd=tmp_path) as terminal:
        wait_running(terminal, tmp_path)
        sleeper = int((tmp_path / "sleeper.pid").read_text())
        answer_quit_with_yes(terminal)
        if how == "hang-up":
            terminal.hang_up()
        else:
            terminal.process.send_signal(getattr(signal, how))
        ended(terminal)
        if how == "SIGTERM":  # the terminal stayed: it is given back, and told what happened
            after = terminal.text.rpartition("\x1b[?1049l")[2]
            assert "jobdeck: got SIGTERM: stopped 1 job (1 running); quit without waiting for stuck" in after
    wait_until(lambda: not process_alive(sleeper), what="the shell job ended with the dashboard")


def test_a_dashboard_whose_terminal_closes_while_it_runs_ends(tmp_path: Path) -> None:
    """No `q` at all: the terminal closes under a running dashboard (no SIGHUP: it is not the controlling
    terminal here, so only the failing reads and writes tell). The process ends, the stuck job with it."""
    deck = stuck_deck(tmp_path)
    with in_terminal(CONSOLE_SCRIPT, "--local", deck, cwd=tmp_path) as terminal:
        wait_running(terminal, tmp_path)
        sleeper = int((tmp_path / "sleeper.pid").read_text())
        terminal.hang_up()
        ended(terminal)
    wait_until(lambda: not process_alive(sleeper), what="the shell job ended with the dashboard")


def test_an_attached_dashboard_stopping_the_server_ends_when_its_terminal_goes(place: Place) -> None:
    deck = stuck_deck(place.root, shell=False)
    environment = os.environ | {"JOBDECK_SOCKET": str(place.socket)}
    # A server of the test's own, whose waits are shorter than the default 10 s and 20 s the test would wait out.
    server = start_server(place, "--stop-wait", "1", "--exit-deadline", "3")
    with in_terminal(CONSOLE_SCRIPT, deck, cwd=place.root, env=environment) as terminal:
        wait_running(terminal, place.root, shell=False)
        terminal.write(b"q")
        terminal.read_until(lambda: b"not finished" in terminal.output, what="the quit question")
        terminal.write(b"y")
        wait_until(lambda: "cancelling" in (server_note(place, "leaving/stuck") or ""), what="the server stopping")
        terminal.hang_up()
        ended(terminal)
    # The stop it asked for goes on without it: the server waits for the stuck job, then ends regardless.
    wait_until(lambda: server.poll() is not None, timeout=SERVER_ENDS_WITHIN_S + 10, what="the server ended")
    assert not servers_on(place.socket)


def test_quit_anyway_ends_a_stop_that_waits_on_a_stuck_job_and_says_what_it_left(tmp_path: Path) -> None:
    deck = stuck_deck(tmp_path)
    with in_terminal(CONSOLE_SCRIPT, "--local", deck, cwd=tmp_path) as terminal:
        wait_running(terminal, tmp_path)
        answer_quit_with_yes(terminal)
        terminal.read_until(lambda: b"quit anyway" in terminal.output, what="the offer to quit without waiting")
        terminal.write(b"a")
        assert ended(terminal) == 0
    after = terminal.text.rpartition("\x1b[?1049l")[2]  # what is printed once the screen is given back
    assert "jobdeck: stopped 1 job (1 running); quit without waiting for stuck: it ended with jobdeck" in after
    assert "stuck: thread jobs cannot be interrupted" in after


def test_q_y_says_what_it_stopped(tmp_path: Path) -> None:
    (tmp_path / "two.toml").write_text(
        '[deck]\nname = "two"\nshell_limit = 1\n\n'
        '[[job]]\nname = "first"\nshell = "echo $$ > first.pid; exec sleep 600"\n\n'
        '[[job]]\nname = "second"\nshell = "sleep 600"\n'
    )
    with in_terminal(CONSOLE_SCRIPT, "--local", "two.toml", cwd=tmp_path) as terminal:
        terminal.read_until(lambda: file_size(tmp_path / "first.pid") > 0, what="the first job running")
        terminal.write(b"q")
        terminal.read_until(lambda: b"not finished" in terminal.output, what="the quit question")
        terminal.write(b"y")
        assert ended(terminal) == 0
    after = terminal.text.rpartition("\x1b[?1049l")[2]
    assert "jobdeck: stopped 2 jobs (1 running, 1 queued); nothing is left running." in after


@pytest.mark.anyio
async def test_the_stop_shows_what_it_waits_for_and_offers_to_quit_anyway(tmp_path: Path) -> None:
    app = JobdeckApp([load_deck(stuck_deck(tmp_path))], engine_factory=lambda: Engine(grace_period=0.1))
    async with app.run_test(size=(100, 30)) as pilot:
        try:
            await until(pilot, lambda: started(tmp_path), what="both jobs running")
            await pilot.press("q", "y")
            await until(
                pilot,
                lambda: isinstance(app.screen, StoppingScreen) and app.screen.query("#title"),
                what="the stop shows what it waits for",
            )
            dialog = app.screen
            assert isinstance(dialog, StoppingScreen)
            await until(pilot, lambda: "Stopping 1 job" in str(dialog.query_one("#title").render()))
            shown = shown_text(dialog.query_one("#still", Static)).split()
            assert shown == ["stuck", "cancelling:", *THREAD_NOTE.split()]
            assert dialog.check_action("quit_anyway", ()) is False  # not at once: most stops take a moment
            await until(pilot, lambda: dialog.offered, what="quit anyway offered")
            assert "quit anyway" in str(dialog.query_one("#choice").render())
            await pilot.press("a")
            await until(pilot, lambda: not app.is_running, what="quit without waiting")
            assert app.engine is not None and app.engine.jobs["leaving/sleeper"].state is JobState.CANCELLED
            assert app.farewell[0].startswith("jobdeck: stopped 1 job (1 running); quit without waiting for stuck")
        finally:
            (tmp_path / "release").write_text("1")  # the app's own end waits for the job: let it end
