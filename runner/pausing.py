"""Pause state of one running attempt, shared by the engine (which pauses) and the job kind (which obeys).

A kind obeys in the way it can: a shell or process job attaches a suspender (SIGSTOP/SIGCONT of its
process group), a fetch awaits `wait_resumed()` between chunks, a thread job's context blocks in
`wait_running()`.
The same object keeps the attempt's active clock, which stops while paused (and while jobdeck itself was
frozen, see runner.awake_clock), so timeouts count only active time; and it can tell whether the work has
already ended, so that a timeout noticed late does not fail work that ended in time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from runner.awake_clock import AWAKE


@dataclass
class _Suspender:
    suspend: Callable[[], None]
    resume: Callable[[], None]


class PauseControl:
    """Events are made only when needed: most attempts are never paused, and a deck may hold 10,000."""

    def __init__(self) -> None:
        self._paused = False
        self._resumed: anyio.Event | None = None
        self._changed: anyio.Event | None = None
        self._gate: threading.Event | None = None
        self._suspenders: list[_Suspender] = []
        self._active_before = 0.0
        self._running_since: float | None = AWAKE.now()
        self._ended = False
        self._end_probe: Callable[[], bool] | None = None

    @property
    def paused(self) -> bool:
        return self._paused

    def wait_running(self, timeout: float) -> bool:
        """From another thread: wait up to `timeout` seconds while paused; True once running."""
        gate = self._gate  # made by the first pause(), on the event loop
        return True if gate is None else gate.wait(timeout)

    def active_seconds(self) -> float:
        running = 0.0 if self._running_since is None else AWAKE.now() - self._running_since
        return self._active_before + running

    def stop_clock(self) -> None:
        """Freeze the active clock for good (the attempt ended)."""
        if self._running_since is not None:
            self._active_before += AWAKE.now() - self._running_since
            self._running_since = None

    def watch_end(self, probe: Callable[[], bool]) -> None:
        """Tell how to see, without waiting, that the work has ended (say, its process exited)."""
        self._end_probe = probe

    def mark_ended(self) -> None:
        """The work has ended; what it returned is on its way (from any thread)."""
        self._ended = True

    def work_ended(self) -> bool:
        return self._ended or (self._end_probe is not None and self._end_probe())

    def attach(self, suspend: Callable[[], None], resume: Callable[[], None]) -> Callable[[], None]:
        """Register how to suspend the work; returns a function that detaches it again.

        If the attempt is already paused, `suspend` is called at once.
        """
        suspender = _Suspender(suspend, resume)
        self._suspenders.append(suspender)
        if self._paused:
            suspend()

        def detach() -> None:
            if suspender in self._suspenders:
                self._suspenders.remove(suspender)

        return detach

    def pause(self) -> None:
        if self._paused:
            return
        self._paused = True
        self.stop_clock()
        self._resumed = anyio.Event()
        if self._gate is None:
            self._gate = threading.Event()  # created unset: paused
        self._gate.clear()
        for suspender in list(self._suspenders):
            suspender.suspend()
        self._notify()

    def resume(self) -> None:
        if not self._paused:
            return
        self._paused = False
        self._running_since = AWAKE.now()
        for suspender in list(self._suspenders):
            suspender.resume()
        if self._gate is not None:
            self._gate.set()
        if self._resumed is not None:
            self._resumed.set()
        self._notify()

    def _notify(self) -> None:
        if self._changed is not None:
            changed, self._changed = self._changed, None
            changed.set()

    async def wait_resumed(self) -> None:
        """Return at once when running; otherwise wait until resumed."""
        while self._paused and self._resumed is not None:
            await self._resumed.wait()

    async def sleep_unless_paused(self, seconds: float) -> None:
        """Sleep `seconds`, or less: return as soon as the attempt is paused or resumed."""
        if self._changed is None:
            self._changed = anyio.Event()
        changed = self._changed
        with anyio.move_on_after(seconds):
            await changed.wait()

    async def sleep_active(self, seconds: float) -> None:
        """Sleep until `seconds` of active time have passed since the attempt started."""
        while True:
            if self._paused and self._resumed is not None:
                await self._resumed.wait()
                continue
            remaining = seconds - self.active_seconds()
            if remaining <= 0:
                return
            if self._changed is None:
                self._changed = anyio.Event()
            changed = self._changed
            with anyio.move_on_after(remaining):
                await changed.wait()
