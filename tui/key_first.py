"""A key's frame goes out before the next pull of the engine's changes.

The dashboard pulls the engine's changes ten times a second. With a thousand state changes a second, a pull
re-sorts the panes and marks them whole for redrawing, so a key pressed just before it waited for the pull
and then for a frame that drew every pane, where its own effect (a cursor moved one row) needs two lines.
So while a key's frame is on its way, the timer's pull waits; it runs as soon as that frame has gone out (or
after KEY_FRAME_WAIT_S at the latest, so that holding a key down cannot stop the panes from moving).
A command's own pull (a job paused: its row moves) is not held back: it is what the key is waiting for.

A key whose command goes to a server waits for its answer, and frames go out meanwhile: the key's frame is
the first one after the answer. Had the timer's pull run during the round trip, that frame would redraw every
pane (30-40 ms on a busy small machine) where the command's own redraw is one row.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.message_pump import MessagePump

KEY_FRAME_WAIT_S = 0.25
"""The longest the timer's pull waits for a key's frame."""


class KeyFirst:
    def __init__(self, pull: Callable[[], None]) -> None:
        self._pull = pull
        self._key_at: float | None = None
        """When the key whose frame is on its way was pressed (or its command sent or answered)."""
        self._frame_awaited = False
        self._commands = 0
        """Commands sent to the engine and not yet answered."""
        self._pull_waiting = False

    def key_pressed(self, handler: MessagePump) -> None:
        """A key went to `handler` (the focused widget, say), or was handled already (an app's binding): the
        frame to wait for is the first one after `handler` has dealt with it, whose queue holds it before ours."""
        if not self._frame_awaited:
            self._frame_awaited = True
            handler.call_after_refresh(self._frame_out)
        self._key_at = time.monotonic()

    def command_sent(self) -> None:
        """A key's command went to the engine: the frames before its answer are not the key's."""
        self._commands += 1
        self._key_at = time.monotonic()

    def command_answered(self, handler: MessagePump) -> None:
        """The command is answered (its effect is shown through `handler` next): the key's frame is the next one."""
        self._commands = max(0, self._commands - 1)
        self.key_pressed(handler)

    def tick(self) -> None:
        """The timer's pull: now, unless a key's frame is on its way."""
        if self._key_at is not None and time.monotonic() - self._key_at < KEY_FRAME_WAIT_S:
            self._pull_waiting = True
            return
        self._pull_waiting = False
        self._pull()

    def _frame_out(self) -> None:
        self._frame_awaited = False
        if self._commands:
            return
        self._key_at = None
        if self._pull_waiting:
            self._pull_waiting = False
            self._pull()
