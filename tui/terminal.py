"""The dashboard's terminal driver: Textual's own, made safe for a terminal that goes away.

Textual writes the screen from a writer thread fed by a small queue. When the terminal is closed (an SSH
connection dropped, a terminal window closed) the thread's next write fails with EIO and the thread dies;
the queue then fills, and the app blocks for good on its next write, where no signal handler of the event
loop can run any more. `TerminalDriver` keeps the writer alive by dropping the screen's output once the
terminal has failed, and tells its app (a `TerminalOwner`) once, whichever side noticed first: a write or
the reading of keys.
"""

from __future__ import annotations

import contextlib
import os
import sys
import termios
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TextIO, runtime_checkable

from textual.drivers.linux_driver import LinuxDriver

if TYPE_CHECKING:
    from textual.app import App

RESTORE_SEQUENCES = (
    "\x1b[<u"  # pop the kitty keyboard mode
    "\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l"  # mouse reporting off
    "\x1b[?2004l"  # bracketed paste off
    "\x1b[?1004l"  # focus reporting off
    "\x1b[?7h"  # line wrap on
    "\x1b[?1049l"  # leave the alternate screen
    "\x1b[?25h"  # show the cursor
)
"""What a terminal left in application mode needs to be usable again; Textual sends these itself when it ends
normally, and `restore` only when it could not."""


@runtime_checkable
class TerminalOwner(Protocol):
    """An app that wants to know about its terminal (the dashboard)."""

    def terminal_attached(self, driver: TerminalDriver) -> None:
        """The driver exists: the app runs on a real terminal (not headless, as under test)."""
        ...

    def terminal_lost(self, reason: str) -> None:
        """The terminal is gone. Called once, from the writer or the input thread: must be thread-safe."""
        ...


class TerminalOutput:
    """The file the writer thread writes the screen to. Once a write fails it reports the loss and drops
    everything after it, so the thread lives on and never blocks the app."""

    def __init__(self, file: TextIO, on_lost: Callable[[str], None]) -> None:
        self._file = file
        self._on_lost = on_lost
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._file.write(text)
            except (OSError, ValueError) as error:
                self._lose(error)
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._file.flush()
            except (OSError, ValueError) as error:
                self._lose(error)

    def fileno(self) -> int:
        return self._file.fileno()

    def _lose(self, error: Exception) -> None:
        self.lost = True
        self._on_lost(f"writing to the terminal failed ({_describe(error)})")


class TerminalDriver(LinuxDriver):
    """Textual's Linux driver whose output never blocks and whose input thread ends quietly on a lost terminal.

    `released` is set once the driver has given the terminal back (application mode left and every write done):
    from then on the process may end without leaving the terminal in a mess."""

    def __init__(self, app: App[Any], **options: Any) -> None:
        super().__init__(app, **options)
        self.released = threading.Event()
        self._lost_lock = threading.Lock()
        self.lost_reason: str | None = None
        self._owner = app if isinstance(app, TerminalOwner) else None
        self._output = TerminalOutput(sys.__stderr__ or sys.stderr, self._report_lost)
        self._file = self._output  # what the writer thread, made in start_application_mode, writes to
        if self._owner is not None:
            self._owner.terminal_attached(self)

    def run_input_thread(self) -> None:
        try:
            super().run_input_thread()
        except OSError as error:  # EIO once the terminal has hung up: no traceback for nobody to read
            self._report_lost(f"reading the terminal failed ({_describe(error)})")

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.released.set()

    def _report_lost(self, reason: str) -> None:
        with self._lost_lock:
            if self.lost_reason is not None:
                return
            self.lost_reason = reason
        self._output.lost = True
        if self._owner is not None:
            self._owner.terminal_lost(reason)

    def restore(self) -> None:
        """Give the terminal back directly, for when Textual could not (its event loop stuck): best effort."""
        if self.released.is_set() or self.lost_reason is not None:
            return
        fd = self.fileno
        with contextlib.suppress(OSError, termios.error):
            if self.attrs_before is not None:
                termios.tcsetattr(fd, termios.TCSANOW, self.attrs_before)
        with contextlib.suppress(OSError, ValueError):
            os.write(self._output.fileno(), RESTORE_SEQUENCES.encode())


def _describe(error: Exception) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error) or type(error).__name__
