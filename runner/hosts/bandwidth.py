"""Bytes per second shared by several downloads: a token bucket each chunk of a body is paid from.

A chunk is paid in pieces of at most the bucket's size, each as soon as the bucket holds it: a waiting download
holds nothing, so one that is paused or cancelled while it waits leaves at once and costs the others nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from runner.pausing import PauseControl

BURST_S = 0.1
"""The bucket holds this many seconds' worth of bytes: what may pass at once after a quiet spell."""


class ByteBucket:
    def __init__(self, bytes_per_second: float) -> None:
        self.rate = bytes_per_second
        self.size = max(1.0, bytes_per_second * BURST_S)
        self._tokens = self.size
        self._stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.size, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self, count: int, pause: PauseControl) -> None:
        """Wait until `count` bytes may pass; a paused attempt waits for its resume without taking any."""
        left = float(count)
        while left > 0:
            await pause.wait_resumed()
            self._refill()
            piece = min(left, self.size)
            if self._tokens >= piece:
                self._tokens -= piece
                left -= piece
                continue
            await pause.sleep_unless_paused((piece - self._tokens) / self.rate)


class Throttle:
    """The buckets one attempt pays its body's bytes from (its deck's, its host's), with its pause control."""

    def __init__(self, buckets: Sequence[ByteBucket], pause: PauseControl | None) -> None:
        self._buckets = tuple(buckets)
        self._pause = pause

    async def take(self, count: int) -> None:
        """Wait until `count` more bytes of the body may be read."""
        pause = self._pause
        if pause is None:
            return
        for bucket in self._buckets:
            await bucket.take(count, pause)


UNTHROTTLED = Throttle((), None)
