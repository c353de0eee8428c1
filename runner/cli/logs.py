"""`jobdeck logs JOB`: a job's output from its log files, and `--follow` to go on printing it while the job runs.

The server says where the files are and how far the job is (the `logs` request); this command reads the files
itself (runner.joblogs.reader), so a log of any size is printed at the speed of the disk. With no server
running, the journal says where a past run's files are; no server is started for this.

Following never polls on a clock: each `logs` request with `seen` waits in the server until the job has news
(lines written, an attempt started or ended, the job finished), at most FOLLOW_WAIT_S, and only then are the
files read again. The server learns of new lines as it writes them, so a follower sees a line about as soon as
the file has it (within the keeper's flush interval, 0.1 s).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import anyio
import anyio.to_thread

from runner import paths
from runner.cli.arguments import chosen_socket
from runner.cli.exits import EXIT_BAD_INPUT, EXIT_JOBS_FAILED, EXIT_OK
from runner.model import FINISHED_STATES, JobState, OutputLine

if TYPE_CHECKING:
    from runner.joblogs.reader import AttemptReader
    from runner.server.client import Client
    from runner.server.messages import LogsReply

EXIT_INTERRUPTED = 130
"""Ctrl-C ended `--follow` (as a shell reports a command ended by SIGINT)."""
FINISHED = frozenset(state.value for state in FINISHED_STATES)
FOLLOW_WAIT_S = 30.0
"""The longest one `logs` request waits in the server for news of the job; the follower then asks again."""
NOTE_PREFIX = "[jobdeck] "
"""Before jobdeck's own lines in the text output (where lines were cut, which attempt follows)."""


class UnknownJob(Exception):
    """The job named is not loaded nor in the history, or the attempt asked for was not made."""


class LinePrinter:
    """Prints output lines as `jobdeck logs` was asked to: one stream or both, as text or JSON lines."""

    def __init__(self, out: TextIO, *, stream: str | None, as_json: bool) -> None:
        self.out = out
        self.stream = stream
        self.as_json = as_json

    def wanted(self, line: OutputLine) -> bool:
        return self.stream is None or line.stream in (self.stream, "log")

    def show(self, lines: Iterable[OutputLine]) -> None:
        write = self.out.write
        for line in lines:
            if not self.wanted(line):
                continue
            if self.as_json:
                write(json.dumps({"stream": line.stream, "line": line.text}, ensure_ascii=False) + "\n")
            elif line.stream == "log":
                write(f"{NOTE_PREFIX}{line.text}\n")
            else:
                write(line.text + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        self.show([OutputLine("log", text)])


def logs_command(options: argparse.Namespace) -> int:
    from runner.cli.main import is_broken_pipe, silence_stdout

    stream = "stdout" if options.stdout else "stderr" if options.stderr else None
    printer = LinePrinter(sys.stdout, stream=stream, as_json=options.json)
    try:
        return anyio.run(_logs, options, printer)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except UnknownJob as unknown:
        print(f"jobdeck logs: {unknown}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BaseException as error:
        if is_broken_pipe(error):  # `jobdeck logs x | head`: the reader has all it wanted
            silence_stdout()
            return EXIT_OK
        raise


async def _logs(options: argparse.Namespace, printer: LinePrinter) -> int:
    from runner.server.client import Client, ServerError

    try:
        client = await Client.connect(chosen_socket(options))
    except OSError:
        return await _from_journal(options, printer)
    except ServerError as error:
        print(f"jobdeck: {error}", file=sys.stderr)
        return EXIT_JOBS_FAILED
    async with client:
        try:
            return await Follower(client, options, printer).run()
        except ServerError as error:
            if error.kind in ("command", "bad_request"):
                raise UnknownJob(error.message) from None
            print(f"jobdeck: {error}", file=sys.stderr)
            return EXIT_JOBS_FAILED


async def _from_journal(options: argparse.Namespace, printer: LinePrinter) -> int:
    """No server runs: the job's log from the journal's history, as the server would have found it."""
    journal_path = paths.journal_path()

    def look_up() -> LogsReply | None:
        if not journal_path.exists():
            return None
        from runner.joblogs.layout import logs_root
        from runner.journal.store import Journal
        from runner.server.logs_handlers import past_job, past_reply

        with Journal.open(journal_path) as journal:
            past = past_job(journal, options.job)
        return None if past is None else past_reply(past, logs_root(journal_path))

    reply = await anyio.to_thread.run_sync(look_up)
    if reply is None:
        raise UnknownJob(f"no jobdeck server runs, and the journal ({journal_path}) has no job named {options.job!r}")
    print(f"jobdeck: no server runs; {reply.job} is from the journal's history", file=sys.stderr)
    return show_finished(reply, options, printer)


def show_finished(reply: LogsReply, options: argparse.Namespace, printer: LinePrinter) -> int:
    """Print a job's log that will not grow (a past run's): the attempt asked for, or the latest."""
    if reply.note:
        print(f"jobdeck: {reply.note}", file=sys.stderr)
    if reply.folder is None:
        printer.show(_last(reply.tail, options.tail))
    else:
        attempt = chosen_attempt(reply.job, len(reply.outcomes), options.attempt)
        if attempt:
            printer.show(_last(_read_all(Path(reply.folder), attempt), options.tail))
    if options.follow:
        return exit_status(reply.state)
    return EXIT_OK


def exit_status(state: str | None) -> int:
    """How --follow ends for a job (or attempt) that ended so: 0 when it succeeded."""
    return EXIT_OK if state == JobState.SUCCEEDED.value else EXIT_JOBS_FAILED


def chosen_attempt(job: str, attempts: int, asked: int | None) -> int:
    """The attempt to print: the one asked for (UnknownJob if the job did not make it), else the latest (0: none
    yet)."""
    if asked is None:
        return attempts
    if asked > attempts:
        made = f"made {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else "not started yet"
        raise UnknownJob(f"{job} has {made}: there is no attempt {asked}")
    return asked


def _read_all(folder: Path, attempt: int) -> list[OutputLine]:
    from runner.joblogs.layout import LogPlace
    from runner.joblogs.reader import read_attempt

    return read_attempt(LogPlace(folder), attempt)


def _last(lines: list[OutputLine], count: int | None) -> list[OutputLine]:
    return lines if count is None else list(deque(lines, maxlen=count))


class Follower:
    """Prints a loaded job's log, and with --follow goes on until the job (or the attempt asked for) ends."""

    def __init__(self, client: Client, options: argparse.Namespace, printer: LinePrinter) -> None:
        self.client = client
        self.options = options
        self.printer = printer
        self.wait_s = min(FOLLOW_WAIT_S, client.timeout / 2)

    async def run(self) -> int:
        from runner.joblogs.layout import LogPlace
        from runner.joblogs.reader import AttemptReader
        from runner.server.messages import Logs

        options, printer = self.options, self.printer
        reply = await self.client.call(Logs(options.job))
        if reply.source != "server" or reply.folder is None:
            if options.follow and reply.source != "server":
                print(f"jobdeck: {reply.job} is not loaded in the server: nothing to follow", file=sys.stderr)
            return show_finished(reply, options, printer)
        place = LogPlace(Path(reply.folder))
        job = reply.job
        if options.follow:  # an attempt not made yet may still come
            attempt = options.attempt or len(reply.outcomes)
        else:
            attempt = chosen_attempt(job, len(reply.outcomes), options.attempt)
        if not options.follow:
            if not attempt:
                print(f"jobdeck: {job} has not started yet: no output", file=sys.stderr)
                return EXIT_OK
            printer.show(_last(await self._read(AttemptReader(place, attempt), close=True), options.tail))
            return EXIT_OK
        while not attempt or attempt > len(reply.outcomes):  # not started yet: wait for its first attempt
            if reply.state in FINISHED:
                print(f"jobdeck: {job} {reply.state} without running", file=sys.stderr)
                return exit_status(reply.state)
            reply = await self.client.call(Logs(job, seen=reply.progress, wait_s=self.wait_s))
            attempt = attempt or len(reply.outcomes)
        reader = AttemptReader(place, attempt)
        printer.show(_last(await self._read(reader), options.tail))
        try:
            while True:
                if reply.complete >= attempt:
                    printer.show(await self._read(reader))
                    outcome = reply.outcomes[attempt - 1]
                    if options.attempt is not None:
                        return exit_status(outcome)
                    if attempt < len(reply.outcomes):
                        reader.close()
                        attempt += 1
                        reader = AttemptReader(place, attempt)
                        printer.note(f"attempt {attempt}")
                        printer.show(await self._read(reader))
                        continue
                    if reply.state in FINISHED:
                        return exit_status(reply.state)
                reply = await self.client.call(Logs(job, seen=reply.progress, wait_s=self.wait_s))
                printer.show(await self._read(reader))
        finally:
            reader.close()

    @staticmethod
    async def _read(reader: AttemptReader, *, close: bool = False) -> list[OutputLine]:
        try:
            return await anyio.to_thread.run_sync(reader.read_new)
        finally:
            if close:
                reader.close()
