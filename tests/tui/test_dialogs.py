"""The dashboard's small dialogs on their own: the key help."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.pilot import Pilot

from tui.screens.dialogs import HelpScreen

pytestmark = pytest.mark.anyio


class HelpApp(App[None]):
    async def on_mount(self) -> None:
        await self.push_screen(HelpScreen())


def screen_lines(pilot: Pilot) -> list[str]:
    """The text of every row of the terminal, as drawn."""
    return [strip.text for strip in pilot.app.screen._compositor.render_strips()]


def row_of(lines: list[str], text: str) -> int:
    return next(number for number, line in enumerate(lines) if text in line)


async def test_at_80x24_the_help_scrolls_to_its_last_key_and_always_says_how_to_close() -> None:
    app = HelpApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        lines = screen_lines(pilot)
        assert any("escape closes" in line for line in lines)
        assert not any("quit (asks first" in line for line in lines)  # below the fold at first
        await pilot.press(*"j" * 30)
        lines = screen_lines(pilot)
        assert any("quit (asks first" in line for line in lines)
        assert any("escape closes" in line for line in lines)
        await pilot.press("k", "k", "pageup", "home")
        assert any("tab / shift+tab" in line for line in screen_lines(pilot))
        await pilot.press("end")
        assert any("quit (asks first" in line for line in screen_lines(pilot))
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_a_long_description_wraps_under_itself_not_under_the_key() -> None:
    app = HelpApp()
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        lines = screen_lines(pilot)
        first = row_of(lines, "forget the selected job's deck")
        column = lines[first].index("forget")
        continued = lines[first + 1]
        assert continued[:column].strip("█ ") == ""  # nothing under the key
        assert continued[column] != " "  # the rest of the description, in its column
