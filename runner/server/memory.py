"""Giving memory back to the system after a large part of the server's objects were freed (forgotten decks)."""

from __future__ import annotations

import gc

from runner.engine.heap import give_back_freed_memory


def release_freed_memory() -> None:
    """Collect cycles, then ask glibc's malloc to return free pages to the system (`malloc_trim`): malloc keeps
    freed heap for reuse, so without this the server's RSS would hardly shrink after forgetting (CPython's own
    arenas go back only once wholly free). Elsewhere than glibc this only collects."""
    gc.collect()
    give_back_freed_memory()
