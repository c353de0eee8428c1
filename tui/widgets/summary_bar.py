"""The dashboard's header: one line of parts (decks, counts, rate, ETA, notices) that gives up room in order.

Each part comes in forms, longest first. When the line is wider than the terminal, the part with the lowest
priority that still has a shorter form takes it, one step at a time, until the line fits: the state words
go before the rate, the rate before the ETA, and a notice such as "dispatching paused" only gets shorter, so
what needs the reader's action stays in sight at 80 columns. The line is fitted again at each resize.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.visual import VisualType
from textual.widgets import Static

SEPARATOR = " │ "


@dataclass(frozen=True)
class SummaryPart:
    forms: tuple[str, ...]
    """Console markup, longest first; an empty last form lets the part go altogether."""
    priority: int = 5
    """Lower gives up room first."""


def _cells(markup: str) -> int:
    return Text.from_markup(markup).cell_len


def fit_parts(parts: Sequence[SummaryPart], width: int) -> str:
    """The parts joined as one line, shortened in priority order until it is at most `width` cells (if it can
    be: a part's last form stays even when the line is still too wide). No width yet (0): the longest forms."""
    chosen = [0] * len(parts)

    def line() -> str:
        return SEPARATOR.join(form for part, index in zip(parts, chosen, strict=True) if (form := part.forms[index]))

    while width > 0 and _cells(line()) > width:
        shrinkable = [i for i, part in enumerate(parts) if chosen[i] < len(part.forms) - 1]
        if not shrinkable:
            break
        chosen[min(shrinkable, key=lambda i: parts[i].priority)] += 1
    return line()


class SummaryBar(Static):
    """A Static whose `show_parts` fits its parts to its width, and fits them again when the width changes;
    `update` still shows any text as it is (until the next `show_parts`)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._parts: tuple[SummaryPart, ...] = ()

    def show_parts(self, parts: Sequence[SummaryPart]) -> None:
        parts = tuple(parts)
        if parts == self._parts:
            return  # the same line: no redraw (the dashboard shows its header several times a second)
        self._parts = parts
        # No layout: the bar is one line whatever it says (app.tcss), and a layout redraws the whole screen.
        super().update(fit_parts(self._parts, self.content_size.width), layout=False)

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        self._parts = ()
        super().update(content, layout=layout)

    def on_resize(self) -> None:
        if self._parts:
            super().update(fit_parts(self._parts, self.content_size.width))
