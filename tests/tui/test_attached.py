"""The dashboard attached to a real jobdeck server process: steering its jobs, detaching, attaching again."""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from textual.pilot import Pilot

from runner.model import JobState
from runner.server.client import Client, ensure_server, stop_server
from runner.server.remote import RemoteEngine
from tests.conftest import Place
from tests.runner.waiting import process_alive
from tui.app import JobdeckApp
from tui.panes import Pane
from tui.screens.dialogs import QuitScreen
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


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    waited = 0.0
    while not condition():
        if waited > timeout:
            raise AssertionError(f"not reached in time: {what}")
        await pilot.pause(0.05)
        waited += 0.05


async def grows(path: Path, seconds: float = 0.4) -> bool:
    before = path.stat().st_size if path.exists() else 0
    await anyio.sleep(seconds)
    return (path.stat().st_size if path.exists() else 0) > before


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
        await pilot.press("p")
        await until(pilot, lambda: app.selected_job.state is JobState.PAUSED, what="paused on screen")
        assert await server_state(place, "grow/writer") == "paused"
        assert not await grows(grown)
        await pilot.press("p")
        await until(pilot, lambda: app.selected_job.state is JobState.RUNNING, what="resumed")
        assert await grows(grown)
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        detail = app.screen
        await until(pilot, lambda: detail.job.spec.lines is not None, what="spec lines fetched for the detail")
        assert dict(detail.job.spec.lines)["command"].startswith("echo $$")
        await pilot.press("escape")
        await pilot.press("d")
        await until(pilot, lambda: not app.is_running, what="detached")
    assert app.detached
    assert await grows(grown), "the job stops when the dashboard detaches"
    assert await server_state(place, "grow/writer") == "running"

    async with attached(place) as (app, pilot):
        await until(pilot, lambda: app.model.count(Pane.RUNNING) == 1, what="the running job, seen again")
        writer_pid = int((place.root / "writer.pid").read_text())
        await pilot.press("c")
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 1, what="cancelled")
        assert await server_state(place, "grow/writer") == "cancelled"
        assert not process_alive(writer_pid)
        assert not await grows(grown)


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
        await anyio.sleep(0.2)  # the journal commits within 50 ms
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        await until(pilot, lambda: len(app.screen.runs) == 1, what="the run listed")
        assert app.screen.runs[0].name == "quick" and app.screen.runs[0].counts == {"succeeded": 1}
        await pilot.press("r")
        await until(pilot, lambda: len(app.engine.decks) == 2, what="loaded again")
        assert sorted(app.engine.decks) == ["quick", "quick#2"]
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 2, what="ran again")
        assert app.engine.counts()[JobState.SUCCEEDED] == 2


def test_a_closed_terminal_detaches_and_the_server_job_goes_on(place: Place) -> None:
    """SIGHUP to a real `jobdeck FILE` in a pseudo-terminal: a detach. The server started for it runs on."""
    deck, grown = growing_deck(place)
    main_side, process = jobdeck_in_terminal(place, str(deck))
    try:
        drain_until(main_side, lambda: grown.exists() and grown.stat().st_size > 0)
        process.send_signal(signal.SIGHUP)
        drain_until(main_side, lambda: process.poll() is not None)
        assert process.returncode == 0
        size = grown.stat().st_size
        time.sleep(0.4)
        assert grown.stat().st_size > size, "the job should go on in the server"
        assert place.socket.exists()
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main_side)

    # `jobdeck attach` from another process finds the job still running; d detaches again.
    main_side, process = jobdeck_in_terminal(place, "attach")
    screen = bytearray()
    try:
        drain_until(main_side, lambda: b"writer" in screen, into=screen)
        os.write(main_side, b"d")
        drain_until(main_side, lambda: process.poll() is not None, into=screen)
        assert process.returncode == 0
        assert b"detached; 1 job goes on in the server" in screen
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main_side)


def jobdeck_in_terminal(place: Place, *arguments: str) -> tuple[int, subprocess.Popen[bytes]]:
    """A real `jobdeck ...` in a pseudo-terminal of its own, using the test's server; (terminal, process)."""
    main_side, terminal_side = pty.openpty()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("jobdeck")), *arguments],
        stdin=terminal_side,
        stdout=terminal_side,
        stderr=terminal_side,
        cwd=place.root,
        start_new_session=True,
        env={
            **os.environ,
            "TERM": "xterm-256color",
            "COLUMNS": "100",
            "LINES": "30",
            "JOBDECK_SOCKET": str(place.socket),
        },
    )
    os.close(terminal_side)
    return main_side, process


def drain_until(
    terminal: int, condition: Callable[[], bool], timeout: float = 15.0, into: bytearray | None = None
) -> None:
    """Read the terminal (it must not fill up) until the condition holds, keeping what was read in `into`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        with contextlib.suppress(OSError):
            output = os.read(terminal, 65536)
            if into is not None:
                into.extend(output)
        time.sleep(0.05)


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


async def test_a_server_that_goes_away_is_said_and_q_just_leaves(place: Place) -> None:
    await (await ensure_server(place.socket, log_path=place.log)).close()
    deck, _ = growing_deck(place)
    async with attached(place, deck) as (app, pilot):
        await until(pilot, lambda: app.model.count(Pane.RUNNING) == 1, what="running")
        await anyio.to_thread.run_sync(stop_server, place.socket)  # another client stops it
        await until(pilot, lambda: "server gone" in str(app.query_one("#summary").render()), what="said")
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, what="left without asking")
