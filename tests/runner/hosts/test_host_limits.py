"""Per-host limits across decks, against a real HTTP server on 127.0.0.1 that counts connections and notes when
each request started: host_limit, pacing (rate, min_interval), Retry-After pausing a whole host, bandwidth."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.config.user_config import UserConfig
from runner.demo.counting_server import CountingServerProcess as CountingServer
from runner.engine.engine import Engine
from runner.hosts.bandwidth import BURST_S
from runner.model import HostLimits, JobState
from tests.helpers import wait_for

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]
TOLERANCE_S = 0.02
"""Request starts are noted by the server as their line arrives: the client's own jitter is this small."""
PACING_TOLERANCE_S = 0.04
"""Pacing counts from when the client sends a request; on a loaded machine one request can reach the server this
much later after that than the next one does (a garbage collection, the scheduler), shortening the gap it sees."""


async def run_decks(engine: Engine, *paths: Path) -> None:
    for path in paths:
        await engine.load(path)
    with anyio.fail_after(30):
        await engine.wait_until_settled()
    failed = {job.id: job.error for job in engine.jobs.values() if job.state is not JobState.SUCCEEDED}
    assert failed == {}


async def test_host_limit_holds_across_two_decks(write_deck: WriteDeck, counted: CountingServer) -> None:
    url = counted.urls[0]
    decks = [
        write_deck(
            f'[deck]\nname = "d{n}"\nfetch_limit = 2\nhost_limit = 2\n\n'
            f'[[job]]\nname = "w"\nfetch = "{url}/wait/0.1"\neach = [1, 2, 3]\n',
            name=f"d{n}.toml",
        )
        for n in (1, 2)
    ]
    async with Engine() as engine:
        await run_decks(engine, *decks)
    port = counted.port(0)
    counts = counted.counts
    assert len(counts.starts) == 6
    assert counts.peak_busy[port] == 2, "without the host limit the two decks open 4"
    assert counts.peak_open[port] <= 2


async def test_a_job_waiting_for_its_host_is_queued_and_holds_no_fetch_slot(
    write_deck: WriteDeck, counted: CountingServer
) -> None:
    busy, other = counted.urls
    deck = write_deck(f"""
        [deck]
        fetch_limit = 2

        [[job]]
        name = "long"
        fetch = "{busy}/wait/0.4"
        host_limit = 1

        [[job]]
        name = "second"
        fetch = "{busy}/wait/0.01"
        host_limit = 1

        [[job]]
        name = "elsewhere"
        fetch = "{other}/wait/0.01"
    """)
    async with Engine() as engine:
        await engine.load(deck)
        second = engine.job("second")
        await wait_for(lambda: second.note == "host busy", what="second waits for its host")
        assert second.state is JobState.QUEUED
        assert not second.attempts
        # Its deck's second fetch place is free for a job to another host, which finishes meanwhile.
        elsewhere = engine.job("elsewhere")
        await wait_for(lambda: elsewhere.state is JobState.SUCCEEDED, what="the other host's job ran")
        assert engine.job("long").state is JobState.RUNNING
        with anyio.fail_after(30):
            await engine.wait_until_settled()
        assert second.state is JobState.SUCCEEDED and second.note is None
    counts = counted.counts
    starts = {path: at for _port, path, at in counts.starts}
    ends = {path: at for _port, path, at in counts.ends}
    assert starts["/wait/0.01"] >= ends["/wait/0.4"] - TOLERANCE_S


@pytest.mark.parametrize("pacing", ['rate = "5/s"', "min_interval = 0.2"])
async def test_pacing_spaces_request_starts(write_deck: WriteDeck, counted: CountingServer, pacing: str) -> None:
    url = counted.urls[0]
    # A first request opens the connection the others reuse, so that their starts differ only by the pacing.
    warm = write_deck(f'[[job]]\nname = "warm"\nfetch = "{url}/wait/0"\n', name="warm.toml")
    job_paced = write_deck(
        f'[[job]]\nname = "g"\nfetch = "{url}/wait/0"\neach = [1, 2]\n{pacing}\n', name="job_paced.toml"
    )
    deck_paced = write_deck(
        f'[deck]\n{pacing}\n\n[[job]]\nname = "g"\nfetch = "{url}/wait/0"\neach = [1, 2]\n', name="deck_paced.toml"
    )
    async with Engine() as engine:
        await run_decks(engine, warm)
        counted.reset()
        await engine.pause_all()  # both loaded before either starts: no file is read (on a thread) meanwhile
        await engine.load(job_paced)
        await engine.load(deck_paced)
        await engine.resume_all()
        await run_decks(engine)
    counts = counted.counts
    starts = sorted(at for _port, _path, at in counts.starts)
    assert len(starts) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) >= 0.2 - PACING_TOLERANCE_S, gaps


async def test_retry_after_pauses_the_whole_host(write_deck: WriteDeck, counted: CountingServer) -> None:
    url = counted.urls[0]
    deck = write_deck(f"""
        [[job]]
        name = "told"
        fetch = "{url}/retry-after/told/1"
        retries = 1

        [[job]]
        name = "other"
        fetch = "{url}/wait/0"
        after = ["first"]

        [[job]]
        name = "first"
        fetch = "{url}/wait/0.3"
    """)
    async with Engine() as engine:
        await engine.load(deck)
        other = engine.job("other")
        await wait_for(lambda: other.note == "host paused", what="the other job waits for the host")
        assert other.state is JobState.QUEUED
        with anyio.fail_after(30):
            await engine.wait_until_settled()
        assert all(job.state is JobState.SUCCEEDED for job in engine.jobs.values())
    counts = counted.counts
    starts = {path: at for _port, path, at in counts.starts}
    told_at = min(at for _port, path, at in counts.starts if path == "/retry-after/told/1")
    assert starts["/wait/0"] >= told_at + 1 - TOLERANCE_S, "the host was left alone for Retry-After's 1 s"


async def test_bandwidth_is_shared_by_a_hosts_jobs(write_deck: WriteDeck, counted: CountingServer) -> None:
    url, port = counted.urls[1], counted.port(1)
    rate, size = 128_000, 32_000
    deck = write_deck(f"""
        [[job]]
        name = "a"
        fetch = "{url}/bytes/{size}"

        [[job]]
        name = "b"
        fetch = "{url}/bytes/{size}"

        [[job]]
        name = "after"
        fetch = "{url}/wait/0"
        after = ["a", "b"]
    """)
    config = UserConfig(hosts={f"127.0.0.1:{port}": HostLimits(bandwidth=rate)})
    async with Engine(config=config) as engine:
        await run_decks(engine, deck)
    counts = counted.counts
    starts = {path: at for _port, path, at in counts.starts}
    first = min(at for _port, path, at in counts.starts if path.startswith("/bytes/"))
    # Both bodies were paid from one bucket before `after` could start: 64 KB at 128 KB/s, less its burst.
    least = (2 * size - rate * BURST_S) / rate
    assert starts["/wait/0"] - first >= least - TOLERANCE_S


async def test_a_deck_bandwidth_slows_its_downloads(write_deck: WriteDeck, counted: CountingServer) -> None:
    url = counted.urls[0]
    rate, size = 100_000, 40_000
    deck = write_deck(f"""
        [deck]
        bandwidth = "100KB/s"

        [[job]]
        name = "a"
        fetch = "{url}/bytes/{size}"

        [[job]]
        name = "after"
        fetch = "{url}/wait/0"
        after = ["a"]
    """)
    async with Engine() as engine:
        await run_decks(engine, deck)
    counts = counted.counts
    starts = {path: at for _port, path, at in counts.starts}
    assert starts["/wait/0"] - starts[f"/bytes/{size}"] >= (size - rate * BURST_S) / rate - TOLERANCE_S


async def test_the_config_files_fetch_limit_caps_every_deck_together(
    write_deck: WriteDeck, counted: CountingServer
) -> None:
    decks = [
        write_deck(
            f'[deck]\nname = "s{n}"\nfetch_limit = 2\n\n'
            f'[[job]]\nname = "w"\nfetch = "{url}/wait/0.15"\neach = [1, 2]\n',
            name=f"s{n}.toml",
        )
        for n, url in enumerate(counted.urls)
    ]
    async with Engine(config=UserConfig(server_limits={"fetch": 2})) as engine:
        for deck in decks:
            await engine.load(deck)
        await wait_for(
            lambda: any(job.note == "server limit" for job in engine.jobs.values()), what="a job waits for the cap"
        )
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    counts = counted.counts
    busy = sorted((at, +1) for _port, _path, at in counts.starts)
    busy += sorted((at, -1) for _port, _path, at in counts.ends)
    at_once, most = 0, 0
    for _at, change in sorted(busy):
        at_once += change
        most = max(most, at_once)
    assert len(counts.starts) == 4
    assert most == 2, "without the cap the two decks run 4 fetches at once"


async def test_a_download_waiting_for_bandwidth_is_cancelled_at_once(
    write_deck: WriteDeck, counted: CountingServer
) -> None:
    url = counted.urls[0]
    deck = write_deck(f"""
        [deck]
        bandwidth = "2KB/s"

        [[job]]
        name = "slow"
        fetch = "{url}/bytes/400000"
    """)
    async with Engine() as engine:
        await engine.load(deck)
        slow = engine.job("slow")
        bucket = engine._admission._deck_buckets
        await wait_for(lambda: "deck" in bucket and bucket["deck"].waiting == 1, what="slow waits for bandwidth")
        with anyio.fail_after(3):  # its first chunk alone would take the bucket many seconds
            await engine.cancel(slow)
            await engine.wait_until_settled()
        assert slow.state is JobState.CANCELLED
