"""No cyclic garbage collection while a `jobdeck` process starts up.

Starting up makes objects that nearly all live as long as the process: modules, classes, functions, the decks
read. Each collection meanwhile walks them all again and frees next to nothing: `jobdeck run` of a one-job deck
made some 55 young and 5 middle collections before its first job, ~20 ms of CPU on a loaded machine (~5% of the
run). `entry` pauses the collector; the command turns it back on once it has imported what it needs
(`started`). `jobdeck run` also moves what start-up made out of the collector's way (`gc.freeze`), so that the
collections its run sets off do not walk it either; the process ends with the run. Only the process's own
entry point pauses the collector: a caller of `main` (a test) keeps its collector as it is. A worker forked
meanwhile turns it on again (runner.procs.prestart), as a new interpreter has it.
"""

from __future__ import annotations

import gc

_paused = False


def pause_for_start_up() -> None:
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def started(*, freeze: bool = False) -> None:
    """Start-up is over: collections as usual (if the collector was paused for it); with `freeze`, without
    walking what start-up made."""
    global _paused
    if _paused:
        _paused = False
        if freeze:
            gc.freeze()
        gc.enable()
