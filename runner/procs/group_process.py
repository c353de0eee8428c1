"""A command started in a process group of its own and watched from the event loop, without a thread or a
subprocess transport while it runs: what a shell job costs jobdeck besides the command itself.

asyncio on Python 3.11 waits for each child on a thread of its own, and wraps each pipe in a transport, a
protocol and a stream, read by a task: for a command as short as `touch` that cost as much as the command
(issue 18). Here the child is started by `subprocess.Popen` (vfork and exec, as asyncio does, but on a worker
thread, so that the event loop does not wait for the exec), its exit comes through a pidfd and its two pipes
are read by callbacks, all three on the event loop's selector; the job's task wakes only when the command has
ended and its output is closed.

Only for asyncio (the engine's loop). Where pidfds are missing (Linux before 5.3), a thread waits for the exit
without reaping the child, as asyncio's own watcher would.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from runner.procs.lines import LineSplitter
from runner.procs.process_groups import signal_group

READ_BYTES = 65536
STREAMS = ("stdout", "stderr")


class GroupProcess:
    """One child (made by `start()`) in a new session, so a process group of its own, led by `pid`; stdin from
    /dev/null, its stdout and stderr passed to `on_line` line by line (stream name, line) as they come.

    `wait()` returns its exit as `Popen.returncode` does (negative: the signal that ended it), once it is
    reaped; `output_closed()` once every process holding its pipes has closed them; `close()` stops
    listening and closes what is left open (idempotent: call it whatever happened). An exception `on_line`
    raised ends the listening to that stream and is raised again by `exited()` and `output_closed()`.
    """

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        pipes: Sequence[int],
        *,
        on_line: Callable[[str, str], None],
        line_chars: int,
    ) -> None:
        """Watch a child `start` has started; `pipes` are the reading ends of its stdout and stderr."""
        self._loop = asyncio.get_running_loop()
        self._popen = popen
        self.pid = popen.pid
        self._on_line = on_line
        self._news: anyio.Event | None = None
        self._failure: Exception | None = None
        self._readers = {fd: (name, LineSplitter(line_chars)) for name, fd in zip(STREAMS, pipes, strict=True)}
        self._pidfd: int | None = None
        self.returncode: int | None = None
        try:
            for fd in self._readers:
                os.set_blocking(fd, False)
                self._loop.add_reader(fd, self._readable, fd)
            self._watch_exit()
        except BaseException:  # out of descriptors or threads, say: never leave the command running unwatched
            signal_group(self.pid, signal.SIGKILL)
            self.close()
            raise

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        *,
        cwd: Path | str,
        env: Mapping[str, str],
        umask: int | None,
        on_line: Callable[[str, str], None],
        line_chars: int,
        limiter: anyio.CapacityLimiter | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> GroupProcess:
        """Start `argv` in a session of its own and watch it. Not cancellable: once this returns, the caller
        owns the child (and ends its group if it is cancelled). `on_start(pid)` is called on the starting thread
        the moment the child exists (the guardian's bookkeeping: no moment is left uncovered)."""
        ends: list[tuple[int, int]] = []
        try:
            for _ in STREAMS:
                ends.append(os.pipe2(os.O_CLOEXEC))
            start = functools.partial(_start, argv, cwd, env, umask, [write_end for _, write_end in ends], on_start)
            # On a worker thread: the calling thread waits until the child has called exec (vfork), which on
            # a busy machine can take milliseconds that the event loop would otherwise spend doing nothing.
            with anyio.CancelScope(shield=True):
                popen = await anyio.to_thread.run_sync(start, limiter=limiter)
        except BaseException:
            for read_end, write_end in ends:
                os.close(read_end)
                os.close(write_end)
            raise
        for _, write_end in ends:
            os.close(write_end)
        return cls(popen, [read_end for read_end, _ in ends], on_line=on_line, line_chars=line_chars)

    def _watch_exit(self) -> None:
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            threading.Thread(target=self._wait_on_thread, name="jobdeck-shell-wait", daemon=True).start()
            return
        self._loop.add_reader(self._pidfd, self._exited)

    def _wait_on_thread(self) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)  # leaves the reaping to the loop
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing waits any more
            self._loop.call_soon_threadsafe(self._exited)

    def _exited(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self.returncode = self._popen.poll()
        if self.returncode is None:  # cannot be, with the child's exit seen; never leave it unreaped
            self.returncode = self._popen.wait()
        self._tell()

    def _readable(self, fd: int) -> None:
        name, splitter = self._readers[fd]
        try:
            chunk = os.read(fd, READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        try:
            lines = splitter.feed_bytes(chunk) if chunk else splitter.finish()
            for line in lines:
                self._on_line(name, line)
        except Exception as failure:  # raised again in the job's task, by exited() or output_closed()
            self._failure = self._failure or failure
            chunk = b""
        if not chunk:
            self._stop_reading(fd)
            self._tell()

    def _stop_reading(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        os.close(fd)
        del self._readers[fd]

    def _tell(self) -> None:
        if self._news is not None:
            self._news.set()

    async def _until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self._news = anyio.Event()
            await self._news.wait()

    async def wait(self) -> int:
        """The exit status, once the child is reaped (its background children may still run)."""
        await self._until(lambda: self.returncode is not None)
        assert self.returncode is not None
        return self.returncode

    async def exited(self) -> int:
        """As `wait()`, but what `on_line` raised meanwhile is raised at once (the child is left running)."""
        await self._until(lambda: self.returncode is not None or self._failure is not None)
        if self._failure is not None:
            raise self._failure
        return await self.wait()

    async def output_closed(self) -> None:
        """Returns once both pipes are closed at the writing end (or a line could not be passed on: raised)."""
        await self._until(lambda: not self._readers or self._failure is not None)
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Stop listening and close the pipes; this does not signal the child. One not reaped yet (it would
        not die within end_group's time, say) is left to a thread that reaps it whenever it ends."""
        for fd in list(self._readers):
            self._stop_reading(fd)
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self.returncode is None:
            threading.Thread(target=self._popen.wait, name="jobdeck-shell-reap", daemon=True).start()


def _start(
    argv: Sequence[str],
    cwd: Path | str,
    env: Mapping[str, str],
    umask: int | None,
    outputs: Sequence[int],
    on_start: Callable[[int], None] | None,
) -> subprocess.Popen[bytes]:
    popen = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=outputs[0],
        stderr=outputs[1],
        start_new_session=True,
        umask=-1 if umask is None else umask,  # set in the child, before exec
    )
    if on_start is not None:
        try:
            on_start(popen.pid)
        except BaseException:
            signal_group(popen.pid, signal.SIGKILL)
            popen.wait()
            raise
    return popen
