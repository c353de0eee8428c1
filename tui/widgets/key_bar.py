"""The dashboard's footer: one line of keys, those that do not apply to the selection greyed out.

Textual's Footer rebuilds a widget per key on every binding refresh (tens of milliseconds); under a
steady stream of job changes that refresh runs often, so this bar renders one line of text instead and
only when what it shows has changed.

When the keys do not fit the width, the bar first pairs keys that share a `group` ("p/P pause" for `p pause`
and `P pause all`), so an 80-column terminal still shows every key with a short word; only then do the least
important go (`KeyHint.priority`), so quit and help stay visible on a narrow terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget


@dataclass(frozen=True)
class KeyHint:
    key: str
    description: str
    enabled: bool
    priority: int = 5
    """Higher stays longer when the bar is too narrow for every key."""
    group: str = ""
    """Keys with the same group share one place ("p/P pause") when the bar is short of room; the group is
    also the word shown for them then."""


@dataclass(frozen=True)
class _Shown:
    """One place in the bar: a key, or a group of keys with one word."""

    hints: tuple[KeyHint, ...]
    description: str

    @property
    def width(self) -> int:
        keys = sum(len(hint.key) for hint in self.hints) + len(self.hints) - 1
        return keys + len(self.description) + 3  # " k description "

    @property
    def priority(self) -> int:
        return max(hint.priority for hint in self.hints)

    @property
    def enabled(self) -> bool:
        return any(hint.enabled for hint in self.hints)


def _single(hints: Sequence[KeyHint]) -> list[_Shown]:
    return [_Shown((hint,), hint.description) for hint in hints]


def _grouped(hints: Sequence[KeyHint]) -> list[_Shown]:
    """Each group at the place of its first key."""
    places: list[_Shown] = []
    at: dict[str, int] = {}
    for hint in hints:
        if hint.group and hint.group in at:
            place = places[at[hint.group]]
            places[at[hint.group]] = _Shown((*place.hints, hint), place.description)
            continue
        if hint.group:
            at[hint.group] = len(places)
        places.append(_Shown((hint,), hint.group or hint.description))
    return places


def fitting(hints: Sequence[KeyHint], width: int) -> list[_Shown]:
    """What the bar shows in `width` columns: every key on its own if that fits, else grouped, dropping the
    lowest priorities until the rest fits."""
    single = _single(hints)
    if width <= 0 or sum(place.width for place in single) <= width:
        return single
    kept = _grouped(hints)
    for dropped in sorted(kept, key=lambda place: place.priority):
        if sum(place.width for place in kept) <= width:
            break
        kept.remove(dropped)
    return kept


class KeyBar(Widget):
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
        super().__init__(id=id)
        self._shown: tuple[KeyHint, ...] = ()

    def show_keys(self, hints: Sequence[KeyHint]) -> None:
        """Show these keys; does nothing when they are what the bar already shows."""
        hints = tuple(hints)
        if hints == self._shown:
            return
        self._shown = hints
        self.refresh()

    def render(self) -> Text:
        # Drawn at each refresh, not kept: a new theme (or a resize) re-renders the bar with its colours.
        try:
            key_style = self.get_component_rich_style("key-bar--key", partial=True)
            # Not partial: `$text-disabled` is a translucent colour, which only becomes grey when blended over
            # the bar's background; on its own it is drawn opaque, brighter than the enabled keys.
            disabled_style = self.get_component_rich_style("key-bar--disabled")
        except KeyError:  # styles not ready: the bar is not mounted yet, or going away
            key_style, disabled_style = Style(bold=True), Style(dim=True)
        text = Text(" ", no_wrap=True, overflow="ellipsis")
        # No piece starts with a space (separate pieces do): SVG renderers (rsvg) move a leading space to the end.
        for number, place in enumerate(fitting(self._shown, self.size.width)):
            if number:
                text.append("  ", style=None if place.enabled else disabled_style)
            last = len(place.hints) - 1
            for index, hint in enumerate(place.hints):
                key = ("/" if index else "") + hint.key + (" " if index == last else "")
                text.append(key, style=key_style if hint.enabled else disabled_style)
            text.append(place.description, style=None if place.enabled else disabled_style)
        return text

    @property
    def plain(self) -> str:
        """Every key and its word, as when the bar is wide enough."""
        return " ".join(f"{hint.key} {hint.description}" for hint in self._shown)

    @property
    def shown_text(self) -> str:
        """What the bar shows at its present width, without styles."""
        return "  ".join(
            "/".join(hint.key for hint in place.hints) + f" {place.description}"
            for place in fitting(self._shown, self.size.width)
        )
