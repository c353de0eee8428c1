"""The journal's writer process: runs the Recorder's transactions at idle CPU priority, beside jobdeck.

Why a process: jobdeck's engine is bound by hand-offs between its event loop and its worker threads, and on a
machine with few cores SQLite's work on a thread of jobdeck's own competes with them for the CPU and the GIL.
Measured on 2 cores, the same writes slowed 50,000 trivial jobs by about 10% from a thread of jobdeck, and by
about 2% from a process at idle priority (`bench/bench_journal.py`). The cost: while every core is busy,
commits wait for a moment the cores are free (the engine shows a success once it is committed, see
`Recorder.committed_revision`).

Protocol, over the process's stdin and stdout: jobdeck sends a frame (8-byte big-endian length, then a pickle
of a list of (sql, parameters)); the writer runs it as one transaction and answers with a frame holding an
empty string, or the error's message if it rolled back. End of input (jobdeck closed the pipe, or died) ends
the process: a frame not wholly received is not written, and was never acknowledged.

Run as a script with the standard library only (`python -I -S journal_writer.py DB`), so it starts in tens of
milliseconds; it imports nothing of jobdeck's and unpickles only built-in types.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

HEADER = struct.Struct(">Q")
BUSY_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 30.0
"""How long closing waits for the writer to finish the transaction under way (at idle priority it may wait
for a free moment of the CPU) before it is killed."""


class WriterGone(Exception):
    """The writer process is not there any more (it was killed, or could not start)."""


class WriterProcess:
    """jobdeck's end of a writer process: `run` sends one transaction and waits until it is committed."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @classmethod
    def start(cls, database: Path) -> WriterProcess:
        """Start a writer for the database (its tables must exist); WriterGone if it cannot start."""
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", __file__, str(database)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,  # no terminal's Ctrl-C or hang-up: it ends when jobdeck closes the pipe
            )
        except OSError as error:
            raise WriterGone(f"the journal writer could not start: {error}") from None
        writer = cls(process)
        if writer._answer() is None:
            writer.close()
            raise WriterGone("the journal writer could not start (see the log above)")
        return writer

    def run(self, statements: list[tuple[str, Any]]) -> None:
        """Run the statements as one transaction in the writer; sqlite3.Error if it was rolled back, WriterGone
        if the writer is not there to answer."""
        assert self.process.stdin is not None
        try:
            write_frame(self.process.stdin, pickle.dumps(statements, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            raise WriterGone("the journal writer has gone") from None
        error = self._answer()
        if error is None:
            raise WriterGone("the journal writer has gone")
        if error:
            raise sqlite3.OperationalError(error)

    def _answer(self) -> str | None:
        assert self.process.stdout is not None
        answer = read_frame(self.process.stdout)
        return None if answer is None else answer.decode()

    def close(self) -> None:
        """Close the pipe, so the writer ends once it has finished the transaction under way."""
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self.process.wait(CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame's payload; None at end of input (or a frame cut short)."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    payload = stream.read(size)
    return payload if len(payload) == size else None


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


class _BuiltinsOnly(pickle.Unpickler):
    """Statements are strings, numbers, None, tuples, lists and dicts: refuse anything that names a class."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the journal writer takes no {module}.{name}")


def run_transaction(connection: sqlite3.Connection, payload: bytes) -> str:
    """Run the pickled statements as one transaction; the error's message if it was rolled back, else ''."""
    try:
        statements = _BuiltinsOnly(io.BytesIO(payload)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        return f"the journal writer cannot read the statements: {error}"
    try:
        connection.execute("BEGIN")
        try:
            for sql, parameters in statements:
                connection.execute(sql, parameters)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    except sqlite3.Error as error:
        return f"{type(error).__name__}: {error}"
    return ""


def lower_priority() -> None:
    """Take CPU time only when no other task wants it (Linux); elsewhere, the lowest nice value."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        with contextlib.suppress(AttributeError, OSError):
            os.nice(19)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: journal_writer.py DATABASE", file=sys.stderr)
        return 2
    lower_priority()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = sqlite3.connect(argv[0], isolation_level=None, timeout=BUSY_TIMEOUT_S)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=OFF")
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    write_frame(answers, b"")  # ready
    while (payload := read_frame(requests)) is not None:
        write_frame(answers, run_transaction(connection, payload).encode())
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
