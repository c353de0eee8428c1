"""The dashboard's footer: one line of keys, those that do not apply to the selection greyed out.

Textual's Footer rebuilds a widget per key on every binding refresh (tens of milliseconds); under a
steady stream of job changes that refresh runs often, so this bar renders one line of text instead and
only when what it shows has changed. When the keys do not fit the width, the least important go first
(`KeyHint.priority`), so quit and help stay visible on a narrow terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import Static


@dataclass(frozen=True)
class KeyHint:
    key: str
    description: str
    enabled: bool
    priority: int = 5
    """Higher stays longer when the bar is too narrow for every key."""


class KeyBar(Static):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"key-bar--key", "key-bar--disabled"}

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    KeyBar > .key-bar--key { color: $footer-key-foreground; text-style: bold; }
    KeyBar > .key-bar--disabled { color: $text-disabled; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._shown: tuple[KeyHint, ...] = ()

    def show_keys(self, hints: Sequence[KeyHint]) -> None:
        """Show these keys; does nothing when they are what the bar already shows."""
        hints = tuple(hints)
        if hints == self._shown:
            return
        self._shown = hints
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _fitting(self) -> list[KeyHint]:
        """The hints that fit the width, in their order, dropping the lowest priorities first."""
        kept = list(self._shown)
        width = self.size.width
        if width <= 0:
            return kept
        for dropped in sorted(self._shown, key=lambda hint: hint.priority):
            if sum(len(hint.key) + len(hint.description) + 3 for hint in kept) <= width:
                break
            kept.remove(dropped)
        return kept

    def _draw(self) -> None:
        try:
            key_style = self.get_component_rich_style("key-bar--key", partial=True)
            disabled_style = self.get_component_rich_style("key-bar--disabled", partial=True)
        except KeyError:  # styles not ready: the bar is not mounted yet, or going away
            key_style, disabled_style = Style(bold=True), Style(dim=True)
        text = Text(no_wrap=True, overflow="ellipsis")
        for hint in self._fitting():
            if hint.enabled:
                text.append(f" {hint.key}", style=key_style)
                text.append(f" {hint.description} ")
            else:
                text.append(f" {hint.key} {hint.description} ", style=disabled_style)
        self.update(text)

    @property
    def plain(self) -> str:
        return " ".join(f"{hint.key} {hint.description}" for hint in self._shown)
