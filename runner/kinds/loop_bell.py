"""A wake-up of an asyncio event loop from other threads that keeps the GIL on both sides.

`loop.call_soon_threadsafe` wakes the loop through its self-pipe: the waking thread's `send` and the loop's two
`recv`s (its data, then the end of it) each let the GIL go. With thread jobs running, every such release can hand
the GIL to a thread that then holds it while the loop, which has work to do, waits to get it back. A `LoopBell` is
an eventfd written and read with libc's `write` and `read`, which keep the GIL (runner.procs.libc_calls). Rings
between two wake-ups are one wake-up. Where there is no eventfd (not Linux), or libc cannot be loaded, it rings with
`call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from runner.procs.libc_calls import libc_function

_ONE = (1).to_bytes(8, sys.byteorder)


class LoopBell:
    """Calls `on_ring()` on `loop` soon after `ring()` from any thread. `on_ring` must call `quiet()` first, then
    do everything rung for (a ring after `quiet()` wakes the loop again). `close()` on the loop when done."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_ring: Callable[[], None]) -> None:
        self._loop = loop
        self._on_ring = on_ring
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._write: Any = None
        self._read: Any = None
        self._buffer: Any = None
        self._closed = False
        calls = _libc_calls()
        if calls is not None:
            self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._write, self._read, self._buffer = calls
            loop.add_reader(self._fd, on_ring)

    def ring(self) -> None:
        """From any thread: have `on_ring` called on the loop."""
        if self._write is None:
            if not self._closed:
                with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
                    self._loop.call_soon_threadsafe(self._on_ring)
            return
        with self._lock:  # not written after close(), when the number may be another file's
            if self._fd is not None:
                self._write(self._fd, _ONE, 8)

    def quiet(self) -> None:
        """On the loop, in `on_ring`: take back the rings so far."""
        fd = self._fd
        if fd is not None:
            self._read(fd, self._buffer, 8)  # -1 (EAGAIN) when there were none: nothing to take back

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
            self._closed = True
        if fd is not None:
            self._loop.remove_reader(fd)
            os.close(fd)


def _libc_calls() -> tuple[Any, Any, Any] | None:
    """libc's write and read through ctypes.PyDLL, and a buffer of 8 bytes for read; None where there is no
    eventfd or no libc to call."""
    if not hasattr(os, "eventfd"):
        return None
    import ctypes

    write = libc_function("write", (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t), ctypes.c_ssize_t)
    read = libc_function("read", (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t), ctypes.c_ssize_t)
    if write is None or read is None:
        return None
    return write, read, ctypes.create_string_buffer(8)
