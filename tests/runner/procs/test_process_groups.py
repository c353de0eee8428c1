"""Every process group jobdeck ends is ended one way: SIGTERM (a stopped group is woken for it), then SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import anyio
import pytest

from runner.procs.process_groups import describe_exit, end_group, end_groups_blocking, exit_of, group_exists

POLITE = "sleep 60"
"""Leaves SIGTERM to its default action."""


def stubborn(ready: Path) -> str:
    """Ignores SIGTERM (only SIGKILL ends it); `ready` appears once it does."""
    return f"trap '' TERM; touch {ready}; while true; do sleep 0.05; done"


def start_group(command: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["/bin/sh", "-c", command], start_new_session=True)


def wait_for_file(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)


def test_a_stopped_group_ends_at_sigterm_without_waiting_out_the_grace_period() -> None:
    process = start_group(POLITE)
    try:
        os.killpg(process.pid, signal.SIGSTOP)
        started = time.monotonic()
        # A grace period far longer than a loaded machine's slowest end: waiting it out would show.
        end_groups_blocking([process.pid], grace_period=120)
        assert time.monotonic() - started < 60
        assert process.wait(timeout=5) == -signal.SIGTERM
    finally:
        process.kill()
        process.wait()


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    process = start_group(stubborn(ready))
    try:
        wait_for_file(ready)
        end_groups_blocking([process.pid], grace_period=0.3)
        assert process.wait(timeout=5) == -signal.SIGKILL
        assert not group_exists(process.pid)
    finally:
        process.kill()
        process.wait()


@pytest.mark.anyio
async def test_end_group_waits_for_the_whole_group_then_reaps_its_leader(tmp_path: Path) -> None:
    # The leader exits at SIGTERM, its background child ignores it: SIGKILL after the grace period ends it.
    ready = tmp_path / "ready"
    process = await anyio.open_process(["/bin/sh", "-c", f"({stubborn(ready)}) & wait"], start_new_session=True)
    try:
        with anyio.fail_after(10):
            while not ready.exists():
                await anyio.sleep(0.01)
        with anyio.fail_after(15):
            await end_group(process, grace_period=0.3)
        assert process.returncode is not None
        assert not group_exists(process.pid)
    finally:
        if process.returncode is None:
            process.kill()
        await process.aclose()


@pytest.mark.parametrize("status", [0, 3, 255, -9, -15, -200])
def test_exit_of_reads_back_what_describe_exit_says(status: int) -> None:
    code, signum = exit_of(describe_exit(status))
    assert (code, signum) == ((status, None) if status >= 0 else (None, -status))


def test_exit_of_other_texts_is_unknown() -> None:
    assert exit_of("cancelled") == exit_of(None) == exit_of("exited with status 3; and more") == (None, None)
