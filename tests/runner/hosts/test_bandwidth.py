"""The byte bucket downloads share: its rate, and a paused or cancelled taker that holds nothing back."""

from __future__ import annotations

import time

import anyio
import pytest

from runner.hosts.bandwidth import ByteBucket
from runner.pausing import PauseControl
from tests.helpers import wait_for

pytestmark = pytest.mark.anyio


async def test_takes_beyond_the_burst_wait_for_the_rate() -> None:
    bucket = ByteBucket(10_000)  # its burst: 1,000 bytes
    started = time.monotonic()
    await bucket.take(3_000, PauseControl())
    assert time.monotonic() - started >= 0.2 - 0.01


async def test_a_paused_taker_lets_the_others_have_the_bytes_until_it_resumes() -> None:
    bucket = ByteBucket(10_000)
    paused, running = PauseControl(), PauseControl()
    done: list[str] = []

    async def take(who: str, pause: PauseControl, count: int) -> None:
        await bucket.take(count, pause)
        done.append(who)

    async with anyio.create_task_group() as group:
        group.start_soon(take, "paused", paused, 100_000)  # 10 s worth
        await wait_for(lambda: bucket.waiting == 1, what="the big taker waits for its next piece")
        paused.pause()
        await wait_for(lambda: bucket.waiting == 0, what="the paused taker stops waiting for bytes")
        group.start_soon(take, "running", running, 2_000)
        await wait_for(lambda: done == ["running"], what="the running taker is served")
        assert bucket.waiting == 0
        with anyio.fail_after(1):
            group.cancel_scope.cancel()  # a cancelled taker leaves at once, holding nothing
    assert done == ["running"]
