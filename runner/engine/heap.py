"""Giving freed memory back to the system once a large amount of it has been let go."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (musl, macOS): freed memory is returned as that libc does
        return None


_MALLOC_TRIM = _find_malloc_trim()


def give_back_freed_memory() -> None:
    """Return the C heap's free pages to the system (glibc keeps them otherwise): after a big deck has run,
    its load and journal buffers are freed but stayed in the server's resident memory (15 MiB of 100,000 jobs)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
