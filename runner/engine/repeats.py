"""A job file submitted again while an earlier load of it is still at work: refused unless asked for.

Two loads are the same work when they come from the same file (its resolved path) and read to the same jobs
and settings (the same text, with `${VAR}`s expanded to the same values): a second `jobdeck submit x.toml`
would otherwise run every job twice. A deck whose earlier copy has finished, or one loaded with `again`,
is loaded under a new name (the engine's `x#2`), and the reply names the earlier deck.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from runner.errors import DeckAlreadyLoaded
from runner.model import Deck

if TYPE_CHECKING:
    from runner.engine.engine import Engine

__all__ = ["DeckAlreadyLoaded", "earlier_copies", "repeated_deck", "unfinished_jobs"]


def earlier_copies(engine: Engine, deck: Deck) -> list[str]:
    """The names of the loaded decks read from the same file to the same jobs, oldest first."""
    path = _resolved(deck.path)
    return [
        name
        for name, loaded in engine.decks.items()
        if _resolved(loaded.path) == path and loaded.settings == deck.settings and loaded.jobs == deck.jobs
    ]


def unfinished_jobs(engine: Engine, deck: str) -> int:
    return sum(1 for job in engine.jobs_of(deck) if not job.state.finished)


def repeated_deck(engine: Engine, deck: Deck, *, again: bool) -> str | None:
    """The earlier deck this load repeats (None: none is loaded); DeckAlreadyLoaded when one of them is still
    at work, unless the load is meant to run it `again`."""
    copies = earlier_copies(engine, deck)
    for name in [] if again else copies:
        unfinished = unfinished_jobs(engine, name)
        if unfinished:
            raise DeckAlreadyLoaded(
                f"deck {name!r} from {deck.path} is already loaded with {unfinished} unfinished "
                f"job{'' if unfinished == 1 else 's'}; nothing was loaded. To run it a second time anyway: "
                f"jobdeck submit --again {deck.path}",
                deck=name,
                unfinished=unfinished,
            )
    return copies[-1] if copies else None


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(path)
