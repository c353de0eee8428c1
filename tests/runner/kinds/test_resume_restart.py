"""A download cut short by `kill -9` of the jobdeck server goes on from its partial file once a new server
restores its job from the journal, against a real HTTP server on 127.0.0.1 counting what it sends."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from typing import Any

import anyio
import httpx
import pytest

from runner.demo.server import DemoServer
from runner.server.client import Client, ensure_server
from runner.server.server import socket_answers
from tests.conftest import Place
from tests.helpers import process_alive, wait_for

pytestmark = pytest.mark.anyio
SIZE = 2_000_000


async def big_job(client: Client) -> dict[str, Any]:
    """The job `big` as the server shows it (queued until the server has restored it)."""
    snapshot = await client.request("snapshot", since=0)
    return next((job for job in snapshot["jobs"] if job["name"] == "big"), {"state": "queued", "progress": None})


async def test_a_download_cut_short_by_kill_9_goes_on_from_its_partial_file_after_a_restart(place: Place) -> None:
    files = place.root / "served"
    files.mkdir()
    content = hashlib.sha256(b"big").digest() * (SIZE // 32)
    (files / "big.bin").write_bytes(content)
    deck = place.root / "dl.toml"
    with DemoServer(files=files) as web:
        url = f"{web.url}/files/big.bin?chunk=32768&delay=0.005"
        deck.write_text(
            f'[deck]\nname = "dl"\nout_dir = "out"\n\n[[job]]\nname = "big"\nfetch = "{url}"\nsave = "big.bin"\n'
            f'sha256 = "{hashlib.sha256(content).hexdigest()}"\n'
        )
        async with await ensure_server(place.socket, log_path=place.log, timeout=30) as client:
            await client.request("load", path=str(deck))
            with anyio.fail_after(30):
                while not ((big := await big_job(client))["progress"] and big["progress"]["done"] > 1_100_000):
                    await anyio.sleep(0.05)
            pid = client.server.pid
        os.kill(pid, signal.SIGKILL)
        await wait_for(lambda: not process_alive(pid) and not socket_answers(place.socket), timeout=5)
        kept = (place.root / "out" / ".big.bin.part").stat().st_size
        assert kept > 1_000_000

        async with await ensure_server(place.socket, log_path=place.log, timeout=30) as client:
            with anyio.fail_after(30):
                while (big := await big_job(client))["state"] != "succeeded":
                    assert big["state"] in ("queued", "running"), big
                    await anyio.sleep(0.05)
        log = json.loads(httpx.get(f"{web.url}/sent/big.bin").text)
    assert (place.root / "out" / "big.bin").read_bytes() == content
    assert [request["range"] for request in log["requests"]] == [None, f"bytes={kept}-"]
    assert [request["status"] for request in log["requests"]] == [200, 206]
    # What was in flight when the server was killed is lost (a few chunks); the rest is not sent twice.
    assert log["requests"][1]["sent"] == len(content) - kept, "the restarted server asked only for the rest"
    assert big["result"]["resumed_from"] == kept
