"""`jobdeck wait` when its server goes away: killed and started again (the wait goes on there), stopped with
`stop-server` (how the jobs ended is read from the journal), or killed for good (it says so, and never hangs)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.helpers import wait_until
from tests.runner.cli.live_server import LiveServer, live_server


@pytest.fixture
def server() -> Iterator[LiveServer]:
    with live_server() as live:
        yield live


def started(server: LiveServer, job: str) -> bool:
    report = json.loads(server.jobdeck("status", "--json").out)
    return any(entry["name"] == job and entry["attempts"] for deck in report["decks"] for entry in deck["jobs"])


def test_a_wait_goes_on_in_the_server_started_after_a_kill_9(server: LiveServer) -> None:
    flag = server.root / "flag"
    deck = server.write(
        "again.toml",
        '[deck]\nname = "again"\n[[job]]\nname = "first"\nshell = "true"\n'
        f'[[job]]\nname = "second"\nshell = "while [ ! -e {flag} ]; do sleep 0.02; done"\n',
    )
    assert server.jobdeck("submit", deck).code == 0
    wait_until(lambda: started(server, "second"), what="second running")
    wait_until(lambda: server.socket_connections() == 1, what="no connection but the wait's")
    waiting = server.background("wait", "again")
    wait_until(lambda: server.socket_connections() > 1, what="the wait connected")
    server.kill()
    flag.touch()  # the job the new server runs again ends at once
    server.start()
    out, err = waiting.communicate(timeout=60)
    assert (waiting.returncode, out) == (0, "2 succeeded\n"), err
    assert "ended while waiting; waiting up to 60 s for a new one" in err
    assert "a new jobdeck server (pid" in err and "answers: waiting on" in err


def test_a_wait_says_what_stop_server_did_to_the_jobs(server: LiveServer) -> None:
    deck = server.write("nap.toml", '[deck]\nname = "nap"\n[[job]]\nname = "z"\nshell = "exec sleep 60"\n')
    assert server.jobdeck("submit", deck).code == 0
    wait_until(lambda: started(server, "z"), what="z running")
    wait_until(lambda: server.socket_connections() == 1, what="no connection but the wait's")
    waiting = server.background("wait", "nap")
    wait_until(lambda: server.socket_connections() > 1, what="the wait connected")
    assert server.jobdeck("stop-server").code == 0
    out, err = waiting.communicate(timeout=30)
    assert (waiting.returncode, out) == (1, "1 cancelled: nap/z\n"), err  # from the server, or else its journal


def test_a_wait_whose_server_never_comes_back_ends_at_its_timeout(server: LiveServer) -> None:
    deck = server.write("nap.toml", '[deck]\nname = "nap"\n[[job]]\nname = "z"\nshell = "exec sleep 60"\n')
    assert server.jobdeck("submit", deck).code == 0
    wait_until(lambda: started(server, "z"), what="z running")
    wait_until(lambda: server.socket_connections() == 1, what="no connection but the wait's")
    waiting = server.background("wait", "nap", "--timeout", "1")
    wait_until(lambda: server.socket_connections() > 1, what="the wait connected")
    server.kill()
    out, err = waiting.communicate(timeout=30)
    assert (waiting.returncode, out) == (124, ""), err
    assert "ended while waiting" in err and "jobdeck wait: timed out while no jobdeck server ran" in err
