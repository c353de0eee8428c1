"""A journal that is damaged, emptied under a running server, read-only or on a full disk: the server sets a
damaged one aside and starts afresh, refuses an unwritable one with a clear reason, and keeps running on a full
disk; every client is told what happened and what to do."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.server.client import Client, ensure_server, read_status
from runner.server.server import socket_answers
from tests.conftest import Place
from tests.helpers import fill_disk, jobdeck, process_alive, small_disk, wait_for
from tests.runner.journal.test_recovery import chain_deck, read_pid, wait_states

pytestmark = pytest.mark.anyio


@pytest.fixture
def journal_path(place: Place, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = place.root / "state" / "journal.db"
    path.parent.mkdir()
    monkeypatch.setenv("JOBDECK_DB", str(path))
    return path


@pytest.fixture
def disk(place: Place, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An 8 MiB disk holding the journal (its log grows to 4 MiB before SQLite folds it in)."""
    with small_disk(place.root / "disk", "8m") as folder:
        monkeypatch.setenv("JOBDECK_DB", str(folder / "journal.db"))
        yield folder


def a_journal_with_pages(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE filler (x TEXT)")
        connection.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 100)
    connection.close()


async def server_problems(client: Client) -> list[str]:
    status = await client.request("status")
    problems: list[str] = status["server"]["journal_problems"]
    return problems


async def wait_problem(client: Client, text: str, *, present: bool = True) -> list[str]:
    with anyio.fail_after(10):
        while True:
            problems = await server_problems(client)
            if any(text in problem for problem in problems) is present:
                return problems
            await anyio.sleep(0.05)


async def kill_server(pid: int, socket_path: Path) -> None:
    """SIGKILL, then wait until the process is gone and its socket no longer answers (the process shows as a
    zombie while a thread of it may still be ending, holding the socket open)."""
    os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: not process_alive(pid) and not socket_answers(socket_path), timeout=5)


@pytest.mark.parametrize("where", ["header", "pages"])
def test_a_damaged_journal_is_set_aside_and_status_says_where_it_is_and_what_to_do(
    place: Place, journal_path: Path, where: str
) -> None:
    a_journal_with_pages(journal_path)
    damaged = bytearray(journal_path.read_bytes())
    start, end = (0, 100) if where == "header" else (4096, len(damaged))
    damaged[start:end] = os.urandom(end - start)
    journal_path.write_bytes(bytes(damaged))

    assert jobdeck("start-server", "--socket", place.socket).returncode == 0
    shown = jobdeck("status", "--socket", place.socket)

    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stdout + shown.stderr
    (kept,) = journal_path.parent.glob("journal.db.corrupt-????????-??????")
    assert kept.read_bytes() == bytes(damaged), "the damaged journal is kept as it was"
    assert f"warning: the journal {journal_path} was damaged" in shown.stdout
    assert f"it was moved to {kept}" in shown.stdout
    assert "submit again" in shown.stdout and f"sqlite3 {kept} .recover" in shown.stdout
    assert "Traceback" not in place.log.read_text() if place.log.exists() else True
    with sqlite3.connect(journal_path) as fresh:
        assert fresh.execute("PRAGMA quick_check").fetchone() == ("ok",)
    fresh.close()


async def test_a_journal_emptied_under_the_server_is_written_again_and_survives_kill_9(
    place: Place, journal_path: Path, tmp_path: Path
) -> None:
    deck, log = chain_deck(place)
    other = tmp_path / "other.toml"
    other.write_text('[deck]\nname = "other"\n\n[[job]]\nname = "one"\nshell = "true"\n')
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.request("load", path=str(deck))
        await wait_states(client, {"quick": "succeeded", "long": "running", "last": "queued"})
        await client.request("status")  # committed
        os.truncate(journal_path, 0)
        await client.request("load", path=str(other))  # a change to write: the server finds its journal emptied
        problems = await wait_problem(client, "was emptied")
        first_pid = client.server.pid
    assert "nothing is lost" in problems[0]
    (kept,) = journal_path.parent.glob("journal.db.corrupt-????????-??????")
    assert str(kept) in problems[0]
    long_pid = await read_pid(place.root / "long.pid")
    await kill_server(first_pid, place.socket)
    await wait_for(lambda: not process_alive(long_pid), timeout=10)

    async with await ensure_server(place.socket, log_path=place.log) as client:
        jobs = await wait_states(client, {"quick": "succeeded", "long": "running", "last": "queued"})
        assert len(jobs["quick"]["attempts"]) == 1
        await client.request("command", command="cancel", job="chain/long")
        await wait_states(client, {"long": "cancelled", "last": "skipped"})
    assert sorted(log.read_text().split()) == ["long", "long", "quick"], "what finished stays finished"


def test_a_read_only_journal_folder_stops_the_server_with_a_clear_reason(
    place: Place, journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() == 0:  # root writes through permissions: a read-only file system it is
        folder = place.root / "readonly"
        context = small_disk(folder, "1m")
        context.__enter__()
        try:
            journal_path = folder / "journal.db"
            a_journal_with_pages(journal_path)
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
            monkeypatch.setenv("JOBDECK_DB", str(journal_path))
            shown = start_with_log(place)
        finally:
            context.__exit__(None, None, None)
    else:
        a_journal_with_pages(journal_path)
        journal_path.parent.chmod(0o500)
        try:
            shown = start_with_log(place)
        finally:
            journal_path.parent.chmod(0o700)
    assert shown.returncode != 0
    assert "Traceback" not in shown.stderr + place.log.read_text()
    assert f"cannot open the journal {journal_path}" in shown.stderr
    assert "JOBDECK_DB=PATH" in shown.stderr and "writable" in shown.stderr
    assert "the jobdeck server could not start" in shown.stderr


def start_with_log(place: Place) -> subprocess.CompletedProcess[str]:
    return jobdeck("start-server", "--socket", place.socket, env={**os.environ, "JOBDECK_LOG": str(place.log)})


async def test_a_full_disk_keeps_the_server_running_warns_clients_and_writes_once_there_is_room(
    place: Place, disk: Path, tmp_path: Path
) -> None:
    deck = tmp_path / "many.toml"
    items = ", ".join(map(str, range(60)))
    deck.write_text(f'[deck]\nname = "many"\n\n[[job]]\nname = "job"\neach = [{items}]\nshell = "true"\n')
    async with await ensure_server(place.socket, log_path=place.log) as client:
        filler = fill_disk(disk)
        await client.request("load", path=str(deck))
        problems = await wait_problem(client, "journal cannot be written: disk full at")
        assert "jobs keep running, but would not survive a crash" in problems[0]
        snapshot = await client.request("snapshot", since=0)  # the dashboard's summary says so too, short
        assert any(line.startswith("journal cannot be written: disk full") for line in snapshot["kinds"])
        await wait_all(client, "many", 60, "succeeded")  # clients see the jobs end all the same
        filler.unlink()
        await wait_problem(client, "journal cannot be written", present=False)
        pid = client.server.pid
    log = place.log.read_text()
    assert log.count("journal cannot be written: disk full") == 1, "logged once, not at each retry"
    assert "Traceback" not in log
    await kill_server(pid, place.socket)
    async with await ensure_server(place.socket, log_path=place.log) as client:
        history = await client.request("history")
    assert history["runs"][0]["counts"] == {"succeeded": 60}, "every change reached the journal once it could"


async def wait_all(client: Client, deck: str, count: int, state: str) -> dict[str, Any]:
    with anyio.fail_after(20):
        while True:
            status = await read_status(client)
            reports = [report for report in status["decks"] if report["deck"] == deck]
            if reports and sum(job["state"] == state for job in reports[0]["jobs"]) == count:
                return dict(reports[0])
            await anyio.sleep(0.1)


async def test_a_server_that_finds_the_disk_full_at_start_says_so_and_restores_once_there_is_room(
    place: Place, disk: Path
) -> None:
    deck, log = chain_deck(place)

    def starts_of_long() -> int:
        return log.read_text().split().count("long") if log.exists() else 0

    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.request("load", path=str(deck))
        await wait_states(client, {"quick": "succeeded", "long": "running", "last": "queued"})
        await wait_for(lambda: starts_of_long() == 1, what="long started")  # running is told before its shell runs
        await client.request("status")
        pid = client.server.pid
    await kill_server(pid, place.socket)
    filler = fill_disk(disk)

    refused = start_with_log(place)

    assert refused.returncode != 0
    assert "the jobdeck server could not start: cannot open the journal" in refused.stderr
    assert "the disk is full" in refused.stderr and "free some space" in refused.stderr
    assert "Traceback" not in refused.stderr + place.log.read_text()
    filler.unlink()
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await wait_states(client, {"quick": "succeeded", "long": "running", "last": "queued"})
        await wait_for(lambda: starts_of_long() == 2, what="long started again")
        await client.request("command", command="cancel", job="chain/long")
        await wait_states(client, {"long": "cancelled", "last": "skipped"})
    assert sorted(log.read_text().split()) == ["long", "long", "quick"], "nothing was lost meanwhile"
