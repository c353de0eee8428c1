"""Process groups of the jobs jobdeck starts: signal them, see whether anything is left, end them cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import anyio
from anyio.abc import Process


def signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def group_exists(group: int) -> bool:
    """True while a live (not zombie) process is left in the process group."""
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return _has_live_member(group)


def _has_live_member(group: int) -> bool:
    # Orphans that already exited stay zombies until init reaps them, which in a container may be late
    # or never; they count as gone. Without /proc, trust kill(0).
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(group) and fields[0] != "Z":
            return True
    return False


async def terminate_group(process: Process, grace_period: float) -> None:
    """SIGTERM the process group (waking it if stopped), then SIGKILL whatever is left after the grace period."""
    group = process.pid
    signal_group(group, signal.SIGTERM)
    signal_group(group, signal.SIGCONT)
    with anyio.move_on_after(grace_period):
        await process.wait()
        while group_exists(group):
            await anyio.sleep(0.02)
    signal_group(group, signal.SIGKILL)
    with anyio.move_on_after(5):
        await process.wait()


def describe_exit(status: int | None) -> str:
    """How a process ended, from its return code: "exited with status 3", "killed by signal 11 (SIGSEGV)"."""
    if status is None:
        return "exit status unknown"
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            return f"killed by signal {-status}"
        return f"killed by signal {-status} ({name})"
    return f"exited with status {status}"
