"""A small watcher process that ends the shell jobs' process groups if jobdeck dies without ending them.

jobdeck ends every group it starts when it stops, is cancelled or gets a signal it can handle. Only a death
it cannot handle (SIGKILL, the OOM killer, a crash) would leave shell jobs running on, as orphans. So the
shell kind lists the live groups in a table in shared memory (runner.procs.group_table), and this watcher
holds the reading end of a pipe from jobdeck: when the pipe reaches end of file without a clean "bye", jobdeck
is gone, and the watcher reads the table and ends the groups listed there (`end_groups_blocking`: SIGTERM,
then SIGKILL to those left after a grace period). (Process workers have a watchdog of their own in
worker_main.)

Run as `python -P -S -m runner.procs.guardian FD`, FD the table's file descriptor, inherited: a watcher that
replaces one that died reads the same table, so the groups already live are its own from the moment it exists.
What only the jobdeck side uses (subprocess, threading, logging) is imported there, not by the watcher, whose
start-up is felt by every run of shell jobs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from runner.procs.group_table import GroupTable, groups_in
from runner.procs.process_groups import describe_exit, end_groups_blocking

TYPE_CHECKING = False  # as typing has it, without importing typing into the watcher
if TYPE_CHECKING:
    import subprocess

GRACE_S = 3.0
RETRY_S = 1.0
"""How long to wait before trying again to start a guardian that could not be started."""


class GroupGuardian:
    """The jobdeck side: `start()` once (blocking, so from a worker thread), then `track`/`untrack` groups
    (a write to shared memory: no system call, nothing woken).

    Should the watcher itself die, a new one is started at once on the same table: a thread waits on each
    watcher for that. What stays uncovered is only the few milliseconds from the death to that start (or,
    should no process be startable, until a retry succeeds).
    """

    def __init__(self) -> None:
        import threading

        self._process: subprocess.Popen[bytes] | None = None
        self._table: GroupTable | None = None
        self._lock = threading.Lock()
        self._closing = False
        self.restarts = 0
        """How many times a watcher that died was replaced."""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None else process.pid

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            self._closing = False
            if self._table is None:
                self._table = GroupTable()
            self._spawn(self._table)

    def _spawn(self, table: GroupTable) -> None:
        import subprocess
        import threading

        from runner.procs.child_environment import python_child_environment

        process = subprocess.Popen(
            # -S: no site-packages (the environment's PYTHONPATH finds runner), 30 ms less to start on every run.
            [sys.executable, "-P", "-S", "-m", "runner.procs.guardian", str(table.fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C meant for jobdeck must not reach it first
            close_fds=True,
            pass_fds=(table.fd,),
            cwd="/",
            env=python_child_environment(),
        )
        self._process = process
        threading.Thread(target=self._watch, args=(process,), name="jobdeck-guardian-watch", daemon=True).start()

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        import logging

        status = process.wait()
        with self._lock:
            if self._closing or self._process is not process:
                return
            logging.getLogger(__name__).warning(
                "the guardian of shell jobs ended (%s); starting a new one", describe_exit(status)
            )
            self.restarts += 1
        self._replace()

    def _replace(self) -> None:
        import logging

        while True:
            with self._lock:
                if self._closing or self.running or self._table is None:
                    return
                try:
                    self._spawn(self._table)
                    return
                except OSError as error:  # out of processes or file descriptors, say: that may pass
                    logging.getLogger(__name__).error(
                        "could not start a new guardian of shell jobs (%s); trying again in %g s", error, RETRY_S
                    )
            time.sleep(RETRY_S)

    def track(self, group: int) -> None:
        """List a live group (after `start()`)."""
        with self._lock:
            if self._table is not None:
                self._table.add(group)

    def untrack(self, group: int) -> None:
        with self._lock:
            if self._table is not None:
                self._table.discard(group)

    def close(self, timeout: float = 2.0) -> None:
        """Say a clean goodbye (nothing to end) and reap the watcher; blocking, so from a worker thread."""
        with self._lock:
            self._closing = True
            process, self._process = self._process, None
            table, self._table = self._table, None
        if table is not None:
            table.close()
        if process is None or process.stdin is None:
            return
        import subprocess

        with contextlib.suppress(OSError):
            process.stdin.write(b"bye\n")
            process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # only the pipe says when to act
    table = int(sys.argv[1])
    for line in sys.stdin.buffer:
        if line.strip() == b"bye":
            return 0
    end_groups_blocking(groups_in(table), GRACE_S)
    return 0


if __name__ == "__main__":
    # Without Python's tear-down: there is nothing to flush or close, and jobdeck waits for this exit at its end.
    os._exit(main())
