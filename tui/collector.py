"""Fewer full garbage collections while the dashboard runs.

Drawing makes many short-lived objects (Textual's strips and segments, each with caches of its own), so the
collector's youngest generation fills several times a frame; every tenth collection of the middle one, Python
also looks at every long-lived object. With 10,000 jobs mirrored that took 40-80 ms, seven times in 20 s at a
thousand state changes a second: a key pressed meanwhile waited for it (bench/bench_push.py, key latency worst
131 ms, against 75-79 ms with full collections ten times rarer). Cyclic garbage is still found, later.
"""

from __future__ import annotations

import gc

MIDDLE_COLLECTIONS_PER_FULL = 100
"""Python's default is 10."""


class FewerFullCollections:
    def __init__(self) -> None:
        self._before: tuple[int, int, int] | None = None

    def start(self) -> None:
        if self._before is None:
            self._before = gc.get_threshold()
            youngest, middle, oldest = self._before
            gc.set_threshold(youngest, middle, max(oldest, MIDDLE_COLLECTIONS_PER_FULL))

    def stop(self) -> None:
        if self._before is not None:
            gc.set_threshold(*self._before)
            self._before = None
