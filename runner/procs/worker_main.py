"""A worker process for process call jobs, started by runner.procs.pool as `python -m runner.procs.worker_main`.

It runs one call at a time, for as long as its parent keeps it. Imports stay minimal (no anyio, httpx or
textual) so a worker starts fast.

Protocol, on the pipes the parent gave as stdin and stdout: each message is a pickled tuple preceded by its
length (4 bytes, big-endian).

Parent -> worker:
    ("call", module, function, args, kwargs, base_dir, job_name, umask, stored, folder, env)
                                   base_dir: the job file's folder, where the module is looked up first and
                                   the call runs (and back after) unless `folder` (its cwd) is given;
                                   umask: the caller's, or None; stored: (folder, limit in MiB) where a large
                                   result is kept (runner.stored_results), or None; env: variables set in
                                   os.environ for the call only, or None
    ("describe_result",)           the last result did not unpickle in the parent: send its repr instead
Worker -> parent:
    ("ready", pid)                 once, at start
    ("progress", done, total)      at most PROGRESS_INTERVAL apart; the last one always precedes the outcome
    ("output", stream, line)       a line the job printed ("stdout" or "stderr"), without its newline
    ("result", pickled_value)      the value pickled on its own, so a parent that cannot load it can still
                                   read the message (and ask for "describe_result")
    ("result_repr", text)          the value could not be pickled
    ("error", message, traceback_text, retryable)

Exactly one "result", "result_repr" or "error" ends each call; "progress" and "output" of that call all come
before it. Anything written to file descriptors 1 and 2 (C code, child processes) goes to the stderr pipe,
which the parent forwards as stderr lines; a call's last such line precedes CALL_END_MARKER there.
"""

from __future__ import annotations

import faulthandler
import io
import os
import pickle
import struct
import sys
import threading
import time
from typing import Any

from runner.context import JobContext, reset_job_context, set_job_context
from runner.errors import JobError, describe_error
from runner.procs.callables import resolve_callable
from runner.procs.job_folder import FolderError, job_folder
from runner.procs.job_variables import variables_set
from runner.procs.lines import LineSplitter
from runner.procs.process_groups import kill_group

STORE_ABOVE_PICKLED_BYTES = 64 * 1024
"""Results pickled larger than this may be large in JSON too: the worker decides whether to keep them in a file
(runner.stored_results.INLINE_BYTES; not imported here, which would slow every worker's start)."""

HEADER = struct.Struct(">I")
PROGRESS_INTERVAL = 0.05
CALL_END_MARKER = "\x00jobdeck:call-end\x00"
"""Written to the stderr pipe after each call, so the parent knows it has every stderr line of that call."""
MAX_OUTPUT_LINE_CHARS = 64 * 1024
"""A longer line of output goes to the parent in pieces, so that no message grows without bound."""
_MAX_REPR = 20_000


def encode_message(message: tuple[Any, ...]) -> bytes:
    """One protocol frame: the length prefix and the pickled message."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


class Channel:
    """The worker's end of the protocol. `send` is thread-safe and writes whole frames only."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._write_lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        frame = encode_message(message)
        with self._write_lock:
            view = memoryview(frame)
            while view:
                written = os.write(self._write_fd, view)
                view = view[written:]

    def receive(self) -> tuple[Any, ...] | None:
        """The next request, or None when the parent closed the pipe."""
        header = self._read_exactly(HEADER.size)
        if header is None:
            return None
        payload = self._read_exactly(HEADER.unpack(header)[0])
        if payload is None:
            return None
        try:
            return pickle.loads(payload)
        except Exception as error:
            return ("unreadable", describe_error(error))

    def _read_exactly(self, size: int) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = os.read(self._read_fd, size - len(chunks))
            if not chunk:
                return None
            chunks += chunk
        return bytes(chunks)


class CallOutput:
    """Where sys.stdout and sys.stderr lines go: to the parent as "output" messages during a call, else to fd 2."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.in_call = False

    def emit(self, stream: str, line: str) -> None:
        if self.in_call:
            self.channel.send(("output", stream, line))
        else:
            # Between calls (a thread the job left behind): the parent's stderr reader takes it.
            os.write(2, (line + "\n").encode("utf-8", "replace"))


class LineWriter(io.TextIOBase):
    """A text stream that passes on whole lines; `finish` passes on a trailing partial line."""

    def __init__(self, stream: str, fd: int, output: CallOutput) -> None:
        super().__init__()
        self._stream = stream
        self._fd = fd
        self._output = output
        self._lines = LineSplitter(MAX_OUTPUT_LINE_CHARS)
        self._lock = threading.Lock()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            for line in self._lines.feed(text):
                self._output.emit(self._stream, line)
        return len(text)

    def finish(self) -> None:
        with self._lock:
            for line in self._lines.finish():
                self._output.emit(self._stream, line)


class WorkerJobContext(JobContext):
    """The job context inside a worker: progress goes to the parent, throttled; checkpoint() does nothing."""

    def __init__(self, channel: Channel, job_name: str) -> None:
        self.job_name = job_name
        self._channel = channel
        self._lock = threading.Lock()
        self._active = True
        self._last_sent = 0.0
        self._pending: tuple[Any, ...] | None = None
        self._timer: threading.Timer | None = None

    def progress(self, done: float, total: float | None = None) -> None:
        update = ("progress", float(done), None if total is None else float(total))
        with self._lock:
            if not self._active:
                return
            delay = self._last_sent + PROGRESS_INTERVAL - time.monotonic()
            if delay <= 0:
                self._send(update)
                return
            self._pending = update
            if self._timer is None:
                # Send the latest update once the interval is over, even if the job reports nothing more.
                self._timer = threading.Timer(delay, self._send_pending)
                self._timer.daemon = True
                self._timer.start()

    def finish(self) -> None:
        """Send the pending update, if any; later progress() calls (from stray threads) are ignored."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._pending is not None:
                self._send(self._pending)
            self._active = False

    def _send_pending(self) -> None:
        with self._lock:
            self._timer = None
            if self._active and self._pending is not None:
                self._send(self._pending)

    def _send(self, update: tuple[Any, ...]) -> None:
        self._pending = None
        self._last_sent = time.monotonic()
        self._channel.send(update)


class CallRunner:
    """The worker process's loop: runs the calls its parent sends, one at a time, until the parent closes the pipe."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.output = CallOutput(channel)
        self.stdout = LineWriter("stdout", 1, self.output)
        self.stderr = LineWriter("stderr", 2, self.output)
        self._last_result: Any = None

    def serve(self) -> None:
        self.channel.send(("ready", os.getpid()))
        while True:
            request = self.channel.receive()
            if request is None:
                return
            kind = request[0]
            if kind == "call":
                self._last_result = None
                self.call(*request[1:])
            elif kind == "describe_result":
                self.channel.send(("result_repr", safe_repr(self._last_result)))
            elif kind == "unreadable":
                message = f"the worker process could not read the job's arguments: {request[1]}"
                self.end_call(("error", message, None, False))
            else:
                self.end_call(("error", f"worker received an unexpected request: {request!r}", None, False))

    def call(
        self,
        module: str,
        function: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        base_dir: str,
        job_name: str,
        umask: int | None = None,
        stored: tuple[str, int] | None = None,
        folder: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        context = WorkerJobContext(self.channel, job_name)
        token = set_job_context(context)
        own_umask = None if umask is None else os.umask(umask)  # the submitter's, for the files the call makes
        # Whatever an earlier job did to these, this job's output goes to the parent again.
        sys.stdout = self.stdout
        sys.stderr = self.stderr
        self.output.in_call = True
        try:
            with job_folder(folder or base_dir, alone=True, isolate=False), variables_set(env):
                outcome = self._run(module, function, args, kwargs, base_dir, job_name, stored)
        except FolderError as error:
            outcome = ("error", str(error), None, False)
        finally:
            context.finish()
            self.stdout.finish()
            self.stderr.finish()
            self.output.in_call = False
            reset_job_context(token)
            if own_umask is not None:
                os.umask(own_umask)
        self.end_call(outcome)

    def end_call(self, outcome: tuple[Any, ...]) -> None:
        """Mark the end of the call on the stderr pipe, then send its outcome."""
        os.write(2, f"{CALL_END_MARKER}\n".encode())
        self.channel.send(outcome)

    def _run(
        self,
        module: str,
        function: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        base_dir: str,
        job_name: str,
        stored: tuple[str, int] | None,
    ) -> tuple[Any, ...]:
        try:
            target = resolve_callable(module, function, base_dir)
        except JobError as error:
            return ("error", error.message, error.traceback, error.retryable)
        try:
            value = target(*args, **kwargs)
        except JobError as error:
            return ("error", error.message, error.traceback or format_job_traceback(error), error.retryable)
        except BaseException as error:
            return ("error", describe_error(error), format_job_traceback(error), True)
        self._last_result = value
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return ("result_repr", safe_repr(value))
        if stored is not None and len(payload) > STORE_ABOVE_PICKLED_BYTES:
            payload = b""  # one copy of a large value at a time
            return self._store(value, job_name, *stored)
        if len(payload) > 0xFFFF_FF00:
            return ("result_repr", safe_repr(value))
        return ("result", payload)

    def _store(self, value: Any, job_name: str, folder: str, limit_mb: int) -> tuple[Any, ...]:
        """Keep a large result in a file here, and send jobdeck only where it is (runner.stored_results)."""
        from pathlib import Path

        from runner.stored_results import keep_result

        try:
            kept = keep_result(value, Path(folder), limit_mb, job_name)
        except JobError as error:
            return ("error", error.message, None, error.retryable)
        if kept is not value:
            self._last_result = None
        return ("result", pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL))


def format_job_traceback(error: BaseException) -> str:
    """The traceback from the job's own code down, without this module's frames."""
    import traceback

    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


def safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as error:
        return f"<{type(value).__name__} object; repr() failed: {describe_error(error)}>"
    return text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + "…"


def _watch_parent(fd: int) -> None:
    """Kill this worker's process group once the parent is gone, even in the middle of a long call."""
    import select

    poller = select.poll()
    poller.register(fd, 0)  # even with no events asked for, a pipe's write end reports POLLERR once its reader is gone
    while True:
        for _fd, events in poller.poll():
            if events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                kill_group(os.getpgrp())


def main() -> int:
    # The protocol gets private copies of the pipes (not inherited by the job's child processes); fd 0 reads
    # nothing and fd 1 joins fd 2, so neither the job nor C code can read or corrupt the protocol.
    request_fd = os.dup(0)
    reply_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    faulthandler.enable(file=sys.__stderr__)

    channel = Channel(request_fd, reply_fd)
    call_runner = CallRunner(channel)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    sys.stdout = call_runner.stdout
    sys.stderr = call_runner.stderr
    threading.Thread(target=_watch_parent, args=(reply_fd,), name="jobdeck-parent-watch", daemon=True).start()
    try:
        call_runner.serve()
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
