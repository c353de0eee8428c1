"""Starting worker processes for process call jobs, and starting them early.

A worker needs a second or so of a loaded machine's time to start Python and import its few modules; the job
waits for that unless the worker was started before. `jobdeck run` knows which workers its decks need as soon
as it has read them, well before its engine runs: `prestart_workers` starts them then, so that they start up
while jobdeck imports the rest of itself, and the first WorkerPool takes them over (`take_prestarted`).

While this process has a single thread (as `jobdeck run` has while reading its decks), such a worker is a fork
of it rather than a new interpreter: it has the interpreter and most of its modules already, so that two workers
cost a few milliseconds of CPU instead of ~0.1 s each, which a busy machine felt (ProcessPoolExecutor's workers
are forks too). Later workers, and those of a server (which has threads), are new interpreters
(`start_worker_process`).

A worker nobody took over ends with this process: at exit here, or on its own when it sees this process gone
(runner.procs.worker_main watches its pipe), so none is ever left behind.

This module imports nothing heavy: it runs before anyio or the engine are imported.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from typing import NoReturn

from runner.model import CallSpec, Deck, Kind
from runner.procs import child_environment
from runner.procs.child_environment import python_child_environment
from runner.procs.pipe_process import PipeProcess
from runner.procs.process_groups import kill_group

_prestarted: list[PipeProcess] = []


def process_workers_wanted(deck: Deck) -> int:
    """How many workers the deck's process calls can use at once: its process jobs, up to its process_limit."""
    jobs = 0
    for job in deck.jobs:
        outline = job.outline
        if job.kind is Kind.CALL and isinstance(outline, CallSpec) and outline.on == "process":
            jobs += 1
    return min(jobs, deck.settings.process_limit)


def start_worker_process() -> PipeProcess:
    """Start one worker (`python -m runner.procs.worker_main`) in its own session, with its three pipes."""
    popen = subprocess.Popen(
        # -P: no current folder on sys.path, where a package named `runner` would shadow ours.
        [sys.executable, "-P", "-m", "runner.procs.worker_main"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        start_new_session=True,
        env=python_child_environment(),
    )
    return PipeProcess.of_popen(popen)


def prestart_workers(decks: Iterable[Deck]) -> int:
    """Start, now, the workers the decks' process calls can use at once (the largest number any deck can use,
    as the pool keeps); returns how many were started. A worker that cannot be started is left to the pool,
    which reports it when a job needs it."""
    wanted = max((process_workers_wanted(deck) for deck in decks), default=0) - len(_prestarted)
    started = 0
    for _ in range(wanted):
        try:
            _prestarted.append(fork_worker() if threading.active_count() == 1 else start_worker_process())
        except OSError:
            break
        started += 1
    if started and len(_prestarted) == started:
        atexit.register(_end_unclaimed)
    return started


def take_prestarted() -> PipeProcess | None:
    """A worker started early and not taken yet (the oldest), or None."""
    return _prestarted.pop(0) if _prestarted else None


def _end_unclaimed() -> None:
    while _prestarted:
        process = _prestarted.pop()
        kill_group(process.pid)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(process.pid, 0)  # SIGKILL: it ends at once


class ForkedChild:
    """A worker forked by `fork_worker`, with what PipeProcess asks of a child (as Popen has it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 0  # reaped elsewhere: the status is lost
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        while self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                self.returncode = 0
            else:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)


def fork_worker() -> PipeProcess:
    """A worker forked from this process, which must have a single thread: in its own session (made before
    this returns, as with Popen, so that signals to its group reach it), its pipes on fds 0-2 and no other file
    descriptor, the environment and sys.path a new worker would have."""
    pipes = [os.pipe() for _ in range(3)]  # stdin, stdout, stderr: (read, write)
    session_made, tell_parent = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # or the child would write what is buffered again
    try:
        pid = os.fork()
    except OSError:
        for fd in (*(end for pipe in pipes for end in pipe), session_made, tell_parent):
            os.close(fd)
        raise
    if pid == 0:
        _become_worker(pipes[0][0], pipes[1][1], pipes[2][1], tell_parent)
    os.close(tell_parent)
    try:
        os.read(session_made, 1)  # a byte once it made its session; end of file if it died before
    finally:
        os.close(session_made)
    for ours, theirs in ((pipes[0][1], pipes[0][0]), (pipes[1][0], pipes[1][1]), (pipes[2][0], pipes[2][1])):
        os.close(theirs)
        os.set_inheritable(ours, False)
    return PipeProcess(ForkedChild(pid), pipes[0][1], pipes[1][0], pipes[2][0])


def _become_worker(stdin: int, stdout: int, stderr: int, tell_parent: int) -> NoReturn:
    """In the forked child: run runner.procs.worker_main as `python -P -m` would, then exit without running
    anything the parent registered to run at exit."""
    code = 1
    try:
        os.setsid()
        os.write(tell_parent, b"s")
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)
        _reset_signals()
        gc.enable()  # as a new interpreter has it (jobdeck's start-up pauses it: runner.cli.collector)
        environment = python_child_environment()
        os.environ.clear()
        os.environ.update(environment)
        if sys.path and sys.path[0] != child_environment.RUNNER_ROOT:
            sys.path[0] = (
                child_environment.RUNNER_ROOT
            )  # the parent's script folder (or current folder) is not the worker's
        from runner.procs import worker_main

        sys.argv = [worker_main.__file__]  # as `python -m runner.procs.worker_main` has it, not jobdeck's
        code = worker_main.main()
    except BaseException:
        import traceback

        with contextlib.suppress(Exception):
            os.write(2, traceback.format_exc().encode("utf-8", "replace"))
    finally:
        os._exit(code)


def _reset_signals() -> None:
    """Signals as a new interpreter has them: no handler, no wakeup fd (an event loop's) of the parent's."""
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    for number in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError):
            if callable(signal.getsignal(number)):
                signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
