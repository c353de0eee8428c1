"""The dashboard's key bar on its own: greyed keys read dimmer than the others, and what it keeps when narrow."""

from __future__ import annotations

import pytest
from rich.color import Color as RichColor
from rich.style import Style
from textual.app import App, ComposeResult
from textual.color import Color

from tui.widgets.key_bar import KeyBar, KeyHint

pytestmark = pytest.mark.anyio


class KeyBarApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyBar(id="keys")


def styles_of(bar: KeyBar, *words: str) -> list[Style]:
    """The style each word is drawn with in the bar's line."""
    segments = list(bar.render_line(0))
    found = [next((segment.style for segment in segments if word in segment.text), None) for word in words]
    assert all(style is not None for style in found), f"not all of {words} in {[s.text for s in segments]}"
    return [style for style in found if style is not None]


def contrast(foreground: RichColor | None, background: RichColor | None) -> float:
    """How far a drawn text colour stands out from its background (0: not at all)."""
    assert foreground is not None and background is not None
    return abs(Color.from_rich_color(foreground).brightness - Color.from_rich_color(background).brightness)


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_a_greyed_key_stands_out_less_than_an_enabled_one(theme: str) -> None:
    app = KeyBarApp()
    async with app.run_test(size=(60, 3)) as pilot:
        app.theme = theme
        bar = app.query_one(KeyBar)
        bar.show_keys([KeyHint("p", "pause", True), KeyHint("r", "retry", False)])
        await pilot.pause()
        enabled, greyed = styles_of(bar, "pause", "retry")
        assert contrast(greyed.color, greyed.bgcolor) < contrast(enabled.color, enabled.bgcolor) * 0.75


async def test_the_bar_takes_the_colours_of_a_new_theme() -> None:
    app = KeyBarApp()
    async with app.run_test(size=(60, 3)) as pilot:
        app.theme = "textual-dark"
        bar = app.query_one(KeyBar)
        bar.show_keys([KeyHint("p", "pause", True), KeyHint("r", "retry", False)])
        await pilot.pause()
        app.theme = "textual-light"
        await pilot.pause()
        enabled, greyed = styles_of(bar, "pause", "retry")
        assert greyed.bgcolor == enabled.bgcolor
        assert contrast(greyed.color, greyed.bgcolor) < contrast(enabled.color, enabled.bgcolor) * 0.75
