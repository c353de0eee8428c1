"""Downloads that go on from the bytes they have, against a real HTTP server on 127.0.0.1 serving real files with
ranges and validators (runner.demo.files): retries, pauses, servers that ignore Range or answer 416, changed
files, checksums, conditional fetches and stalls."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from runner.demo.files import validators
from runner.demo.server import DemoServer
from runner.engine.engine import Engine
from runner.kinds import fetch
from runner.kinds.transfer_book import PartRecord, Validators
from runner.model import Job, JobState
from tests.helpers import wait_for, wait_state

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]
SIZE = 3_000_000


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="module")
def web(files: Path) -> Iterator[DemoServer]:
    with DemoServer(files=files) as server:
        yield server


def serve(files: Path, name: str, size: int = SIZE, seed: int = 0) -> bytes:
    """A file of `size` bytes the server serves as /files/NAME; returns its content."""
    content = hashlib.sha256(f"{name}{seed}".encode()).digest() * (size // 32 + 1)
    content = content[:size]
    (files / name).write_bytes(content)
    return content


def sent(web: DemoServer, name: str) -> dict[str, Any]:
    return json.loads(httpx.get(f"{web.url}/sent/{name}").text)


async def run(engine: Engine, deck: Path, name: str = "get") -> Job:
    await engine.load(deck)
    with anyio.fail_after(30):
        await engine.wait_until_settled()
    return engine.job(name) if "/" in name else [job for job in engine.jobs.values() if job.name == name][-1]


def deck_text(url: str, *lines: str, save: str | None = "got.bin") -> str:
    keys = "\n".join(lines)
    saving = f'save = "{save}"' if save is not None else ""
    return f'[deck]\nout_dir = "out"\n\n[[job]]\nname = "get"\nfetch = "{url}"\n{saving}\n{keys}\n'


def parts(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".part")) if folder.exists() else []


async def test_a_retry_asks_for_the_rest_with_range_and_if_range(
    write_deck: WriteDeck, web: DemoServer, files: Path, tmp_path: Path
) -> None:
    """The first attempt's connection is cut after 2 MB; the retry asks for the rest only, and the checksum is
    of the whole file (the bytes already held hashed first)."""
    content = serve(files, "retried.bin")
    digest = hashlib.sha256(content).hexdigest()
    url = f"{web.url}/files/retried.bin?drop_after=2000000"
    async with Engine() as engine:
        job = await run(engine, write_deck(deck_text(url, "retries = 1", "backoff = 0", f'sha256 = "{digest}"')))
    assert job.state is JobState.SUCCEEDED, job.error
    assert (tmp_path / "out" / "got.bin").read_bytes() == content
    requests = sent(web, "retried.bin")["requests"]
    assert [request["status"] for request in requests] == [200, 206]
    resumed_from = job.result["resumed_from"]
    assert 0 < resumed_from <= 2_000_000
    assert requests[1]["range"] == f"bytes={resumed_from}-" and requests[1]["if_range"].startswith('"')
    assert [request["sent"] for request in requests] == [2_000_000, SIZE - resumed_from], "only the rest, once"
    assert job.result["checksum"] == "sha256 ok" and job.result["bytes"] == SIZE
    assert parts(tmp_path / "out") == []


async def test_a_pause_lets_the_connection_go_and_the_resume_asks_for_the_rest(
    write_deck: WriteDeck, web: DemoServer, files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "PAUSE_HOLD_S", 0.2)
    content = serve(files, "paused.bin", size=600_000)
    # After 400 kB the first response trickles (a byte every 20 ms), so the pause finds it mid-way whatever the load;
    # the second one, for the rest, is under 400 kB and comes at once.
    url = f"{web.url}/files/paused.bin?stall_after=400000&trickle=0.02"
    async with Engine() as engine:
        await engine.load(write_deck(deck_text(url)))
        job = await wait_state(engine, "get", JobState.RUNNING)
        await wait_for(lambda: job.progress is not None and job.progress.done >= 400_000, what="the trickle")
        await engine.pause("get")
        await wait_for(lambda: sent(web, "paused.bin")["ended"] == 1, what="the connection to be let go")
        assert job.progress is not None
        paused_at = job.progress.done
        assert 400_000 <= paused_at < 600_000
        await engine.resume("get")
        await wait_for(lambda: job.progress is not None and job.progress.done > paused_at, what="more bytes")
        assert job.progress.done >= paused_at, "the progress goes on from where it was"
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    assert job.state is JobState.SUCCEEDED, job.error
    assert (tmp_path / "out" / "got.bin").read_bytes() == content
    requests = sent(web, "paused.bin")["requests"]
    assert [request["status"] for request in requests] == [200, 206]
    assert requests[1]["range"] == f"bytes={paused_at}-"
    assert len(job.attempts) == 1, "one attempt: the pause did not fail it"


async def test_a_server_that_ignores_range_gets_the_file_from_its_first_byte(
    write_deck: WriteDeck, web: DemoServer, files: Path, tmp_path: Path
) -> None:
    content = serve(files, "norange.bin", size=400_000)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".got.bin.part").write_bytes(b"x" * 100_000)
    url = f"{web.url}/files/norange.bin?ranges=0"
    async with Engine() as engine:
        engine.transfers.keep_part(out / "got.bin", PartRecord(url, Validators(etag='"old"'), 400_000, 100_000))
        job = await run(engine, write_deck(deck_text(url)))
    assert job.state is JobState.SUCCEEDED, job.error
    assert sent(web, "norange.bin")["requests"][0]["range"] == "bytes=100000-", "it asked for the rest"
    assert (out / "got.bin").read_bytes() == content, "the 200 replaced what the partial file held"
    assert "resumed_from" not in job.result and parts(out) == []


async def test_a_changed_file_fails_if_range_and_comes_whole(
    write_deck: WriteDeck, web: DemoServer, files: Path, tmp_path: Path
) -> None:
    serve(files, "changed.bin", size=400_000)
    url = f"{web.url}/files/changed.bin"
    etag, _ = validators(files / "changed.bin")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".got.bin.part").write_bytes(b"x" * 100_000)
    content = serve(files, "changed.bin", size=400_000, seed=1)
    os.utime(files / "changed.bin", ns=(1, 1))  # another version: another ETag and date
    async with Engine() as engine:
        engine.transfers.keep_part(out / "got.bin", PartRecord(url, Validators(etag=etag), 400_000, 100_000))
        job = await run(engine, write_deck(deck_text(url)))
    assert job.state is JobState.SUCCEEDED, job.error
    last = sent(web, "changed.bin")["requests"][-1]
    assert last == {"range": "bytes=100000-", "if_range": etag, "status": 200, "sent": 400_000}
    assert (out / "got.bin").read_bytes() == content


async def test_416_for_a_whole_partial_file_finishes_it_without_a_body(
    write_deck: WriteDeck, web: DemoServer, files: Path, tmp_path: Path
) -> None:
    content = serve(files, "whole.bin", size=200_000)
    url = f"{web.url}/files/whole.bin"
    out = tmp_path / "out"
    out.mkdir()
    (out / ".got.bin.part").write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    async with Engine() as engine:
        record = PartRecord(url, Validators(*validators(files / "whole.bin")), None, 200_000)
        engine.transfers.keep_part(out / "got.bin", record)
        job = await run(engine, write_deck(deck_text(url, f'checksum = "sha256:{digest.upper()}"')))
    assert job.state is JobState.SUCCEEDED, job.error
    assert [request["status"] for request in sent(web, "whole.bin")["requests"]] == [416]
    assert (out / "got.bin").read_bytes() == content and parts(out) == []


async def test_416_for_a_partial_file_longer_than_the_file_starts_over(
    write_deck: WriteDeck, web: DemoServer, files: Path, tmp_path: Path
) -> None:
    content = serve(files, "shorter.bin", size=100_000)
    url = f"{web.url}/files/shorter.bin"
    out = tmp_path / "out"
    out.mkdir()
    (out / ".got.bin.part").write_bytes(b"x" * 150_000)
    async with Engine() as engine:
        record = PartRecord(url, Validators(*validators(files / "shorter.bin")), None, 150_000)
        engine.transfers.keep_part(out / "got.bin", record)
        job = await run(engine, write_deck(deck_text(url)))
    assert job.state is JobState.SUCCEEDED, job.error
    assert [request["status"] for request in sent(web, "shorter.bin")["requests"]] == [416, 200]
    assert (out / "got.bin").read_bytes() == content


async def test_a_checksum_mismatch_fails_keeps_the_good_file_and_leaves_no_partial_file(
    write_deck: WriteDeck, web: DemoServer, files: Path, tmp_path: Path
) -> None:
    serve(files, "bad.bin", size=300_000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "got.bin").write_bytes(b"the good file")
    url = f"{web.url}/files/bad.bin"
    async with Engine() as engine:
        job = await run(engine, write_deck(deck_text(url, f'sha256 = "{"ab" * 32}"', "retries = 1", "backoff = 0")))
    assert job.state is JobState.FAILED
    assert len(job.attempts) == 2, "a mismatch is retried"
    assert job.error is not None and job.error.startswith(
        f"sha256 mismatch for {out / 'got.bin'}: expected {'ab' * 32}, got "
    )
    assert (out / "got.bin").read_bytes() == b"the good file" and parts(out) == []
    requests = sent(web, "bad.bin")["requests"]
    assert [request["range"] for request in requests] == [None, None], "the retry started clean"


async def test_a_checksum_without_save_checks_the_streamed_body(
    write_deck: WriteDeck, web: DemoServer, files: Path
) -> None:
    content = serve(files, "unsaved.bin", size=100_000)
    url = f"{web.url}/files/unsaved.bin"
    async with Engine() as engine:
        good = await run(engine, write_deck(deck_text(url, f'md5 = "{hashlib.md5(content).hexdigest()}"', save=None)))
        bad = await run(engine, write_deck(deck_text(url, f'md5 = "{"0" * 32}"', save=None), "bad.toml"))
    assert good.state is JobState.SUCCEEDED and good.result["checksum"] == "md5 ok"
    assert bad.state is JobState.FAILED and bad.error is not None and bad.error.startswith("md5 mismatch")


async def test_if_changed_asks_with_the_last_validators_and_a_304_leaves_the_file(
    write_deck: WriteDeck, web: DemoServer, files: Path, tmp_path: Path
) -> None:
    serve(files, "feed.xml", size=50_000)
    url = f"{web.url}/files/feed.xml"
    deck = write_deck(deck_text(url, "if_changed = true"))
    saved = tmp_path / "out" / "got.bin"
    async with Engine() as engine:
        first = await run(engine, deck)
        assert first.state is JobState.SUCCEEDED and first.result["status"] == 200
        written = saved.stat()
        second = await run(engine, deck)
        assert second.state is JobState.SUCCEEDED, second.error
        assert second.result == {"status": 304, "bytes": 50_000, "unchanged": True, "url": url}
        assert saved.stat().st_mtime_ns == written.st_mtime_ns and saved.stat().st_ino == written.st_ino
        content = serve(files, "feed.xml", size=60_000, seed=1)
        third = await run(engine, deck)
        assert third.result["status"] == 200 and saved.read_bytes() == content
        saved.unlink()  # gone: nothing to ask about, the file is fetched whole
        fourth = await run(engine, deck)
        assert fourth.result["status"] == 200 and saved.read_bytes() == content
    statuses = [request["status"] for request in sent(web, "feed.xml")["requests"]]
    assert statuses == [200, 304, 200, 200]


async def test_if_changed_with_only_a_date_sends_if_modified_since(
    write_deck: WriteDeck, web: DemoServer, files: Path, tmp_path: Path
) -> None:
    serve(files, "dated.txt", size=5_000)
    url = f"{web.url}/files/dated.txt?etag=0"
    deck = write_deck(deck_text(url, "if_changed = true"))
    async with Engine() as engine:
        await run(engine, deck)
        again = await run(engine, deck)
    assert again.result["unchanged"] is True


async def test_a_stalled_download_fails_after_stall_timeout_of_active_time(
    write_deck: WriteDeck, web: DemoServer, files: Path
) -> None:
    serve(files, "stall.bin", size=100_000)
    url = f"{web.url}/files/stall.bin?stall_after=5000&ranges=0"
    async with Engine() as engine:
        await engine.load(write_deck(deck_text(url, "stall_timeout = 0.5")))
        job = await wait_state(engine, "get", JobState.RUNNING)
        await engine.pause("get")  # at once: well before 0.5 s without data could have passed
        await anyio.sleep(0.8)  # paused time does not count: the stall limit is not reached meanwhile
        assert job.state is JobState.PAUSED
        await engine.resume("get")
        with anyio.fail_after(10):
            await engine.wait_until_settled()
    assert job.state is JobState.FAILED
    assert job.error == "stalled: no data for 0.5 s (stall_timeout)"
    assert job.progress is not None and job.progress.done == 5000


async def test_a_trickle_counts_as_a_stall(write_deck: WriteDeck, web: DemoServer, files: Path) -> None:
    serve(files, "trickle.bin", size=100_000)
    url = f"{web.url}/files/trickle.bin?stall_after=2000&trickle=0.05"
    async with Engine() as engine:
        job = await run(engine, write_deck(deck_text(url, "stall_timeout = 0.5", save=None)))
    assert job.state is JobState.FAILED
    assert job.error is not None and job.error.startswith("stalled: only ")


async def test_a_failed_download_keeps_its_partial_file_until_its_deck_is_forgotten(
    write_deck: WriteDeck, web: DemoServer, files: Path, tmp_path: Path
) -> None:
    serve(files, "forgotten.bin", size=2_000_000)
    url = f"{web.url}/files/forgotten.bin?drop_after=1500000"
    out = tmp_path / "out"
    async with Engine() as engine:
        job = await run(engine, write_deck(deck_text(url)))
        assert job.state is JobState.FAILED and "network error" in (job.error or "")
        assert parts(out) == [".got.bin.part"], "kept for a retry to go on from"
        assert engine.transfers.part(out / "got.bin") is not None
        await engine.forget("deck")
        await wait_for(lambda: parts(out) == [], what="the partial file to go")
        await wait_for(lambda: engine.transfers.part(out / "got.bin") is None, what="its record to go")
