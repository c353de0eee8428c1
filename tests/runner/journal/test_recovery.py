"""A server killed with SIGKILL mid-run, and the next one restoring its deck from the journal."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.demo.server import DemoServer
from runner.server.client import Client, ensure_server
from runner.server.server import socket_answers
from tests.conftest import Place
from tests.helpers import process_alive, wait_for

pytestmark = pytest.mark.anyio


def chain_deck(place: Place) -> tuple[Path, Path]:
    """`quick` succeeds at once; `long` runs until stopped; `last` waits for `long`. Each start is logged."""
    log = place.root / "starts.log"
    deck = place.root / "chain.toml"
    deck.write_text(
        '[deck]\nname = "chain"\n\n'
        f'[[job]]\nname = "quick"\nshell = "echo quick >> {log}"\n\n'
        f'[[job]]\nname = "long"\nshell = "echo long >> {log}; echo $$ > {place.root}/long.pid; exec sleep 60"\n\n'
        f'[[job]]\nname = "last"\nshell = "echo last >> {log}"\nafter = ["long"]\n'
    )
    return deck, log


async def jobs_by_name(client: Client) -> dict[str, dict[str, Any]]:
    snapshot = await client.request("snapshot", since=0)
    return {job["name"]: job for job in snapshot["jobs"]}


async def wait_states(client: Client, wanted: dict[str, str], timeout: float = 10) -> dict[str, dict[str, Any]]:
    with anyio.fail_after(timeout):
        while True:
            jobs = await jobs_by_name(client)
            if all(name in jobs and jobs[name]["state"] == state for name, state in wanted.items()):
                return jobs
            await anyio.sleep(0.05)


async def read_pid(path: Path) -> int:
    """The pid a shell job wrote (a job shows as running a moment before its shell gets that far)."""
    await wait_for(lambda: path.exists() and path.read_text().endswith("\n"), what=f"{path.name} written")
    return int(path.read_text())


async def test_a_killed_server_restarts_with_interrupted_jobs_queued_again_and_finished_ones_kept(
    place: Place,
) -> None:
    deck, log = chain_deck(place)
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.request("load", path=str(deck))
        await wait_states(client, {"quick": "succeeded", "long": "running", "last": "queued"})
        await client.request("status")  # the server commits its journal before it answers
        first_pid = client.server.pid
    long_pid = await read_pid(place.root / "long.pid")
    os.kill(first_pid, signal.SIGKILL)
    await wait_for(lambda: not process_alive(first_pid), timeout=5)
    await wait_for(lambda: not process_alive(long_pid), timeout=10)  # the guardian ends the orphaned shell

    async with await ensure_server(place.socket, log_path=place.log) as client:
        assert client.server.pid != first_pid
        jobs = await wait_states(client, {"quick": "succeeded", "long": "running", "last": "queued"})
        # Running again, it shows its own progress, not a note; its first attempt says it was interrupted.
        assert jobs["long"]["note"] is None
        assert "interrupted" in jobs["long"]["attempts"][0]["error"]
        status = await client.request("status")
        assert any("restored chain" in line for line in status["server"].get("restored", []))
        await wait_for(lambda: (place.root / "long.pid").read_text().strip() != str(long_pid), timeout=5)
        await client.request("command", command="cancel", job="chain/long")
        jobs = await wait_states(client, {"long": "cancelled", "last": "skipped"})
    # quick and long start together, in either order: what counts is how often each ran
    assert sorted(log.read_text().split()) == ["long", "long", "quick"], "quick must not run again; long runs again"


async def test_a_clean_stop_leaves_nothing_to_restore(place: Place) -> None:
    deck, log = chain_deck(place)
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.request("load", path=str(deck))
        await wait_states(client, {"quick": "succeeded", "long": "running"})
        await read_pid(place.root / "long.pid")  # its start is logged
        await client.request("stop")
    await wait_for(lambda: not place.socket.exists(), timeout=10)
    async with await ensure_server(place.socket, log_path=place.log) as client:
        assert await jobs_by_name(client) == {}
        history = await client.request("history")
        assert [run["name"] for run in history["runs"]] == ["chain"]
        assert history["runs"][0]["counts"] == {"succeeded": 1, "cancelled": 2}
    assert sorted(log.read_text().split()) == ["long", "quick"]  # each started once, in either order


async def test_clients_see_a_job_finish_only_once_the_journal_has_committed_it(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from runner.engine.engine import Engine
    from runner.server.server import Server

    deck = tmp_path / "two.toml"
    deck.write_text('[[job]]\nname = "first"\nshell = "true"\n\n[[job]]\nname = "second"\nshell = "sleep 0.2"\n')
    journal_view = SimpleNamespace(committed_revision=0)
    async with Engine() as engine:
        server = Server(engine, tmp_path / "unused.sock", os.getuid(), recorder=journal_view)  # type: ignore[arg-type]
        await engine.load(deck)
        await wait_for(lambda: engine.jobs["two/first"].state.finished, timeout=5)
        journal_view.committed_revision = engine.jobs["two/first"].revision - 1
        shown, upto = server.committed_changes(0)
        assert "two/first" not in {job.id for job in shown} and upto < engine.jobs["two/first"].revision
        journal_view.committed_revision = engine.revision
        shown, upto = server.committed_changes(0)
        assert engine.jobs["two/first"] in shown and upto == engine.revision
        await engine.wait_until_settled()


def download_deck(place: Place, url: str, *, retries: int) -> tuple[Path, Path]:
    """A deck of one download, `big`, saved as out/big.bin; returns the deck's path and the out folder."""
    deck = place.root / "dl.toml"
    deck.write_text(
        '[deck]\nname = "dl"\nout_dir = "out"\n\n[[job]]\nname = "big"\n'
        f'fetch = "{url}"\nsave = "big.bin"\nretries = {retries}\n'
    )
    return deck, place.root / "out"


def parts(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".part")) if folder.exists() else []


async def downloading(client: Client) -> dict[str, Any]:
    """The job `big` once it runs and has received some bytes."""
    with anyio.fail_after(30):
        while True:
            big = (await jobs_by_name(client))["big"]
            if big["state"] == "running" and big["progress"] and big["progress"]["done"] > 0:
                return big
            await anyio.sleep(0.05)


async def kill_server_mid_download(place: Place, deck: Path) -> None:
    """Load the deck into a server of its own, and kill -9 that server once its download is under way."""
    async with await ensure_server(place.socket, log_path=place.log, timeout=30) as client:
        await client.request("load", path=str(deck))
        await downloading(client)
        await client.request("status")  # the server commits its journal before it answers
        pid = client.server.pid
    os.kill(pid, signal.SIGKILL)
    # A killed process shows as a zombie while a thread of it may still be ending, holding the socket open.
    await wait_for(lambda: not process_alive(pid) and not socket_answers(place.socket), timeout=5)


async def test_a_download_cut_short_by_kill_9_runs_again_showing_its_progress_with_one_partial_file(
    place: Place, server_url: str
) -> None:
    """The server is killed mid-download. The next one runs the job again: as it runs, its row shows its bytes (no
    note), its first attempt says it was interrupted, and the download starts over in the same partial file: the
    old one is not left beside it, and none is left once the file is whole."""
    size = 2_000_000
    deck, out = download_deck(place, f"{server_url}/bytes/{size}?chunk=20000&delay=0.05", retries=1)
    await kill_server_mid_download(place, deck)
    left = parts(out)
    assert len(left) == 1, "the killed server left its partial file"

    async with await ensure_server(place.socket, log_path=place.log, timeout=30) as client:
        big = await downloading(client)
        assert big["note"] is None
        assert [attempt["number"] for attempt in big["attempts"]] == [1, 2]
        assert big["attempts"][0]["outcome"] is None and "interrupted" in big["attempts"][0]["error"]
        assert parts(out) == left, "one partial file: the old one was replaced, not kept beside a new one"
        await wait_states(client, {"big": "succeeded"}, timeout=60)
    assert sorted(path.name for path in out.iterdir()) == ["big.bin"]
    assert (out / "big.bin").stat().st_size == size


async def test_a_partial_file_a_killed_server_left_is_removed_even_if_its_job_does_not_get_that_far_again(
    place: Place,
) -> None:
    """The next server removes it when it restores the job: here the web server is gone by then, so the job fails
    before it would take the partial file again."""
    with DemoServer() as web:
        deck, out = download_deck(place, f"{web.url}/bytes/2000000?chunk=20000&delay=0.05", retries=0)
        await kill_server_mid_download(place, deck)
    assert len(parts(out)) == 1
    async with await ensure_server(place.socket, log_path=place.log, timeout=30) as client:
        jobs = await wait_states(client, {"big": "failed"}, timeout=60)
    assert "network error" in jobs["big"]["error"]
    assert list(out.iterdir()) == []
