"""A server keeps its process workers warm from deck to deck: the next deck's calls run in the same worker, on the
module as its file is now, and the workers end with the server, even when it is killed."""

from __future__ import annotations

import json
import re

from tests.helpers import wait_until
from tests.runner.cli.live_server import LiveServer, live_server

TASKS = """import os
import time
from pathlib import Path

VERSION = {version}


def who():
    return f"{{VERSION}} {{os.getpid()}}"


def hold():
    Path("busy").write_text(str(os.getpid()))
    time.sleep(120)
"""


def deck(server: LiveServer, name: str, function: str = "who") -> str:
    text = f'[deck]\nname = "{name}"\nprocess_limit = 1\n[[job]]\nname = "{function}"\ncall = "tasks:{function}"\n'
    return str(server.write(f"{name}.toml", text))


def run_deck(server: LiveServer, name: str) -> tuple[int, int]:
    """Submit the deck, wait for it, and return what its job saw: (the module's VERSION, the worker's pid)."""
    assert server.jobdeck("submit", deck(server, name)).code == 0
    waited = server.jobdeck("wait", name)
    assert waited.code == 0, (waited.out, waited.err)
    [row] = [json.loads(line) for line in server.jobdeck("export", name, "--json").out.splitlines()]
    version, pid = re.findall(r"\d+", str(row["result"]))
    return int(version), int(pid)


def is_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has ended
    except FileNotFoundError:
        return True


def test_the_next_decks_run_in_the_warm_worker_on_the_edited_module_and_it_ends_with_the_killed_server() -> None:
    with live_server() as server:
        server.write("tasks.py", TASKS.format(version=1))
        version, worker = run_deck(server, "first")
        assert version == 1
        assert run_deck(server, "second") == (1, worker)

        server.write("tasks.py", TASKS.format(version=22))  # edited between decks: no stale code in the warm worker
        assert run_deck(server, "third") == (22, worker)

        # Killed in the middle of a call, the server leaves no worker behind.
        assert server.jobdeck("submit", deck(server, "busy", "hold")).code == 0
        busy = server.root / "busy"
        wait_until(busy.exists, what="the call to start")
        assert int(busy.read_text()) == worker
        server.kill()
        wait_until(lambda: is_gone(worker), what=f"worker {worker} to end with its server")
