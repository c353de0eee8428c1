"""The dashboard and a deck's policies: the header says why dispatching stopped, R lifts a halt, and a deck with
`notify = true` rings the bell and sends OSC 9 / OSC 777 notifications on a real terminal when it finishes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from textual.pilot import Pilot

from runner.deck.parser import load_deck
from runner.model import JobState
from tests.conftest import Place
from tests.helpers import CONSOLE_SCRIPT, in_terminal, until
from tui.app import JobdeckApp
from tui.deck_endings import notification_sequences

pytestmark = pytest.mark.anyio

HALTING = """
[deck]
name = "nightly"
halt = "fail=1"
shell_limit = 1

[[job]]
name = "bad"
shell = "test -f fixed"

[[job]]
name = "later"
shell = "true"
"""


def header(app: JobdeckApp) -> str:
    return str(app.query_one("#summary").render())


async def test_the_header_says_why_dispatching_stopped_and_r_lifts_the_halt(tmp_path: Path) -> None:
    path = tmp_path / "nightly.toml"
    path.write_text(HALTING)
    app = JobdeckApp([load_deck(path)], start_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "halted: 1 job failed: R retries" in header(app), what="the halt in the header")
        assert app.engine is not None
        assert app.engine.jobs["nightly/later"].error == "not run: halted: 1 job failed"
        (tmp_path / "fixed").touch()
        await pilot.press("R")
        await until(pilot, lambda: app.engine is not None and app.engine.counts()[JobState.SUCCEEDED] == 2)
        assert "halted" not in header(app)
        await app.stop_engine()


def test_a_finished_notify_deck_rings_and_notifies_through_an_attached_terminal(place: Place) -> None:
    path = place.root / "ping.toml"
    path.write_text('[deck]\nnotify = true\n\n[[job]]\nname = "one"\nshell = "true"\n')
    expected = notification_sequences("jobdeck", "ping finished: 1 succeeded").encode()
    assert expected == (
        b"\a\x1b]9;jobdeck: ping finished: 1 succeeded\a\x1b]777;notify;jobdeck;ping finished: 1 succeeded\a"
    )
    env = os.environ | {"JOBDECK_SOCKET": str(place.socket), "JOBDECK_DB": str(place.root / "journal.db")}
    with in_terminal(CONSOLE_SCRIPT, path, cwd=place.root, env=env) as terminal:  # attached to a server it starts
        terminal.read_until(lambda: b"\x1b]777;" in terminal.output, what="the OSC 777 notification")
        terminal.read_until(lambda: expected in terminal.output, what="the whole notification")
        terminal.write(b"q")
        assert terminal.read_to_end() == 0
    assert len(re.findall(rb"\x1b\]9;", terminal.output)) == 1  # once per end of the deck


def test_notification_text_cannot_end_its_sequence_early() -> None:
    sequences = notification_sequences("job;deck", "bad\x1b]name\a here")
    assert sequences == "\a\x1b]9;job;deck: bad ]name  here\a\x1b]777;notify;job,deck;bad ]name  here\a"


def test_a_halted_deck_at_80_columns(snap_compare: object, tmp_path: Path) -> None:
    """The header's notice says why nothing starts and what lifts it; the skipped rows say why they did not run."""
    path = tmp_path / "nightly.toml"
    path.write_text(HALTING + '\n[[job]]\nname = "cleanup"\nshell = "true"\nrun_if = "failure"\nafter = ["bad"]\n')
    app = JobdeckApp([load_deck(path)], start_dir=tmp_path, clock=lambda: 1_790_000_000.0)

    async def halted(pilot: Pilot) -> None:
        engine = app.engine
        await until(pilot, lambda: engine is not None and "halted" in header(app) and engine.settled)
        assert engine is not None
        for job in engine.jobs.values():
            for attempt in job.attempts:
                attempt.started_at, attempt.ended_at, attempt.active_s = 1_789_999_990.0, 1_789_999_990.5, 0.5
            engine.revision += 1  # type: ignore[misc]
            job.revision = engine.revision  # type: ignore[misc]
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=halted)  # type: ignore[operator]
