"""jobdeck's engine: job files in, jobs run concurrently, commands and events for whoever watches.

Everything here loads on first use: process workers import this package, and each import they do not
need slows the start of every worker.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # as typing has it: the guardian process imports this package, and typing costs it ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from runner.context import JobContext, job_context
    from runner.deck.parser import load_deck
    from runner.engine.engine import Engine
    from runner.errors import CommandError, DeckError, JobError, Problem
    from runner.model import Attempt, Deck, Job, JobSpec, JobState, Kind, Settings

_HOMES = {
    "Attempt": "runner.model",
    "CommandError": "runner.errors",
    "Deck": "runner.model",
    "DeckError": "runner.errors",
    "Engine": "runner.engine.engine",
    "Job": "runner.model",
    "JobContext": "runner.context",
    "JobError": "runner.errors",
    "JobSpec": "runner.model",
    "JobState": "runner.model",
    "Kind": "runner.model",
    "Problem": "runner.errors",
    "Settings": "runner.model",
    "job_context": "runner.context",
    "load_deck": "runner.deck.parser",
}

__all__ = [
    "Attempt",
    "CommandError",
    "Deck",
    "DeckError",
    "Engine",
    "Job",
    "JobContext",
    "JobError",
    "JobSpec",
    "JobState",
    "Kind",
    "Problem",
    "Settings",
    "job_context",
    "load_deck",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
