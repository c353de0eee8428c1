"""What thread call jobs print: each job's writes to sys.stdout and sys.stderr become its own output lines.

A process job's output is the output of its worker process (runner.procs.worker_main); thread jobs share
jobdeck's process, so sys.stdout and sys.stderr are replaced by `RoutedStream`s that look at the writing
thread: a thread running a thread job writes to that job's `ThreadJobOutput`, every other thread to the
stream that was there before (jobdeck's terminal, the server's log, a dashboard's capture). Only the job's
own thread is the job's: threads it starts itself write where other threads do, as do writes to file
descriptors 1 and 2 (C code, child processes), which belong to the whole process.

Lines are cut as process jobs' are (runner.procs.lines) and collected without waiting for the event loop:
a printing job never blocks on jobdeck, whatever locks it holds. `ThreadOutputs` hands them to the attempts
on the event loop every OUTPUT_INTERVAL_S, and a job's last lines once its function has returned, before
its end.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio

from runner.procs.lines import LineSplitter
from runner.procs.worker_main import MAX_OUTPUT_LINE_CHARS

OUTPUT_INTERVAL_S = 0.05
"""How often a running thread job's printed lines are handed to the engine."""
STREAMS = ("stdout", "stderr")
_writing = threading.local()


class ThreadJobOutput:
    """The output of one thread job: `write` from the job's thread, `take` from the event loop."""

    def __init__(self) -> None:
        self._lines: deque[tuple[str, str]] = deque()  # append and popleft are safe across threads
        self._splitters: dict[str, LineSplitter] = {}  # made on first use: most jobs print nothing

    def write(self, stream: str, text: str) -> None:
        splitter = self._splitters.get(stream)
        if splitter is None:
            splitter = self._splitters[stream] = LineSplitter(MAX_OUTPUT_LINE_CHARS)
        for line in splitter.feed(text):
            self._lines.append((stream, line))

    def note(self, text: str) -> None:
        """A line of jobdeck's own about the job (stream "log")."""
        self._lines.append(("log", text))

    def finish(self) -> None:
        """The job's thread is done: pass on what it wrote after its last line end."""
        for stream, splitter in self._splitters.items():
            self._lines.extend((stream, line) for line in splitter.finish())

    def take(self, report: Callable[[str, str], None]) -> None:
        """Hand every line collected so far to `report(stream, line)`, in the order written."""
        while self._lines:
            report(*self._lines.popleft())


class RoutedStream:
    """Stands in for sys.stdout or sys.stderr: writes go to the output of the thread job running on the
    writing thread, or to `fallback`, the stream it replaced. Everything else is the fallback's."""

    def __init__(self, stream: str, fallback: Any) -> None:
        self.stream = stream
        self.fallback = fallback

    def write(self, text: str) -> int:
        output: ThreadJobOutput | None = getattr(_writing, "output", None)
        if output is None:
            return self.fallback.write(text) if self.fallback is not None else len(text)
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        output.write(self.stream, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if getattr(_writing, "output", None) is None and self.fallback is not None:
            self.fallback.flush()

    def isatty(self) -> bool:
        if getattr(_writing, "output", None) is not None or self.fallback is None:
            return False
        return bool(self.fallback.isatty())

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        fallback = self.__dict__.get("fallback")  # not self.fallback: that would come back here before __init__
        if fallback is None:
            raise AttributeError(name)
        return getattr(fallback, name)


def route_output_by_thread() -> None:
    """Make sys.stdout and sys.stderr RoutedStreams, unless they are; again after something replaced them (a
    dashboard's capture while it runs). Call it from the event loop's thread before starting a thread job."""
    for stream in STREAMS:
        current = getattr(sys, stream)
        if not isinstance(current, RoutedStream):
            setattr(sys, stream, RoutedStream(stream, current))


def write_to(output: ThreadJobOutput | None) -> None:
    """From now on, what the calling thread writes to sys.stdout and sys.stderr goes to `output` (None: back
    to where every other thread's goes)."""
    _writing.output = output


class ThreadOutputs:
    """The output of the thread jobs running now, handed to their attempts by one task (`pass_on`, for as
    long as the call kind runs) every OUTPUT_INTERVAL_S: a job that prints nothing costs no wake-up."""

    def __init__(self) -> None:
        self._running: dict[ThreadJobOutput, Callable[[str, str], None]] = {}
        self._some_running = anyio.Event()

    async def pass_on(self) -> None:
        while True:
            if not self._running:
                await self._some_running.wait()
                self._some_running = anyio.Event()
            await anyio.sleep(OUTPUT_INTERVAL_S)
            for output, report in list(self._running.items()):
                output.take(report)

    def start(self, report: Callable[[str, str], None]) -> ThreadJobOutput:
        """The output of one job, passed on to `report(stream, line)` from now until `stop`."""
        output = ThreadJobOutput()
        self._running[output] = report
        if not self._some_running.is_set():
            self._some_running.set()
        return output

    def stop(self, output: ThreadJobOutput) -> None:
        """The job's function has returned: pass on what is left of its output, and no more."""
        output.take(self._running.pop(output))
