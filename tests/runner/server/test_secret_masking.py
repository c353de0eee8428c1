"""Secrets from `${VAR}` never reach what jobdeck writes or shows: a real server and a real HTTP server on
127.0.0.1, a deck whose URLs, shell output and errors carry the values, and every place text ends up."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import anyio

from runner.demo.server import DemoServer
from runner.server.client import Client, status, stop_server
from tests.conftest import Place
from tests.helpers import jobdeck, wait_until

SECRETS = {"PASS": "hunter2-pass", "TOKEN": "tok-abcdef123", "KEY": "key-9876543210"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def secret_deck(folder: Path, server_url: str) -> Path:
    host = server_url.removeprefix("http://")
    deck = folder / "secrets.toml"
    deck.write_text(f"""
[[job]]
name = "fetched"
fetch = "http://bob:${{PASS}}@{host}/flaky/${{TOKEN}}?fail=0&q=${{KEY}}"

[[job]]
name = "missing"
fetch = "http://bob:${{PASS}}@{host}/${{TOKEN}}/x?q=${{KEY}}"

[[job]]
name = "refused"
fetch = "http://127.0.0.1:{closed_port()}/${{TOKEN}}/y?q=${{KEY}}"

[[job]]
name = "echoed"
shell = "echo token ${{TOKEN}}; echo key ${{KEY}} >&2; exit 3"
""")
    return deck


def leaked(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [name for name, value in SECRETS.items() if value.encode() in data]


def files_bytes(*paths: Path) -> bytes:
    """A SQLite journal with its WAL and shared-memory files, whichever exist."""
    return b"".join(
        candidate.read_bytes()
        for path in paths
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        if candidate.exists()
    )


def raw_replies(socket_path: Path, job_ids: list[str]) -> str:
    """The server's replies to a dashboard's requests, as the JSON that crossed the socket."""

    async def ask() -> str:
        async with await Client.connect(socket_path) as client:
            replies: list[Any] = [await client.request("snapshot", since=0)]
            for job_id in job_ids:
                replies.append(await client.request("output", job=job_id, after=0))
                replies.append(await client.request("spec", job=job_id))
            return json.dumps(replies)

    return anyio.run(ask)


def test_no_secret_reaches_the_log_the_journal_replies_or_reports(
    place: Place, http_server: DemoServer, tmp_path: Path
) -> None:
    http_server.reset()
    deck = secret_deck(tmp_path, http_server.url)
    journal = place.root / "journal.db"
    env = {
        **os.environ,
        **SECRETS,
        "JOBDECK_SOCKET": str(place.socket),
        "JOBDECK_LOG": str(place.log),
        "JOBDECK_DB": str(journal),
    }
    submitted = jobdeck("submit", deck, env=env)
    assert submitted.returncode == 0, submitted.stderr

    def finished() -> bool:
        jobs = [job for report in status(place.socket)["decks"] for job in report["jobs"]]
        return len(jobs) == 4 and all(job["state"] in ("succeeded", "failed") for job in jobs)

    wait_until(finished, what="every job ended")
    reported = jobdeck("status", "--json", env=env)
    replies = raw_replies(place.socket, ["secrets/echoed", "secrets/refused", "secrets/missing"])
    assert stop_server(place.socket) is not None

    jobs = {job["name"]: job for job in json.loads(reported.stdout)["decks"][0]["jobs"]}
    assert jobs["fetched"]["state"] == "succeeded"
    assert http_server.hits(SECRETS["TOKEN"]), "the request went out with the real value"
    host = http_server.url.removeprefix("http://")
    assert jobs["fetched"]["result"]["url"] == f"http://bob:***@{host}/flaky/***?fail=0&q=***"
    assert "/***/y" in jobs["refused"]["error"]
    assert '"token ***"' in replies and '"key ***"' in replies
    # The detail view's spec shows the URL requested, not only the one written, masked the same way.
    assert f'["url", "http://bob:***@{host}/***/x?q=***"]' in replies
    assert '["as written", "http://bob:${PASS}@' in replies
    assert leaked(reported.stdout) == []
    assert leaked(replies) == []
    assert leaked(place.log.read_text()) == []
    assert leaked(files_bytes(journal)) == []

    run_journal = tmp_path / "run.db"
    ran = jobdeck("run", "--json", "--db", run_journal, deck, env=env)
    report = json.loads(ran.stdout)
    assert [job["state"] for job in report["jobs"]] == ["succeeded", "failed", "failed", "failed"]
    assert "/***/y" in report["jobs"][2]["error"]
    assert leaked(ran.stdout + ran.stderr) == []
    assert leaked(files_bytes(run_journal)) == []
