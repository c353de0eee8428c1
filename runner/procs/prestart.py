"""Starting worker processes for process call jobs, and starting them early.

A worker needs a second or so of a loaded machine's time to start Python and import its few modules; the job
waits for that unless the worker was started before. `jobdeck run` knows which workers its decks need as soon
as it has read them, well before its engine runs: `prestart_workers` starts them then, so that they start up
while jobdeck imports the rest of itself, and the first WorkerPool takes them over (`take_prestarted`).

A worker nobody took over ends with this process: at exit here, or on its own when it sees this process gone
(runner.procs.worker_main watches its pipe), so none is ever left behind.

This module imports nothing heavy: it runs before anyio or the engine are imported.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from runner.model import CallSpec, Deck, Kind
from runner.procs.process_groups import kill_group

_RUNNER_ROOT = str(Path(__file__).resolve().parents[2])
_prestarted: list[subprocess.Popen[bytes]] = []


def process_workers_wanted(deck: Deck) -> int:
    """How many workers the deck's process calls can use at once: its process jobs, up to its process_limit."""
    jobs = 0
    for job in deck.jobs:
        outline = job.outline
        if job.kind is Kind.CALL and isinstance(outline, CallSpec) and outline.on == "process":
            jobs += 1
    return min(jobs, deck.settings.process_limit)


def start_worker_process() -> subprocess.Popen[bytes]:
    """Start one worker (`python -m runner.procs.worker_main`) in its own session, with its three pipes."""
    return subprocess.Popen(
        # -P: no current folder on sys.path, where a package named `runner` would shadow ours.
        [sys.executable, "-P", "-m", "runner.procs.worker_main"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        start_new_session=True,
        env=python_child_environment(),
    )


def prestart_workers(decks: Iterable[Deck]) -> int:
    """Start, now, the workers the decks' process calls can use at once (the largest number any deck can use,
    as the pool keeps); returns how many were started. A worker that cannot be started is left to the pool,
    which reports it when a job needs it."""
    wanted = max((process_workers_wanted(deck) for deck in decks), default=0) - len(_prestarted)
    started = 0
    for _ in range(wanted):
        try:
            _prestarted.append(start_worker_process())
        except OSError:
            break
        started += 1
    if started and len(_prestarted) == started:
        atexit.register(_end_unclaimed)
    return started


def take_prestarted() -> subprocess.Popen[bytes] | None:
    """A worker started early and not taken yet (the oldest), or None."""
    return _prestarted.pop(0) if _prestarted else None


def _end_unclaimed() -> None:
    while _prestarted:
        process = _prestarted.pop()
        kill_group(process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=2)


def python_child_environment() -> dict[str, str]:
    """The parent's environment, with the folder holding the runner package first on PYTHONPATH."""
    env = dict(os.environ)
    paths = [_RUNNER_ROOT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env
