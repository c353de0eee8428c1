"""What tests all over the suite share: `jobdeck` run as a real subprocess, waiting for a condition with a deadline
(never a fixed sleep), whether a process lives, and a program in a pseudo-terminal of its own.

Three ways to wait, one per kind of test, each polling a condition until a deadline and then failing with `what`:
`wait_until` blocks (subprocess tests), `wait_for` awaits (engine and server tests), `until` lets a Textual
pilot's app run in between (dashboard tests).
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from runner.engine.engine import Engine
    from runner.model import Job, JobState

JOBDECK = [sys.executable, "-m", "runner.cli"]
"""The `jobdeck` command of the Python running the tests, without needing its console script."""
CONSOLE_SCRIPT = Path(sys.executable).with_name("jobdeck")
RUN_TIMEOUT_S = 60.0
"""How long a `jobdeck` subprocess may take before the test fails: a guard against hangs, not a measurement."""
WAIT_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.02
TERMINAL_SETTINGS = {"TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}


def jobdeck(
    *arguments: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = RUN_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """`jobdeck ARGUMENTS` run to its end, its output captured as text; `env` replaces the environment."""
    return subprocess.run(
        [*JOBDECK, *map(str, arguments)], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )


# --- waiting ----------------------------------------------------------------------------------------------------


def not_reached(what: str, timeout: float) -> AssertionError:
    return AssertionError(f"not reached within {timeout:g} s: {what}")


def wait_until(condition: Callable[[], object], *, timeout: float = WAIT_TIMEOUT_S, what: str = "condition") -> None:
    """Block until `condition()` is true; AssertionError naming `what` once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise not_reached(what, timeout)
        time.sleep(POLL_INTERVAL_S)


async def wait_for(
    condition: Callable[[], object], *, timeout: float = WAIT_TIMEOUT_S, what: str = "condition"
) -> None:
    """Await until `condition()` is true, letting other tasks run; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise not_reached(what, timeout)
        await anyio.sleep(POLL_INTERVAL_S)


async def until(pilot: Pilot, condition: Callable[[], object], timeout: float = WAIT_TIMEOUT_S, what: str = "") -> None:
    """Let the pilot's app run until `condition()` is true; AssertionError naming `what` after `timeout`. A job
    the condition names that is not there yet (CommandError: its deck is still being added) counts as not yet."""
    deadline = time.monotonic() + timeout
    while not _holds(condition):
        if time.monotonic() > deadline:
            raise not_reached(what or "condition", timeout)
        await pilot.pause(0.05)


def _holds(condition: Callable[[], object]) -> bool:
    from runner.errors import CommandError

    try:
        return bool(condition())
    except CommandError:
        return False


async def cancel_with_c(pilot: Pilot, cancelled: Callable[[], object]) -> None:
    """Press `c` and wait until `cancelled()`, answering `y` if the dashboard asks first (it does once the job has
    run a few seconds, which a loaded machine can reach in any test)."""
    from tui.screens.dialogs import ConfirmScreen

    await pilot.press("c")
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) or cancelled(), what="cancelled, or asked")
    if isinstance(pilot.app.screen, ConfirmScreen):
        await pilot.press("y")
        await until(pilot, cancelled, what="cancelled after y")


async def wait_state(engine: Engine, name: str, *states: JobState, timeout: float = WAIT_TIMEOUT_S) -> Job:
    """The job once it is in one of `states`; AssertionError with its state and error otherwise."""
    job = engine.job(name)
    try:
        await wait_for(lambda: job.state in states, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"{name} is {job.state}, not {' or '.join(states)}; error: {job.error}") from None
    return job


def file_size(path: Path) -> int:
    """The file's size, 0 while it does not exist."""
    return path.stat().st_size if path.exists() else 0


async def wait_growth(path: Path, *, timeout: float = WAIT_TIMEOUT_S, what: str = "") -> None:
    """Await until the file is larger than it is now (the work writing it goes on)."""
    before = file_size(path)
    await wait_for(lambda: file_size(path) > before, timeout=timeout, what=what or f"{path.name} grows")


async def file_size_after(path: Path, seconds: float) -> tuple[int, int]:
    """The file's size now and `seconds` later: for showing that nothing is written for a while."""
    before = file_size(path)
    await anyio.sleep(seconds)
    return before, file_size(path)


# --- processes --------------------------------------------------------------------------------------------------


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (ended, not yet reaped)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return status != "Z"


# --- a program in a pseudo-terminal -----------------------------------------------------------------------------


class Terminal:
    """The controlling side of a program's pseudo-terminal. Everything the program writes is read (a terminal
    that fills up would block it) and kept in `output`."""

    def __init__(self, process: subprocess.Popen[bytes], fd: int) -> None:
        self.process = process
        self.fd = fd
        self.output = bytearray()
        self.closed = False  # the program's side closed by all that held it, and everything written read
        self.hung_up = False  # the controlling side closed by the test (hang_up)

    def read_available(self, wait: float = POLL_INTERVAL_S) -> None:
        """Read what the program wrote, waiting at most `wait` seconds for something to arrive."""
        if self.closed:
            return
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the other side is closed and nothing is left to read
            chunk = b""
        if chunk:
            self.output.extend(chunk)
        else:
            self.closed = True

    def read_until(self, condition: Callable[[], object], *, timeout: float = 15.0, what: str = "condition") -> None:
        """Read until `condition()` (which may look at `output`) is true."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.closed:
                raise AssertionError(f"the terminal closed before {what}; it showed: {self.tail()!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached within {timeout:g} s: {what}; the terminal shows: {self.tail()!r}")
            self.read_available()

    def read_to_end(self, *, timeout: float = 15.0) -> int:
        """Read until the program has exited and everything it wrote has been read (EOF/EIO, not just its exit:
        its last lines may still be on their way through the terminal then); its exit code."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            if time.monotonic() > deadline:
                raise AssertionError(f"the terminal stayed open for {timeout:g} s; it shows: {self.tail()!r}")
            self.read_available(0.1)
        return self.process.wait(timeout=max(deadline - time.monotonic(), 1.0))

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def hang_up(self) -> None:
        """Close the controlling side, as a terminal window closing or an SSH connection dropping does: the
        program's reads and writes on its terminal fail from then on (EIO)."""
        if not self.hung_up:
            self.hung_up = self.closed = True
            os.close(self.fd)

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def tail(self, size: int = 400) -> str:
        return self.text[-size:]


@contextmanager
def in_terminal(
    *arguments: str | Path, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Iterator[Terminal]:
    """A program in a pseudo-terminal and a session of its own (a 100x30 xterm); killed afterwards if still running.
    `env` replaces the environment (the terminal settings are added to it)."""
    controlling_side, program_side = pty.openpty()
    process = subprocess.Popen(
        [str(argument) for argument in arguments],
        stdin=program_side,
        stdout=program_side,
        stderr=program_side,
        cwd=cwd,
        start_new_session=True,
        env={**(os.environ if env is None else env), **TERMINAL_SETTINGS},
    )
    os.close(program_side)
    terminal = Terminal(process, controlling_side)
    try:
        yield terminal
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if not terminal.hung_up:
            os.close(controlling_side)


# --- a small disk -----------------------------------------------------------------------------------------------


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (as mount's `size=` takes it: "256k") mounted at `folder`, for a disk that fills up;
    the test is skipped where mounting is not allowed (not root, or a container that forbids it)."""
    import pytest

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill_disk(folder: Path) -> Path:
    """Fill the file system of `folder` to the last byte with one file; returns it (delete it to free the space)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass  # full
    finally:
        os.close(fd)
    return filler
