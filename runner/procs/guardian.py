"""A small watcher process that ends the shell jobs' process groups if jobdeck dies without ending them.

jobdeck ends every group it starts when it stops, is cancelled or gets a signal it can handle. Only a death
it cannot handle (SIGKILL, the OOM killer, a crash) would leave shell jobs running on, as orphans. So the
shell kind tells this watcher, over a pipe, which groups are live ("+PGID" / "-PGID" lines); when the pipe
reaches end of file without a clean "bye", jobdeck is gone, and the watcher ends the groups still listed
(`end_groups_blocking`: SIGTERM, then SIGKILL to those left after a grace period). (Process workers have a
watchdog of their own in worker_main.)

Run as `python -P -m runner.procs.guardian`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

from runner.procs.process_groups import end_groups_blocking

GRACE_S = 3.0


class GroupGuardian:
    """The jobdeck side: `start()` once (blocking, so from a worker thread), then `track`/`untrack` groups."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        from runner.procs.pool import python_child_environment

        if self.running:
            return
        self._process = subprocess.Popen(
            [sys.executable, "-P", "-m", "runner.procs.guardian"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C meant for jobdeck must not reach it first
            close_fds=True,
            cwd="/",
            env=python_child_environment(),
        )

    def track(self, group: int) -> None:
        self._send(f"+{group}\n")

    def untrack(self, group: int) -> None:
        self._send(f"-{group}\n")

    def close(self, timeout: float = 2.0) -> None:
        """Say a clean goodbye (nothing to end) and reap the watcher; blocking, so from a worker thread."""
        process, self._process = self._process, None
        if process is None or process.stdin is None:
            return
        with contextlib.suppress(OSError):
            process.stdin.write(b"bye\n")
            process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _send(self, line: str) -> None:
        # A few bytes on a pipe the watcher drains at once: never blocks in practice.
        process = self._process
        if process is None or process.stdin is None:
            return
        with contextlib.suppress(OSError):
            os.write(process.stdin.fileno(), line.encode())


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # only the pipe says when to act
    groups: set[int] = set()
    for raw in sys.stdin.buffer:
        line = raw.strip()
        if line == b"bye":
            return 0
        with contextlib.suppress(ValueError):
            if line.startswith(b"+"):
                groups.add(int(line[1:]))
            elif line.startswith(b"-"):
                groups.discard(int(line[1:]))
    end_groups_blocking(groups, GRACE_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
