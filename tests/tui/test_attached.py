"""The dashboard attached to a real jobdeck server process: steering its jobs, detaching, attaching again."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path

import anyio
import pytest
from textual.pilot import Pilot

from runner.errors import CommandError
from runner.model import JobState
from runner.server.client import Client, ensure_server, stop_server
from runner.server.remote import RemoteEngine
from tests.conftest import Place, servers_on
from tests.helpers import (
    CONSOLE_SCRIPT,
    Terminal,
    cancel_with_c,
    file_size,
    in_terminal,
    process_alive,
    until,
    wait_growth,
    wait_until,
)
from tui.app import JobdeckApp
from tui.panes import Pane
from tui.screens.dialogs import QuitScreen, ServerStoppedScreen
from tui.screens.history import HistoryScreen
from tui.screens.job_detail import JobDetailScreen

pytestmark = pytest.mark.anyio


def growing_deck(place: Place) -> tuple[Path, Path]:
    """A deck whose one job appends to a file until stopped, and writes its shell's pid first."""
    grown = place.root / "grown.txt"
    deck = place.root / "grow.toml"
    deck.write_text(
        '[deck]\nname = "grow"\n\n[[job]]\nname = "writer"\n'
        f'shell = "echo $$ > {place.root}/writer.pid; while true; do echo x >> {grown}; sleep 0.02; done"\n'
    )
    return deck, grown


async def stays_still(path: Path, seconds: float = 0.4) -> bool:
    """Nothing is written to the file for `seconds` (a stopped job; the interval is what is tested)."""
    before = file_size(path)
    await anyio.sleep(seconds)
    return file_size(path) == before


async def flush_journal(place: Place) -> None:
    """Have the server commit its journal now: it does before answering `status`."""
    async with await Client.connect(place.socket) as client:
        await client.request("status")


async def server_state(place: Place, job_id: str) -> str:
    async with await Client.connect(place.socket) as client:
        snapshot = await client.request("snapshot", since=0)
    return next(job["state"] for job in snapshot["jobs"] if job["id"] == job_id)


@asynccontextmanager
async def attached(place: Place, *files: Path) -> AsyncIterator[tuple[JobdeckApp, Pilot]]:
    app = JobdeckApp(files=list(files), engine_factory=lambda: RemoteEngine(place.socket))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None, what="attached")
        yield app, pilot


def selected_writer(app: JobdeckApp) -> bool:
    return app.selected_job is not None and app.selected_job.name == "writer"


async def test_steer_detach_and_attach_again_while_the_job_goes_on(place: Place) -> None:
    await (await ensure_server(place.socket, log_path=place.log)).close()
    deck, grown = growing_deck(place)

    async with attached(place, deck) as (app, pilot):
        await until(pilot, lambda: selected_writer(app) and app.selected_job.state is JobState.RUNNING, what="run")
        assert app.attached and "detach" in str(app.query_one("#keys").render())
        # Running is told before the shell has started (on a worker thread); paused before, it would run a
        # little once started, until it is stopped: after the reply, which now comes at once.
        await wait_growth(grown, what="the shell started")
        await pilot.press("p")
        await until(pilot, lambda: app.selected_job.state is JobState.PAUSED, what="paused on screen")
        assert await server_state(place, "grow/writer") == "paused"
        assert await stays_still(grown)
        await pilot.press("p")
        await until(pilot, lambda: app.selected_job.state is JobState.RUNNING, what="resumed")
        await wait_growth(grown, what="the job goes on once resumed")
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        detail = app.screen
        await until(pilot, lambda: detail.job.spec.lines is not None, what="spec lines fetched for the detail")
        assert dict(detail.job.spec.lines)["command"].startswith("echo $$")
        await pilot.press("escape")
        await pilot.press("d")
        await until(pilot, lambda: not app.is_running, what="detached")
    assert app.detached
    await wait_growth(grown, what="the job goes on after the dashboard detached")
    assert await server_state(place, "grow/writer") == "running"

    async with attached(place) as (app, pilot):
        await until(pilot, lambda: app.model.count(Pane.RUNNING) == 1, what="the running job, seen again")
        writer_pid = int((place.root / "writer.pid").read_text())
        await cancel_with_c(pilot, lambda: app.model.count(Pane.FINISHED) == 1)
        assert await server_state(place, "grow/writer") == "cancelled"
        assert not process_alive(writer_pid)
        assert await stays_still(grown)


async def test_quit_offers_detach_and_yes_stops_the_server(place: Place) -> None:
    await (await ensure_server(place.socket, log_path=place.log)).close()
    deck, _ = growing_deck(place)
    async with attached(place, deck) as (app, pilot):
        await until(pilot, lambda: app.model.count(Pane.RUNNING) == 1, what="running")
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        assert "detach" in str(app.screen.query_one(".keys").render())
        await pilot.press("n")
        assert not isinstance(app.screen, QuitScreen)
        writer_pid = int((place.root / "writer.pid").read_text())
        await pilot.press("q", "y")
        await until(pilot, lambda: not app.is_running, what="quit")
    assert not app.detached
    assert not place.socket.exists()
    assert not process_alive(writer_pid)


async def test_history_lists_earlier_runs_and_reruns_one(place: Place, tmp_path: Path) -> None:
    await (await ensure_server(place.socket, log_path=place.log)).close()
    deck = place.root / "quick.toml"
    deck.write_text('[deck]\nname = "quick"\n\n[[job]]\nname = "hello"\nshell = "echo hello"\n')
    async with attached(place, deck) as (app, pilot):
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 1, what="finished")
        await flush_journal(place)
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        await until(pilot, lambda: len(app.screen.runs) == 1, what="the run listed")
        assert app.screen.runs[0].name == "quick" and app.screen.runs[0].counts == {"succeeded": 1}
        await pilot.press("r")
        await until(pilot, lambda: len(app.engine.decks) == 2, what="loaded again")
        assert sorted(app.engine.decks) == ["quick", "quick#2"]
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 2, what="ran again")
        assert app.engine.counts()[JobState.SUCCEEDED] == 2


async def test_the_palette_offers_detach_when_attached(place: Place) -> None:
    await (await ensure_server(place.socket, log_path=place.log)).close()
    async with attached(place) as (app, pilot):
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert titles.count("Detach") == 1 and titles.count("History") == 1
        detach = next(command for command in app.get_system_commands(app.screen) if command.title == "Detach")
        await detach.callback()  # type: ignore[misc]
        await until(pilot, lambda: not app.is_running, what="detached")
    assert app.detached and place.socket.exists()


def test_a_closed_terminal_detaches_and_the_server_job_goes_on(place: Place) -> None:
    """SIGHUP to a real `jobdeck FILE` in a pseudo-terminal: a detach. The server started for it runs on."""
    deck, grown = growing_deck(place)
    with jobdeck_in_terminal(place, str(deck)) as terminal:
        terminal.read_until(lambda: file_size(grown) > 0, what="the job writing")
        terminal.process.send_signal(signal.SIGHUP)
        assert terminal.read_to_end() == 0, terminal.tail()
    size = file_size(grown)
    wait_until(lambda: file_size(grown) > size, what="the job going on in the server")
    assert place.socket.exists()

    # `jobdeck attach` from another process finds the job still running; d detaches again.
    with jobdeck_in_terminal(place, "attach") as terminal:
        terminal.read_until(lambda: b"writer" in terminal.output, what="the running job shown")
        terminal.write(b"d")
        assert terminal.read_to_end() == 0, terminal.tail()
        assert "detached; 1 job goes on in the server" in terminal.text


def jobdeck_in_terminal(place: Place, *arguments: str) -> AbstractContextManager[Terminal]:
    """A real `jobdeck ...` (the console script) in a pseudo-terminal of its own, using the test's server."""
    return in_terminal(
        CONSOLE_SCRIPT, *arguments, cwd=place.root, env=os.environ | {"JOBDECK_SOCKET": str(place.socket)}
    )


async def test_a_server_running_dask_jobs_shows_its_cluster_and_each_jobs_worker(place: Place) -> None:
    pytest.importorskip("distributed")
    (place.root / "ctasks.py").write_text(
        "import time\nfrom runner import job_context\n\n\ndef steps(total):\n"
        "    for done in range(1, total + 1):\n        job_context().progress(done, total)\n"
        "        time.sleep(0.05)\n    return total\n"
    )
    deck = place.root / "cluster.toml"
    deck.write_text(
        '[deck]\nname = "cluster"\ndask = "local"\nprocess_limit = 1\n\n'
        '[[job]]\nname = "steps"\ncall = "ctasks:steps"\non = "dask"\nargs = [60]\n'
    )
    await (await ensure_server(place.socket, log_path=place.log)).close()
    async with attached(place, deck) as (app, pilot):
        await until(
            pilot,
            lambda: selected_job_on_worker(app) and app.selected_job.progress is not None,
            timeout=60,
            what="the job running on a worker, with progress",
        )
        await until(
            pilot,
            lambda: "1 worker · 1 thread" in str(app.query_one("#summary").render()),
            what="the cluster in the header",
        )
        assert "dask local tcp://127.0.0.1:" in str(app.query_one("#summary").render())
        worker = app.selected_job.current_attempt.worker
        assert worker.startswith("tcp://127.0.0.1:")
        row = "".join(segment.text for segment in app.job_list(Pane.RUNNING).render_line(1))
        assert "on 127.0.0.1:" in row
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 1, timeout=30, what="finished")
        assert app.engine.jobs["cluster/steps"].result == 60


def selected_job_on_worker(app: JobdeckApp) -> bool:
    job = app.selected_job
    return job is not None and job.current_attempt is not None and job.current_attempt.worker is not None


async def test_a_server_stopped_by_another_client_is_said_and_q_leaves(place: Place) -> None:
    await (await ensure_server(place.socket, log_path=place.log)).close()
    deck, _ = growing_deck(place)
    async with attached(place, deck) as (app, pilot):
        await until(pilot, lambda: app.model.count(Pane.RUNNING) == 1, what="running")
        await anyio.to_thread.run_sync(stop_server, place.socket)  # another client's `q`, `y`
        await until(pilot, lambda: isinstance(app.screen, ServerStoppedScreen), what="said")
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, what="left")
    assert not app.detached
    assert app.farewell == ["jobdeck: the jobdeck server had stopped; `jobdeck attach` starts a new one."]


async def test_a_server_that_ends_freezes_the_dashboard_which_can_start_a_new_one(place: Place) -> None:
    """The server is killed under an attached dashboard: the panes stop where they were (no clock counts on a
    job nobody runs), the job keys are greyed, a command that races the loss is refused with a message, never a
    traceback; `s` starts a new server, which runs the interrupted job again, and the dashboard follows it."""
    await (await ensure_server(place.socket, log_path=place.log)).close()
    deck, _ = growing_deck(place)
    async with attached(place, deck) as (app, pilot):
        await until(pilot, lambda: selected_writer(app) and app.selected_job.state is JobState.RUNNING, what="run")
        (server,) = servers_on(place.socket)
        os.kill(server, signal.SIGKILL)
        await until(
            pilot,
            lambda: isinstance(app.screen, ServerStoppedScreen) and app.screen.query(".question"),
            what="the stopped server said",
        )
        assert "has stopped" in str(app.screen.query_one(".question").render())
        await pilot.press("escape")  # look at the last state
        row = app.job_list(Pane.RUNNING)
        shown = row.render_line(1).text
        assert "writer" in shown and "running" in shown
        await pilot.pause(1.5)  # the time column would move by then
        assert row.render_line(1).text == shown
        assert "server stopped" in str(app.query_one("#summary").render())
        for action in ("toggle_pause", "cancel_job", "toggle_dispatch", "open_deck", "history", "detach"):
            assert app.check_action(action, ()) is not True, f"{action} still enabled"
        await pilot.press("p", "c", "P")
        with pytest.raises(CommandError, match="the jobdeck server has stopped"):
            await app.engine.pause("grow/writer")  # as a key pressed just as the server went would
        assert app.is_running
        await pilot.press("q")
        assert isinstance(app.screen, ServerStoppedScreen)
        await pilot.press("s")
        await until(
            pilot,
            lambda: app.engine is not None and app.engine.lost is None and app.model.count(Pane.RUNNING) == 1,
            timeout=30,
            what="attached to a new server, running the interrupted job again",
        )
        assert app.selected_job is not None and app.selected_job.attempts[-1].number == 2
        await until(pilot, lambda: row.render_line(1).text != shown, what="the clock going again")
        assert app.check_action("toggle_pause", ()) is True
        assert "server stopped" not in str(app.query_one("#summary").render())
