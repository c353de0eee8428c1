"""Job functions for tests/runner/test_workers.py; they run inside worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from runner.context import job_context


def add(a: int, b: int, *, scale: int = 1) -> int:
    return (a + b) * scale


def whoami(delay: float = 0.0) -> int:
    time.sleep(delay)
    return os.getpid()


def _check(value: int) -> None:
    if value > 3:
        raise ValueError(f"value too large: {value}")


def fail(value: int) -> None:
    _check(value)


def exit_hard(status: int) -> None:
    os._exit(status)


def kill_self(signum: int) -> None:
    os.kill(os.getpid(), signum)


def segfault() -> None:
    import ctypes

    ctypes.string_at(0)


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def spawn_child_and_wait(pid_file: str) -> None:
    """Start a child process, record both pids, then block until killed."""
    child = _sleeper()
    Path(pid_file).write_text(f"{os.getpid()} {child.pid}")
    child.wait()


def spawn_child_and_return() -> int:
    """Leave a child process running in the worker's process group and return its pid."""
    return _sleeper().pid


def append_forever(path: str) -> None:
    with open(path, "ab", buffering=0) as file:
        while True:
            file.write(b"x")
            time.sleep(0.005)


def report_progress(steps: int) -> int:
    context = job_context()
    for step in range(1, steps + 1):
        context.progress(step, steps)
    return steps


def report_progress_then_sleep() -> None:
    """One update goes out at once; the next is held back by the throttle and must still arrive while asleep."""
    context = job_context()
    context.progress(1, 3)
    context.progress(2, 3)
    time.sleep(0.5)


def chatty() -> str:
    print("hello from the job")
    print("to stderr", file=sys.stderr)
    os.write(1, b"written to fd 1\n")
    print("no newline at the end", end="")
    return "done"


def big_result(size: int) -> bytes:
    return b"x" * size


def unpicklable() -> threading.Lock:
    return threading.Lock()


def _refuse_to_load() -> None:
    raise RuntimeError("this value only loads in the worker")


class LoadsOnlyInWorker:
    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_refuse_to_load, ())

    def __repr__(self) -> str:
        return "<LoadsOnlyInWorker>"


def loads_only_in_worker() -> LoadsOnlyInWorker:
    return LoadsOnlyInWorker()
