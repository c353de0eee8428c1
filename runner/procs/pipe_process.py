"""An anyio Process over a child process started without the event loop (by subprocess.Popen, or forked).

Worker processes are started this way so that `jobdeck run` can start them while it is still reading its
decks and importing the engine (runner.procs.prestart), and the pool can take them over later. The pipes are
made non-blocking and read and written when the event loop says they are ready; the exit is awaited through a
pidfd where Linux has one, else on a thread. Nothing here blocks the event loop.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Protocol

import anyio
import anyio.lowlevel
import anyio.to_thread
from anyio.abc import ByteReceiveStream, ByteSendStream, Process

READ_SIZE = 65536
_wait_threads = anyio.CapacityLimiter(10_000)
"""For waiting on exits where there is no pidfd: one thread per waiting process, never held back."""


class Child(Protocol):
    """What a PipeProcess needs of its child: subprocess.Popen has it, and so has runner.procs.prestart's fork."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self) -> int: ...

    def send_signal(self, sig: int) -> None: ...


class PipeReader(ByteReceiveStream):
    """The read end of a pipe, owned by this object: closing it closes the file descriptor."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(self._fd, False)

    async def receive(self, max_bytes: int = READ_SIZE) -> bytes:
        while True:
            if self._fd < 0:
                raise anyio.ClosedResourceError
            try:
                data = os.read(self._fd, max_bytes)
            except BlockingIOError:
                await anyio.wait_readable(self._fd)
                continue
            except OSError as error:
                raise anyio.BrokenResourceError from error
            if not data:
                raise anyio.EndOfStream
            await anyio.lowlevel.checkpoint()
            return data

    async def aclose(self) -> None:
        _close(self)


class PipeWriter(ByteSendStream):
    """The write end of a pipe, owned by this object: closing it closes the file descriptor."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(self._fd, False)

    async def send(self, item: bytes) -> None:
        view = memoryview(item)
        while view:
            if self._fd < 0:
                raise anyio.ClosedResourceError
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                await anyio.wait_writable(self._fd)
                continue
            except OSError as error:  # BrokenPipeError: the process is gone
                raise anyio.BrokenResourceError from error
            view = view[written:]
        await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        _close(self)


def _close(stream: PipeReader | PipeWriter) -> None:
    fd, stream._fd = stream._fd, -1
    if fd >= 0:
        anyio.notify_closing(fd)  # a task waiting on it gets ClosedResourceError
        os.close(fd)


class PipeProcess(Process):
    """A child process and this end of its three pipes (file descriptors it then owns), as an anyio Process."""

    def __init__(self, child: Child, stdin: int, stdout: int, stderr: int) -> None:
        self._child = child
        self._returncode: int | None = None
        self._stdin = PipeWriter(stdin)
        self._stdout = PipeReader(stdout)
        self._stderr = PipeReader(stderr)
        self._waiting = anyio.Lock()
        try:
            self._pidfd = os.pidfd_open(child.pid)
        except (AttributeError, OSError):  # not Linux, or older than 5.3
            self._pidfd = -1

    @classmethod
    def of_popen(cls, popen: subprocess.Popen[bytes]) -> PipeProcess:
        """Take over a Popen started with stdin, stdout and stderr pipes."""
        pipes = (popen.stdin, popen.stdout, popen.stderr)
        fds = []
        for pipe in pipes:
            assert pipe is not None
            fds.append(os.dup(pipe.fileno()))
            pipe.close()
        return cls(popen, *fds)

    async def wait(self) -> int:
        async with self._waiting:  # one waiter on the pidfd at a time; the others then find the return code
            while self._returncode is None:
                if self._pidfd >= 0:
                    await anyio.wait_readable(self._pidfd)
                    self._returncode = self._child.poll()
                else:
                    self._returncode = await anyio.to_thread.run_sync(
                        self._child.wait, abandon_on_cancel=True, limiter=_wait_threads
                    )
        return self._returncode

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def send_signal(self, signal: signal.Signals) -> None:  # type: ignore[override]
        if self._returncode is None:  # once reaped, its pid may be another process's
            self._child.send_signal(signal)

    @property
    def pid(self) -> int:
        return self._child.pid

    @property
    def returncode(self) -> int | None:
        return self._returncode

    @property
    def stdin(self) -> ByteSendStream:
        return self._stdin

    @property
    def stdout(self) -> ByteReceiveStream:
        return self._stdout

    @property
    def stderr(self) -> ByteReceiveStream:
        return self._stderr

    async def aclose(self) -> None:
        """Close the pipes and wait for the process to end (as anyio's own processes do)."""
        for stream in (self._stdin, self._stdout, self._stderr):
            _close(stream)
        try:
            await self.wait()
        finally:
            pidfd, self._pidfd = self._pidfd, -1
            if pidfd >= 0:
                anyio.notify_closing(pidfd)
                os.close(pidfd)
