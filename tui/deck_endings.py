"""Telling the person at the terminal that a deck with `notify = true` has finished: the bell, and a desktop
notification through the terminal emulator (OSC 9, as iTerm2, kitty, WezTerm and Windows Terminal read it, and
OSC 777, as VTE terminals and urxvt do), which also crosses SSH. Each dashboard rings once per end of a deck,
and not for ends from before it started (attaching to a deck that finished yesterday rings nothing)."""

from __future__ import annotations

from collections.abc import Mapping

from runner.policies import DeckEnding

TITLE = "jobdeck"
TEXT_CHARS = 200


def notification_sequences(title: str, body: str) -> str:
    """The bell, then OSC 9 (`ESC ] 9 ; text BEL`) and OSC 777 (`ESC ] 777 ; notify ; title ; body BEL`)."""
    title, body = _plain(title), _plain(body)
    return f"\a\x1b]9;{title}: {body}\a\x1b]777;notify;{title.replace(';', ',')};{body}\a"


def _plain(text: str) -> str:
    """Without control characters (an ESC or BEL in a deck's name would end the sequence early), short."""
    return "".join(char if char.isprintable() else " " for char in text)[:TEXT_CHARS]


class EndingWatch:
    """Which deck endings are news to this dashboard."""

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self._told: dict[str, int] = {}

    def news(self, endings: Mapping[str, DeckEnding]) -> list[DeckEnding]:
        """The endings not told yet that happened since the dashboard started, each once."""
        fresh = []
        for deck, ending in endings.items():
            if self._told.get(deck, 0) >= ending.count:
                continue
            self._told[deck] = ending.count
            if ending.at >= self.started_at:
                fresh.append(ending)
        return fresh
