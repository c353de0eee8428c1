"""A key's frame goes out before the next pull of the engine's changes.

The dashboard pulls the engine's changes ten times a second. With a thousand state changes a second, a pull
re-sorts the panes and marks them whole for redrawing, so a key pressed just before it waited for the pull
and then for a frame that drew every pane, where its own effect (a cursor moved one row) needs two lines.
So while a key's frame is on its way, the timer's pull waits; it runs as soon as that frame has gone out (or
after KEY_FRAME_WAIT_S at the latest, so that holding a key down cannot stop the panes from moving).
A command's own pull (a job paused: its row moves) is not held back: it is what the key is waiting for.
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
        """When the key whose frame is on its way was pressed."""
        self._pull_waiting = False

    def key_pressed(self, handler: MessagePump) -> None:
        """A key went to `handler` (the focused widget, say), or was handled already (an app's binding): the
        frame to wait for is the first one after `handler` has dealt with it, whose queue holds it before ours."""
        if self._key_at is None:
            handler.call_after_refresh(self._frame_out)
        self._key_at = time.monotonic()

    def tick(self) -> None:
        """The timer's pull: now, unless a key's frame is on its way."""
        if self._key_at is not None and time.monotonic() - self._key_at < KEY_FRAME_WAIT_S:
            self._pull_waiting = True
            return
        self._pull_waiting = False
        self._pull()

    def _frame_out(self) -> None:
        self._key_at = None
        if self._pull_waiting:
            self._pull_waiting = False
            self._pull()
