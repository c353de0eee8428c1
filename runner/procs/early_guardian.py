"""Starting the shell jobs' guardian (runner.procs.guardian) early, while `jobdeck run` is still starting up.

The guardian is a Python process of its own. Started when the first shell job starts, as it was, its start-up
(~0.1 s of a loaded machine's time, most of it waiting for a core) came after jobdeck's, and a short run then
waited for it again at the end, to say goodbye and reap it. `jobdeck run` knows as soon as it has read its decks
whether they have shell jobs: `start_early_guardian` starts the guardian then, so that it starts up while
jobdeck imports the rest of itself, and the first ShellKind takes it over (`take_early_guardian`). One nobody
took over is closed at exit, as the shell kind would have closed it.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterable

from runner.model import Deck, Kind
from runner.procs.guardian import GroupGuardian

_early: list[GroupGuardian] = []


def has_shell_jobs(decks: Iterable[Deck]) -> bool:
    return any(spec.kind is Kind.SHELL for deck in decks for spec in deck.jobs)


def start_early_guardian(decks: Iterable[Deck]) -> bool:
    """Start the guardian now if the decks have shell jobs; True if one was started. One that cannot be started
    is left to the shell kind, which starts its own when a job needs it (and reports what went wrong)."""
    if _early or not has_shell_jobs(decks):
        return False
    guardian = GroupGuardian()
    try:
        guardian.start()
    except OSError:
        return False
    _early.append(guardian)
    atexit.register(_close_unclaimed)
    return True


def take_early_guardian() -> GroupGuardian | None:
    """The guardian started early, if it was and nobody took it yet."""
    return _early.pop() if _early else None


def _close_unclaimed() -> None:
    while _early:
        _early.pop().close()
