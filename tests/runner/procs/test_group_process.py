"""A shell job's process, started and watched from the event loop: its own session and group, its exit, its output
line by line, and no thread while it runs."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.procs.group_process import GroupProcess
from runner.procs.process_groups import end_group
from tests.helpers import process_alive, wait_for

pytestmark = pytest.mark.anyio


class Lines:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, stream: str, line: str) -> None:
        self.seen.append((stream, line))


async def start(
    command: str, lines: Lines, *, cwd: Path | str = "/", env: dict[str, str] | None = None
) -> GroupProcess:
    return await GroupProcess.start(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=dict(os.environ) if env is None else env,
        umask=None,
        on_line=lines,
        line_chars=100,
    )


WAITING_THREADS = ("waitpid-", "jobdeck-shell-wait")
"""The names of threads that wait for a child: asyncio's (ThreadedChildWatcher) and GroupProcess's without pidfds."""


def stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


async def test_the_command_leads_a_session_and_group_of_its_own_and_no_thread_waits_for_it(tmp_path: Path) -> None:
    go = tmp_path / "go"

    def waiting_threads() -> set[threading.Thread]:
        return {thread for thread in threading.enumerate() if thread.name.startswith(WAITING_THREADS)}

    before = waiting_threads()  # an earlier test's children in this worker process may have their own
    process = await start(f"while [ ! -e {go} ]; do sleep 0.01; done", Lines())
    try:
        _, _, group, session = stat_fields(process.pid)[:4]
        assert int(group) == process.pid and int(session) == process.pid
        assert os.getpgid(process.pid) != os.getpgid(0)
        assert [thread.name for thread in waiting_threads() - before] == []
        go.touch()
        with anyio.fail_after(10):
            assert await process.exited() == 0
            await process.output_closed()
    finally:
        go.touch()  # the loop ends even when an assertion failed above: no shell left polling for ever
        process.close()
    assert not process_alive(process.pid)


async def test_lines_of_both_streams_come_with_their_names_and_the_exit_status_with_them(tmp_path: Path) -> None:
    lines = Lines()
    process = await start(
        'echo "$GREETING from $(pwd)"; echo oops >&2; printf "no end"; exit 3',
        lines,
        cwd=tmp_path,
        env={"GREETING": "hello", "PATH": os.environ["PATH"]},
    )
    try:
        with anyio.fail_after(10):
            assert await process.exited() == 3
            await process.output_closed()
    finally:
        process.close()
    assert sorted(lines.seen) == sorted(
        [("stdout", f"hello from {tmp_path}"), ("stdout", "no end"), ("stderr", "oops")]
    )


async def test_a_signal_that_ends_the_command_is_its_negative_exit() -> None:
    process = await start("kill -KILL $$", Lines())
    try:
        with anyio.fail_after(10):
            assert await process.exited() == -signal.SIGKILL
    finally:
        process.close()


async def test_the_output_is_closed_only_once_a_background_child_holding_it_has_ended(tmp_path: Path) -> None:
    lines = Lines()
    process = await start("(sleep 0.3; echo late) & echo early", lines)
    try:
        with anyio.fail_after(10):
            assert await process.exited() == 0
            await process.output_closed()
    finally:
        process.close()
    assert lines.seen == [("stdout", "early"), ("stdout", "late")]


async def test_ending_the_group_ends_the_grandchildren_too(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    process = await start(f"sleep 60 & echo $! > {pid_file}.part && mv {pid_file}.part {pid_file}; wait", Lines())
    try:
        await wait_for(pid_file.exists, what="the grandchild's pid written")
        grandchild = int(pid_file.read_text())
        with anyio.fail_after(10):
            await end_group(process, 5.0)
        assert process.returncode == -signal.SIGTERM
        await wait_for(lambda: not process_alive(grandchild), what="the grandchild ended")
        with anyio.fail_after(10):
            await process.output_closed()
    finally:
        process.close()


async def test_a_line_that_cannot_be_passed_on_is_raised_at_once_while_the_command_still_runs() -> None:
    def refuse(stream: str, line: str) -> None:
        raise ValueError(f"no room for {line!r}")

    process = await GroupProcess.start(
        ["/bin/sh", "-c", "echo first; exec sleep 60"],
        cwd="/",
        env=dict(os.environ),
        umask=None,
        on_line=refuse,
        line_chars=100,
    )
    try:
        with anyio.fail_after(10), pytest.raises(ValueError, match="no room for 'first'"):
            await process.exited()
        assert process.returncode is None
        with anyio.fail_after(10):
            await end_group(process, 5.0)
    finally:
        process.close()


async def test_a_command_left_unreaped_at_close_is_reaped_once_it_ends() -> None:
    process = await start("exec sleep 60", Lines())
    process.close()
    os.kill(process.pid, signal.SIGKILL)
    await wait_for(lambda: not Path(f"/proc/{process.pid}").exists(), what="the child reaped, not a zombie")


async def test_a_folder_that_does_not_exist_is_the_start_s_error_and_leaves_no_descriptor_open(tmp_path: Path) -> None:
    descriptors = set(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError):
        await start("true", Lines(), cwd=tmp_path / "missing")
    assert set(os.listdir("/proc/self/fd")) == descriptors


async def test_a_command_that_cannot_be_watched_is_killed_not_left_running(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[subprocess.Popen[bytes]] = []

    class Recorded(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    loop = asyncio.get_running_loop()
    add_reader = loop.add_reader
    readers: list[int] = []

    def add_reader_until_out_of_descriptors(fd: int, *args: Any) -> None:
        readers.append(fd)
        if len(readers) == 3:  # the exit's pidfd, after both pipes
            raise OSError(errno.EMFILE, "Too many open files")
        add_reader(fd, *args)

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    monkeypatch.setattr(loop, "add_reader", add_reader_until_out_of_descriptors)
    descriptors = set(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError, match="Too many open files"):
        await start("exec sleep 60", Lines())
    [child] = started
    await wait_for(lambda: child.returncode is not None, what="the child killed and reaped")
    assert child.returncode == -signal.SIGKILL
    assert set(os.listdir("/proc/self/fd")) == descriptors


async def test_the_command_is_started_off_the_event_loop_s_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # Popen returns only once the child has called exec: on a busy machine, milliseconds the loop would idle.
    starters: list[threading.Thread] = []

    class Recorded(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            starters.append(threading.current_thread())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    told: list[tuple[int, threading.Thread]] = []
    process = await GroupProcess.start(
        ["/bin/sh", "-c", "true"],
        cwd="/",
        env=dict(os.environ),
        umask=None,
        on_line=Lines(),
        line_chars=100,
        on_start=lambda pid: told.append((pid, threading.current_thread())),
    )
    try:
        with anyio.fail_after(10):
            assert await process.exited() == 0
    finally:
        process.close()
    assert starters and starters[0] is not threading.current_thread()
    assert told == [(process.pid, starters[0])], "told of the child on the thread that started it"
