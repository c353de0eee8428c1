"""The header's numbers on a real engine: the rate after `R`, the ETA of a download as it runs, and no ETA once the
server is gone."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from runner.deck.parser import load_deck
from runner.model import JobState
from runner.server.client import ensure_server
from runner.server.remote import RemoteEngine
from tests.conftest import Place
from tests.helpers import until
from tui.app import JobdeckApp

pytestmark = pytest.mark.anyio

RETRIED_DECK = """
[deck]
name = "again"

[[job]]
name = "once"
shell = "if [ -e tried ]; then exec sleep 60; fi; touch tried; exit 1"

[[job]]
name = "quick"
shell = "true"
"""


def header(app: JobdeckApp) -> str:
    return str(app.query_one("#summary").render())


def eta_shown(app: JobdeckApp) -> bool:
    text = header(app)
    return "ETA" in text and eta_seconds(text) is not None


def eta_seconds(text: str) -> float | None:
    """The header's ETA in seconds (`ETA 5.9s`, `ETA 42s`, `ETA 1:05`), None for `ETA –`."""
    found = re.search(r"ETA (\S+)", text)
    assert found is not None, text
    shown = found.group(1)
    if shown == "–":
        return None
    if ":" in shown:
        minutes, seconds = shown.split(":")
        return int(minutes) * 60 + int(seconds)
    return float(shown.removesuffix("s"))


async def test_the_rate_is_never_negative_after_retrying_failed_jobs(tmp_path: Path) -> None:
    """`R` puts a failed job back in the queue, so fewer jobs are finished than a while ago: the rate counted the
    change in that number and went negative (`-0.1/s`); it counts finishes and stays at or above zero."""
    path = tmp_path / "again.toml"
    path.write_text(RETRIED_DECK)
    now = [1_000.0]
    app = JobdeckApp([load_deck(path)], start_dir=tmp_path, clock=lambda: now[0])
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None and app.engine.counts()[JobState.FAILED] == 1)
        await until(pilot, lambda: app.engine is not None and app.engine.counts()[JobState.SUCCEEDED] == 1)
        await pilot.pause(0.3)  # a few pulls see both ends
        now[0] += 30  # half a minute later: both ends are well inside the rate's window, and older than 20 s
        await pilot.pause(0.3)
        await pilot.press("R")
        await until(pilot, lambda: app.engine is not None and app.engine.job("once").state is JobState.RUNNING)
        now[0] += 1
        await pilot.pause(0.3)
        shown = header(app)
        assert re.search(r"│ -\d", shown) is None, shown
        assert "3.9/min" in shown, shown  # two finishes in the 31 s since the dashboard started
        await app.stop_engine()


async def test_a_download_shows_an_eta_from_its_bytes(tmp_path: Path, server_url: str) -> None:
    """One download of 3 MB at about 300 kB/s and nothing finished yet: the old rate-of-finished-jobs ETA had nothing
    to go by; the download's own bytes give the time left."""
    path = tmp_path / "one.toml"
    path.write_text(f'[[job]]\nname = "big"\nfetch = "{server_url}/bytes/3000000?chunk=30000&delay=0.1"\n')
    app = JobdeckApp([load_deck(path)], start_dir=tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:

        def done_fraction() -> float:
            job = app.engine.job("big") if app.engine is not None else None
            fraction = job.progress.fraction if job is not None and job.progress is not None else None
            return fraction or 0.0

        await until(pilot, lambda: done_fraction() >= 0.4, timeout=60, what="40% downloaded")
        await pilot.pause(0.6)  # a fresh estimate
        assert app.engine is not None
        job = app.engine.job("big")
        attempt = job.current_attempt
        assert attempt is not None and job.progress is not None
        fraction = done_fraction()
        elapsed = attempt.active_seconds(app.clock())
        left = elapsed * (1 - fraction) / fraction
        shown = eta_seconds(header(app))
        assert shown is not None and 0.5 * left <= shown <= 2 * left, (shown, left, header(app))
        await app.stop_engine()


async def test_once_the_server_is_gone_there_is_no_eta(place: Place, server_url: str) -> None:
    """A download shows its ETA; then the server is killed: nothing more is known of the job, so the ETA does not
    count down as if it went on."""
    path = place.root / "one.toml"
    path.write_text(f'[[job]]\nname = "big"\nfetch = "{server_url}/bytes/6000000?chunk=30000&delay=0.1"\n')
    server = await ensure_server(place.socket, log_path=place.log, timeout=30)
    server_pid = server.server.pid
    await server.close()
    app = JobdeckApp(files=[path], engine_factory=lambda: RemoteEngine(place.socket))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: eta_shown(app), timeout=60, what="an ETA shown")
        os.kill(server_pid, signal.SIGKILL)
        await until(pilot, lambda: "server stopped" in header(app), timeout=30, what="the server said stopped")
        assert eta_seconds(header(app)) is None, header(app)
