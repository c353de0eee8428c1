"""jobdeck's engine: job files in, jobs run concurrently, commands and events for whoever watches.

Kept light on purpose: process workers import this package, so the heavier parts load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.context import JobContext, job_context
from runner.errors import CommandError, DeckError, JobError, Problem
from runner.model import Attempt, Deck, Job, JobSpec, JobState, Kind, Settings

if TYPE_CHECKING:
    from runner.deck import load_deck
    from runner.engine import Engine

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

_LAZY = {"Engine": "runner.engine", "load_deck": "runner.deck"}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
