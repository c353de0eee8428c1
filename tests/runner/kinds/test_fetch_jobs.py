"""Fetch jobs against a real HTTP server on 127.0.0.1: statuses, retries, Retry-After, saving, progress, pause."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.demo.server import DemoServer
from runner.engine.engine import Engine
from runner.model import JobState
from tests.helpers import wait_for, wait_state

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]


async def run_deck(path: Path, environ: dict[str, str] | None = None) -> Engine:
    async with Engine(environ=environ) as engine:
        await engine.load(path)
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    return engine


async def test_a_fetch_streams_its_body_to_the_save_file(
    write_deck: WriteDeck, server_url: str, tmp_path: Path
) -> None:
    engine = await run_deck(
        write_deck(f"""
            [deck]
            out_dir = "downloads"

            [[job]]
            name = "blob"
            fetch = "{server_url}/bytes/300000?chunk=10000"
            save = "data/blob.bin"
        """)
    )
    job = engine.job("blob")
    assert job.state is JobState.SUCCEEDED, job.error
    saved = tmp_path / "downloads" / "data" / "blob.bin"
    assert saved.read_bytes() == bytes(i % 256 for i in range(300000))
    assert job.result == {"status": 200, "bytes": 300000, "url": f"{server_url}/bytes/300000?chunk=10000"}
    assert job.progress is not None
    assert (job.progress.done, job.progress.total, job.progress.unit) == (300000, 300000, "bytes")
    assert [path.name for path in saved.parent.iterdir()] == ["blob.bin"], "no partial file is left behind"


async def test_a_client_error_fails_at_once_without_retries(write_deck: WriteDeck, server_url: str) -> None:
    engine = await run_deck(write_deck(f'[[job]]\nname = "gone"\nfetch = "{server_url}/status/404"\nretries = 3'))
    job = engine.job("gone")
    assert job.state is JobState.FAILED
    assert job.error == "HTTP 404 Not Found"
    assert len(job.attempts) == 1


async def test_expect_accepts_other_statuses(write_deck: WriteDeck, server_url: str) -> None:
    engine = await run_deck(write_deck(f'[[job]]\nname = "gone"\nfetch = "{server_url}/status/404"\nexpect = [404]'))
    assert engine.job("gone").state is JobState.SUCCEEDED


async def test_a_flaky_endpoint_succeeds_after_retries(
    write_deck: WriteDeck, server_url: str, http_server: DemoServer
) -> None:
    engine = await run_deck(
        write_deck(f'[[job]]\nname = "flaky"\nfetch = "{server_url}/flaky/f1?fail=2"\nretries = 3\nbackoff = 0.05')
    )
    job = engine.job("flaky")
    assert job.state is JobState.SUCCEEDED
    assert [attempt.outcome for attempt in job.attempts] == [JobState.FAILED, JobState.FAILED, JobState.SUCCEEDED]
    assert job.attempts[0].error == "HTTP 503 Service Unavailable"
    hits = http_server.hits("f1")
    assert len(hits) == 3
    # backoff 0.05 s doubles each retry, with up to 25% jitter either way
    assert hits[1] - hits[0] >= 0.0375
    assert hits[2] - hits[1] >= 0.075


async def test_retries_run_out_on_a_server_that_keeps_failing(write_deck: WriteDeck, server_url: str) -> None:
    engine = await run_deck(
        write_deck(f'[[job]]\nname = "down"\nfetch = "{server_url}/status/502"\nretries = 2\nbackoff = 0.01')
    )
    job = engine.job("down")
    assert job.state is JobState.FAILED
    assert job.error == "HTTP 502 Bad Gateway"
    assert len(job.attempts) == 3


@pytest.mark.parametrize("status", [408, 429])
async def test_request_timeout_and_too_many_requests_are_retried(
    write_deck: WriteDeck, server_url: str, status: int
) -> None:
    engine = await run_deck(
        write_deck(
            f'[[job]]\nname = "busy"\nfetch = "{server_url}/flaky/s{status}?fail=1&code={status}"\n'
            "retries = 1\nbackoff = 0.01"
        )
    )
    assert engine.job("busy").state is JobState.SUCCEEDED
    assert len(engine.job("busy").attempts) == 2


async def test_retry_after_is_honoured(write_deck: WriteDeck, server_url: str, http_server: DemoServer) -> None:
    engine = await run_deck(
        write_deck(
            f'[[job]]\nname = "limited"\nfetch = "{server_url}/retry-after/ra?fail=1&after=1"\n'
            "retries = 1\nbackoff = 0.01"
        )
    )
    assert engine.job("limited").state is JobState.SUCCEEDED
    first, second = http_server.hits("ra")
    assert second - first >= 0.95, "the server asked for one second, not the 10 ms backoff"


async def test_a_network_error_names_the_problem_and_is_retried(write_deck: WriteDeck) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    engine = await run_deck(
        write_deck(f'[[job]]\nname = "nobody"\nfetch = "http://127.0.0.1:{port}/"\nretries = 1\nbackoff = 0.01')
    )
    job = engine.job("nobody")
    assert job.state is JobState.FAILED
    assert len(job.attempts) == 2
    assert job.error.startswith(f"network error for http://127.0.0.1:{port}/:")


async def test_a_dropped_connection_is_a_network_error(write_deck: WriteDeck, server_url: str) -> None:
    engine = await run_deck(write_deck(f'[[job]]\nname = "dropped"\nfetch = "{server_url}/drop"'))
    assert "network error" in (engine.job("dropped").error or "")


async def test_a_slow_server_times_out(write_deck: WriteDeck, server_url: str) -> None:
    engine = await run_deck(write_deck(f'[[job]]\nname = "slow"\nfetch = "{server_url}/slow?delay=5"\ntimeout = 0.3'))
    assert engine.job("slow").error == "timed out after 0.3 s of active time"


async def test_headers_and_body_are_sent_with_environment_values(write_deck: WriteDeck, server_url: str) -> None:
    engine = await run_deck(
        write_deck(f"""
            [[job]]
            name = "post"
            fetch = "{server_url}/echo"
            method = "POST"
            headers = {{ Authorization = "Bearer ${{TOKEN}}" }}
            body = "hello ${{WHO}}"
            save = "echo.json"
        """),
        environ={"TOKEN": "s3cret", "WHO": "world"},
    )
    job = engine.job("post")
    assert job.state is JobState.SUCCEEDED, job.error
    assert job.spec.work.headers == {"Authorization": "Bearer ${TOKEN}"}, "the spec keeps the template, not the secret"
    echoed = json.loads((Path(job.spec.work.save)).read_text())
    assert echoed["method"] == "POST"
    assert echoed["headers"]["authorization"] == "Bearer s3cret"
    assert echoed["body"] == "hello world"


async def test_a_paused_download_stops_reading_and_resumes(write_deck: WriteDeck, server_url: str) -> None:
    url = f"{server_url}/bytes/20000000?chunk=20000&delay=0.01"
    async with Engine() as engine:
        await engine.load(write_deck(f'[[job]]\nname = "big"\nfetch = "{url}"'))
        job = await wait_state(engine, "big", JobState.RUNNING)
        await wait_for(lambda: job.progress is not None and job.progress.done > 100_000)
        await engine.pause("big")
        await anyio.sleep(0.1)
        assert job.progress is not None
        paused_at = job.progress.done
        await anyio.sleep(0.5)
        assert job.progress.done == paused_at
        await engine.resume("big")
        await wait_for(lambda: job.progress is not None and job.progress.done > paused_at, timeout=3)
        await engine.cancel("big")


async def test_a_file_without_content_length_reports_bytes_without_a_total(
    write_deck: WriteDeck, server_url: str
) -> None:
    engine = await run_deck(write_deck(f'[[job]]\nname = "stream"\nfetch = "{server_url}/bytes/5000?nolength=1"'))
    job = engine.job("stream")
    assert job.state is JobState.SUCCEEDED
    assert job.result["bytes"] == 5000


async def test_a_separate_server_serves_fan_out_pages(write_deck: WriteDeck) -> None:
    with DemoServer() as server:
        engine = await run_deck(
            write_deck(f'[[job]]\nname = "page"\nfetch = "{server.url}/page/{{item}}"\neach = [1, 2, 3, 4, 5]')
        )
    assert [job.state for job in engine.jobs.values()] == [JobState.SUCCEEDED] * 5
