"""Ending the dashboard's process by a deadline, whatever still runs in it.

A dashboard whose terminal is gone, that got SIGTERM, or whose user chose to quit without waiting must end
even when a job cannot be interrupted: a call on a thread that never reaches a checkpoint holds the event
loop's last task, and with it the interpreter's exit, for as long as the function runs. Once armed, the
deadline waits on a thread of its own; when it passes it asks the app to leave at once, gives the app a moment
to hand the terminal back, says the app's last words and ends the process with `os._exit`. Nothing is orphaned
by that: the shell jobs' guardian ends their process groups and process workers watch their parent.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Protocol

RELEASE_WAIT_S = 2.0
"""How long the app may take to hand the terminal back once told to leave at once."""


class Leaver(Protocol):
    """The app the deadline ends."""

    def leave_at_once(self) -> None:
        """Leave now, waiting for nothing the jobs hold. Thread-safe."""
        ...

    def wait_terminal_released(self, timeout: float) -> bool:
        """Wait until the terminal is handed back (or was never taken); False after `timeout` seconds."""
        ...

    def restore_terminal(self) -> None:
        """Hand the terminal back directly: the app could not."""
        ...

    def say_last_words(self) -> None:
        """Print what the app stopped and run its clean-ups (once, whoever asks first)."""
        ...


class ExitDeadline:
    def __init__(self, leaver: Leaver) -> None:
        self._leaver = leaver
        self._lock = threading.RLock()  # a signal handler may arm it while the main thread is arming it
        self._due: float | None = None
        self._exit_code = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def armed(self) -> bool:
        return self._due is not None

    def arm(self, seconds: float, *, exit_code: int) -> None:
        """End the process `seconds` from now unless it has ended by then; an earlier deadline stays."""
        due = time.monotonic() + seconds
        with self._lock:
            if self._due is not None and self._due <= due:
                return
            self._due, self._exit_code = due, exit_code
            if self._thread is None:
                self._thread = threading.Thread(target=self._wait, name="jobdeck-exit-deadline", daemon=True)
                self._thread.start()
            else:
                self._wake.set()

    def _wait(self) -> None:
        while True:
            with self._lock:
                assert self._due is not None
                left = self._due - time.monotonic()
                self._wake.clear()
            if left <= 0:
                break
            self._wake.wait(left)
        self._end()

    def _end(self) -> None:
        leaver = self._leaver
        exit_code = self._exit_code
        with contextlib.suppress(Exception):
            leaver.leave_at_once()
        if not leaver.wait_terminal_released(RELEASE_WAIT_S):
            with contextlib.suppress(Exception):
                leaver.restore_terminal()
        with contextlib.suppress(Exception):
            leaver.say_last_words()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(exit_code)
