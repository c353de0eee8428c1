"""Giving memory back to the system after a large part of the server's objects were freed (forgotten decks)."""

from __future__ import annotations

import ctypes
import functools
import gc
from collections.abc import Callable


def release_freed_memory() -> None:
    """Collect cycles, then ask glibc's malloc to return free pages to the system (`malloc_trim`): malloc keeps
    freed heap for reuse, so without this the server's RSS would hardly shrink after forgetting (CPython's own
    arenas go back only once wholly free). Elsewhere than glibc this only collects."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library this process already uses
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    function: Callable[[int], int] = trim
    return function
