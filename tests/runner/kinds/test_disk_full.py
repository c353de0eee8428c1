"""A job that finds the disk full: a retryable error that says which file could not be written, and why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.model import JobState
from tests.helpers import small_disk

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]


async def test_a_fetch_that_finds_the_disk_full_is_retried_and_says_which_file(
    write_deck: WriteDeck, server_url: str, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk", "64k") as disk:
        deck = write_deck(f"""
            [deck]
            out_dir = "{disk}"

            [[job]]
            name = "big"
            fetch = "{server_url}/bytes/300000?chunk=10000"
            save = "big.bin"
            retries = 1
            backoff = 0.01
        """)
        async with Engine() as engine:
            await engine.load(deck)
            with anyio.fail_after(30):
                await engine.wait_until_settled()
        left = list(disk.iterdir())
    job = engine.job("big")
    assert job.state is JobState.FAILED
    assert job.error == f"disk full writing {disk / 'big.bin'}: No space left on device"
    assert [attempt.error for attempt in job.attempts] == [job.error] * 2, "a full disk is retried"
    assert left == [], "no partial file is left behind"
