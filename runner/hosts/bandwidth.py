"""Bytes per second shared by several downloads: a token bucket each chunk of a body is paid from.

A chunk is paid in pieces of at most the bucket's size, each as soon as the bucket holds it: a waiting download
holds nothing, so one that is paused or cancelled while it waits leaves at once and costs the others nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from runner.pausing import PauseControl

BURST_S = 0.1
"""The bucket holds this many seconds' worth of bytes: what may pass at once after a quiet spell."""


class ByteBucket:
    def __init__(self, bytes_per_second: float) -> None:
        self.rate = bytes_per_second
        self.size = max(1.0, bytes_per_second * BURST_S)
        self._tokens = self.size
        self._stamp = time.monotonic()
        self.waiting = 0
        """Takers asleep until the bucket holds their next piece (a paused one is not among them)."""

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
            self.waiting += 1
            try:
                await pause.sleep_unless_paused((piece - self._tokens) / self.rate)
            finally:
                self.waiting -= 1


class Throttle:
    """What one attempt's request answers to: the buckets it pays its body's bytes from (its deck's, its host's),
    with its pause control, and its host's pacing, told when the request is sent."""

    def __init__(
        self,
        buckets: Sequence[ByteBucket],
        pause: PauseControl | None,
        on_request: Callable[[], None] | None = None,
    ) -> None:
        self._buckets = tuple(buckets)
        self._pause = pause
        self._on_request = on_request

    def sending_request(self) -> None:
        """The request is about to be sent: its host's pacing counts from now (not from when it was let start)."""
        if self._on_request is not None:
            self._on_request()

    @property
    def request_extensions(self) -> dict[str, Any]:
        """httpx request extensions: when the host is paced, a trace that counts its pacing again from when the
        request's headers were written (the client may be held up between deciding to send and sending)."""
        return {"trace": self._trace} if self._on_request is not None else {}

    async def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith(".send_request_headers.complete"):
            self.sending_request()

    async def take(self, count: int) -> None:
        """Wait until `count` more bytes of the body may be read."""
        pause = self._pause
        if pause is None:
            return
        for bucket in self._buckets:
            await bucket.take(count, pause)


UNTHROTTLED = Throttle((), None)
