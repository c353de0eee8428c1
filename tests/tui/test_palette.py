"""The command palette (ctrl+p): each dashboard command once, and a screenshot saved where jobdeck was started."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import OptionList

from runner.deck.parser import load_deck
from tests.helpers import until
from tui.app import JobdeckApp

pytestmark = pytest.mark.anyio

DECK = '[deck]\nname = "work"\n\n[[job]]\nname = "long"\nshell = "exec sleep 60"\n'


def deck_app(tmp_path: Path) -> JobdeckApp:
    path = tmp_path / "work.toml"
    path.write_text(DECK)
    return JobdeckApp([load_deck(path)], start_dir=tmp_path)


def highlighted(app: JobdeckApp) -> str:
    """The palette's highlighted command, as shown (the palette searches in a worker)."""
    options = app.screen.query_one(OptionList)
    option = options.highlighted_option
    return str(option.prompt) if option is not None else ""


def notifications(app: JobdeckApp) -> list[str]:
    return [notification.message for notification in app._notifications]


async def test_the_palette_lists_each_command_once_with_history_and_no_detach_in_process(tmp_path: Path) -> None:
    app = deck_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles)), titles
        assert "Keys" in titles and "History" in titles and "Screenshot" in titles
        assert "Detach" not in titles  # only when attached to a server
        await app.stop_engine()


async def test_screenshot_from_the_palette_is_saved_in_the_start_folder_and_says_where(tmp_path: Path) -> None:
    app = deck_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"screenshot")
        await until(pilot, lambda: highlighted(app).startswith("Screenshot"), what="the command found")
        await pilot.press("enter")
        await until(pilot, lambda: list(tmp_path.glob("jobdeck-*.svg")), what="a screenshot file")
        (saved,) = tmp_path.glob("jobdeck-*.svg")
        await until(pilot, lambda: any(str(saved) in message for message in notifications(app)))
        assert "<svg" in saved.read_text() and "long" in saved.read_text()  # the panes, not the palette
        assert not any("Failed" in message for message in notifications(app))
        await app.stop_engine()


async def test_two_screenshots_in_one_second_are_two_files(tmp_path: Path) -> None:
    app = deck_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        app.action_save_screenshot()
        app.action_save_screenshot()
        await until(pilot, lambda: len(list(tmp_path.glob("jobdeck-*.svg"))) == 2, what="two screenshot files")
        await app.stop_engine()
