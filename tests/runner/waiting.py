"""Waiting helpers for engine tests: poll a condition with a deadline instead of sleeping blindly."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anyio

from runner.engine.engine import Engine
from runner.model import Job, JobState


async def wait_for(condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition") -> None:
    with anyio.fail_after(timeout, shield=False):
        while not condition():
            await anyio.sleep(0.01)


async def wait_state(engine: Engine, name: str, *states: JobState, timeout: float = 10.0) -> Job:
    job = engine.job(name)
    try:
        await wait_for(lambda: job.state in states, timeout=timeout)
    except TimeoutError:
        raise AssertionError(f"{name} is {job.state}, not {' or '.join(states)}; error: {job.error}") from None
    return job


async def file_size_after(path: Path, seconds: float) -> tuple[int, int]:
    """The file's size now and `seconds` later."""
    before = path.stat().st_size if path.exists() else 0
    await anyio.sleep(seconds)
    after = path.stat().st_size if path.exists() else 0
    return before, after


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return status != "Z"
