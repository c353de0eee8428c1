"""Functions that the engine tests run as call jobs (copied beside each test's job file as `tasks.py`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from runner import job_context


def add(a: int, b: int, *, scale: int = 1) -> int:
    return (a + b) * scale


def identity(value: object) -> object:
    return value


def nothing(value: object) -> None:
    return None


def fail(message: str) -> None:
    raise ValueError(message)


def fail_unless_exists(path: str) -> str:
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} is not there yet")
    return "found"


def crash(status: int) -> None:
    os._exit(status)


def append_forever(path: str, pid_file: str = "") -> None:
    """Append a line to `path` every 20 ms until stopped; a process job that really runs."""
    if pid_file:
        Path(pid_file).write_text(str(os.getpid()))
    while True:
        with open(path, "a") as handle:
            handle.write("x\n")
        time.sleep(0.02)


def count_with_checkpoints(path: str, steps: int = 1_000_000) -> int:
    """Append to `path` and pass a checkpoint every 20 ms: a thread job that can be paused and cancelled."""
    context = job_context()
    for step in range(steps):
        with open(path, "a") as handle:
            handle.write("x\n")
        context.progress(step, steps)
        context.checkpoint()
        time.sleep(0.02)
    return steps


def report_progress(total: int) -> str:
    context = job_context()
    for done in range(total + 1):
        context.progress(done, total)
    print("all steps reported")
    return "done"


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def unpicklable() -> object:
    return lambda: None


def text_of(size: int) -> str:
    return "x" * size


def hold_until(folder: str, name: str) -> str:
    """Leave `started-NAME` in `folder`, wait for a file `go` there, then leave `done-NAME`: thread jobs that are
    all inside their function at once, and end together when the test says."""
    here = Path(folder)
    (here / f"started-{name}").touch()
    while not (here / "go").exists():
        time.sleep(0.005)
    (here / f"done-{name}").touch()
    return name
