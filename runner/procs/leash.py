"""The leash: a small process that leads each shell job's process group and ends the group when jobdeck dies.

The guardian (runner.procs.guardian) ends the groups of a killed jobdeck, but it is one process that can be
killed too; a kill of both would leave the jobs running on, and the next jobdeck would run them a second time
in parallel. So each shell job also carries its own watcher, in its own group, which the kernel tells of
jobdeck's death: the leash asks for a signal when its parent dies (`PR_SET_PDEATHSIG`), starts the job's
command as its child in the same group and relays its exit status. When the signal comes and its parent is
really gone (the kernel sends it also when only the *thread* that started the leash ends, in which case the
leash now belongs to another thread of the same jobdeck), it ends its group: SIGTERM and SIGCONT, a grace
period, SIGKILL (which ends the leash too).

The leash ignores the SIGTERM that jobdeck sends the group when it ends a job (the command gets it and exits,
and the leash relays that), and jobdeck resumes the leash alone after pausing the group, so it can act even
while the job is paused.

Run as `python -I -S leash.py JOBDECK_PID GRACE_SECONDS PROGRAM ARGUMENT...`: standard library only (no
`runner` imports), so the job's environment needs no PYTHONPATH and the start stays cheap.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from types import FrameType

PR_SET_PDEATHSIG = 1
PARENT_GONE_SIGNAL = signal.SIGUSR2
"""The signal the kernel sends the leash when its parent dies; not one jobdeck sends to a group."""
POLL_S = 0.02


def ask_for_parent_death_signal() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(PARENT_GONE_SIGNAL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux: the guardian alone watches
        return False


def end_own_group(child: int, grace_s: float) -> None:
    """SIGTERM and SIGCONT to the group, then SIGKILL to all of it (the leash too) after the grace period."""
    os.killpg(0, signal.SIGTERM)
    os.killpg(0, signal.SIGCONT)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            reaped, _ = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            break
        if reaped:
            break
        time.sleep(POLL_S)
    os.killpg(0, signal.SIGKILL)  # the command's own children too, and this process


def relay_exit(status: int) -> None:
    """End the leash the way its child ended: the same exit status, or the same signal."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)  # a signal whose default is not to end the process (cannot happen for a child)
    os._exit(os.waitstatus_to_exitcode(status))


def main(arguments: list[str]) -> None:
    if len(arguments) < 3:
        sys.stderr.write("usage: leash.py JOBDECK_PID GRACE_SECONDS PROGRAM [ARGUMENT...]\n")
        os._exit(2)
    jobdeck_pid, grace_s, command = int(arguments[0]), float(arguments[1]), arguments[2:]
    child = 0

    def on_parent_gone(signum: int, frame: FrameType | None) -> None:
        if os.getppid() != jobdeck_pid:
            end_own_group(child, grace_s)

    # Handlers, not SIG_IGN: the command starts with default dispositions (exec resets handlers only).
    signal.signal(PARENT_GONE_SIGNAL, on_parent_gone)
    for ignored in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(ignored, lambda signum, frame: None)
    watched = ask_for_parent_death_signal()
    child = os.fork()
    if child == 0:
        try:
            for handled in (PARENT_GONE_SIGNAL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(handled, signal.SIG_DFL)
            os.execv(command[0], command)
        finally:
            os._exit(127)
    if watched and os.getppid() != jobdeck_pid:  # jobdeck died before the kernel was asked to tell
        end_own_group(child, grace_s)
    while True:
        try:
            _, status = os.waitpid(child, 0)
        except ChildProcessError:
            os._exit(1)
        relay_exit(status)


if __name__ == "__main__":
    main(sys.argv[1:])
