"""The dashboard at 80 columns and while the terminal is resized: what stays in sight, and the "too small" message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot

from runner.deck.parser import load_deck
from tests.helpers import until
from tui.app import JobdeckApp
from tui.widgets.key_bar import KeyBar

pytestmark = pytest.mark.anyio

DECK = """
[deck]
name = "{name}"
shell_limit = 1

[[job]]
name = "sleeper"
shell = "exec sleep 60"

[[job]]
name = "quick"
shell = "true"
after = ["sleeper"]
"""

LONG_NAMES = ("nightly-website-mirror", "weekly-dataset-refresh", "archive-and-upload")


def write_decks(folder: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = folder / f"{name}.toml"
        path.write_text(DECK.format(name=name))
        paths.append(path)
    return paths


@asynccontextmanager
async def dashboard(paths: list[Path], size: tuple[int, int]) -> AsyncIterator[tuple[JobdeckApp, Pilot]]:
    app = JobdeckApp([load_deck(path) for path in paths], start_dir=paths[0].parent)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.engine is not None and len(app.engine.jobs) == 2 * len(paths))
        yield app, pilot
        if app.is_running:
            await app.stop_engine()


def key_line(app: JobdeckApp) -> str:
    return app.query_one(KeyBar).render_line(0).text


def header_line(app: JobdeckApp) -> str:
    return app.query_one("#summary").render_line(0).text


async def test_at_80_columns_the_key_bar_keeps_every_job_key(tmp_path: Path) -> None:
    async with dashboard(write_decks(tmp_path, "nightly"), size=(80, 24)) as (app, pilot):
        await until(pilot, lambda: "quit" in key_line(app))
        keys = key_line(app)
        for shown in ("⏎ detail", "p/P pause", "c cancel", "r/R retry", "h history", "? keys", "q quit"):
            assert shown in keys
        assert len(keys.rstrip()) <= 80


async def test_a_wide_key_bar_names_each_key_on_its_own(tmp_path: Path) -> None:
    async with dashboard(write_decks(tmp_path, "nightly"), size=(120, 40)) as (app, pilot):
        await until(pilot, lambda: "quit" in key_line(app))
        keys = key_line(app)
        for shown in ("p pause", "P pause all", "r retry", "R retry failed", "o open", "/ filter"):
            assert shown in keys


async def test_at_80_columns_the_header_keeps_counts_eta_and_the_paused_notice(tmp_path: Path) -> None:
    async with dashboard(write_decks(tmp_path, *LONG_NAMES), size=(80, 24)) as (app, pilot):
        await until(pilot, lambda: "▶ 3" in header_line(app))
        await pilot.press("P")
        await until(pilot, lambda: "P resumes" in header_line(app))
        header = header_line(app)
        assert "3 decks" in header and "▶ 3" in header and "· 3" in header and "ETA" in header
        assert "paused: P resumes" in header
        assert "…" not in header


async def test_a_wide_header_spells_out_the_decks_and_states(tmp_path: Path) -> None:
    async with dashboard(write_decks(tmp_path, *LONG_NAMES), size=(160, 40)) as (app, pilot):
        await until(pilot, lambda: "▶ 3" in header_line(app))
        header = header_line(app)
        assert ", ".join(LONG_NAMES) in header and "▶ 3 running" in header


async def test_the_header_is_fitted_again_when_the_terminal_narrows(tmp_path: Path) -> None:
    async with dashboard(write_decks(tmp_path, *LONG_NAMES), size=(160, 40)) as (app, pilot):
        await until(pilot, lambda: "▶ 3 running" in header_line(app))
        await app.engine.pause_all()  # type: ignore[union-attr]
        await until(pilot, lambda: "dispatching paused" in header_line(app))
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: "3 decks" in header_line(app) and "P resumes" in header_line(app))


async def test_the_too_small_message_follows_each_resize_at_once(tmp_path: Path) -> None:
    async with dashboard(write_decks(tmp_path, "nightly"), size=(100, 30)) as (app, pilot):
        too_small, panes = app.query_one("#too-small"), app.query_one("#panes")
        assert panes.display and not too_small.display
        await pilot.resize_terminal(58, 13)
        await pilot.pause()
        assert too_small.display and not panes.display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert panes.display and not too_small.display
        await pilot.resize_terminal(80, 13)
        await pilot.pause()
        assert too_small.display and not panes.display
