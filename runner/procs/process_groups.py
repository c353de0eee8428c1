"""Process groups of the jobs jobdeck starts: signal them, see whether anything is left, end them.

Every group jobdeck ends is ended one way: SIGTERM (with SIGCONT, so a paused group can act on it), a grace
period while anything is left in the group, then SIGKILL. `end_group` does it in the event loop for a process
jobdeck started; `end_groups_blocking` does it for groups known only by id (the guardian, which has no event
loop). `kill_group` is for the groups whose processes need no warning (process workers).

Imports stay light (anyio only inside `end_group`): the guardian and the process workers import this module.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

TYPE_CHECKING = False  # as typing has it, without importing typing into the guardian process
if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import Protocol

    class Child(Protocol):
        """A process jobdeck started and waits for in the event loop (anyio's Process, or a GroupProcess)."""

        @property
        def pid(self) -> int: ...

        async def wait(self) -> int: ...


GROUP_POLL_S = 0.02
"""How often, during a grace period, to look whether anything is left in a group."""
REAP_TIMEOUT_S = 5.0
"""How long, after SIGKILL, to wait for the group's leader to be reaped."""


def signal_group(group: int, signum: int) -> None:
    """Send `signum` to every process of the group; a group that is gone (or not ours) is left alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def kill_group(group: int) -> None:
    signal_group(group, signal.SIGKILL)


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
    if not os.path.isdir("/proc"):
        return True
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(group) and fields[0] != "Z":
            return True
    return False


def _ask_to_end(group: int) -> None:
    signal_group(group, signal.SIGTERM)
    signal_group(group, signal.SIGCONT)  # a stopped process acts on SIGTERM only once it runs again


async def end_group(process: Child, grace_period: float) -> None:
    """End the process group `process` leads: SIGTERM, then SIGKILL to whatever is left after the grace
    period; returns once the leader is reaped and no member is left alive (or REAP_TIMEOUT_S after SIGKILL)."""
    import anyio

    group = process.pid
    _ask_to_end(group)
    with anyio.move_on_after(grace_period):
        await process.wait()
        while group_exists(group):
            await anyio.sleep(GROUP_POLL_S)
    kill_group(group)
    with anyio.move_on_after(REAP_TIMEOUT_S):
        await process.wait()
        while group_exists(group):  # SIGKILL is delivered to each member in its own time
            await anyio.sleep(GROUP_POLL_S)


def end_groups_blocking(groups: Collection[int], grace_period: float) -> None:
    """End these process groups as `end_group` does, blocking meanwhile; for a caller without an event loop.
    Returns once no member of them is alive (or REAP_TIMEOUT_S after SIGKILL)."""
    for group in groups:
        _ask_to_end(group)
    _wait_until_gone(groups, grace_period)
    for group in groups:
        kill_group(group)
    _wait_until_gone(groups, REAP_TIMEOUT_S)  # SIGKILL is delivered to each member in its own time


def _wait_until_gone(groups: Collection[int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(group_exists(group) for group in groups):
        time.sleep(GROUP_POLL_S)


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


_EXIT = r"exited with status (\d+)|killed by signal (\d+)(?: \(\w+\))?"


def exit_of(description: str | None) -> tuple[int | None, int | None]:
    """The (exit status, signal) a `describe_exit` text says, for a joblog; (None, None) for any other text."""
    import re  # not in the guardian process, which never reads joblogs

    found = re.fullmatch(_EXIT, description or "")
    if found is None:
        return None, None
    status, signum = found.groups()
    return (None if status is None else int(status)), (None if signum is None else int(signum))
