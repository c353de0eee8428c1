"""A fan-out from a result, expanded in a real server process, survives `kill -9` of the server: the restarted
server brings back the same members as they were (finished ones are not run again) instead of expanding anew,
and `status` says whom a member waits for."""

from __future__ import annotations

import os
import signal

import pytest

from runner.cli.main import main
from tests.conftest import Place
from tests.helpers import process_alive, wait_until
from tests.runner.server.test_add import jobs_of, report, server_env, wait_for_text, wait_state

DECK = """
[deck]
name = "grow"

[[job]]
name = "list"
shell = "echo '\\"a\\"'; echo '\\"b\\"'; echo '\\"c\\"'"

[[job]]
name = "get"
shell = "echo {item} >> ran-{item}; [ {item} != c ] || { echo $$ > c.pid; while [ ! -e open ]; do sleep 0.05; done; }"
each = { result_of = "list" }

[[job]]
name = "check"
shell = "test -s ran-{item}"
each = { result_of = "list" }
after = ["get[{item}]"]

[[job]]
name = "publish"
shell = "cat ran-* | wc -l"
after = ["get", "check"]
"""


def jobdeck_here(capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    """`jobdeck ARGUMENTS` run in this process (a process of its own would cost a second under load): its
    output, once it exited with 0."""
    capsys.readouterr()
    assert main(list(arguments)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_the_members_of_an_expanded_fan_out_come_back_after_kill_9_as_they_were(
    place: Place, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = server_env(place.root, place.socket)
    for name in ("XDG_RUNTIME_DIR", "JOBDECK_SOCKET", "JOBDECK_DB", "JOBDECK_LOG"):
        monkeypatch.setenv(name, env[name])
    here = place.root / "work"
    here.mkdir()
    (here / "grow.toml").write_text(DECK)
    jobdeck_here(capsys, "submit", str(here / "grow.toml"))
    first_pid = int(wait_for_text(here / "c.pid"))
    wait_state(place.socket, "grow", "get[b]", "succeeded")
    wait_state(place.socket, "grow", "get[a]", "succeeded")
    server_pid = report(place.socket)["server"]["pid"]
    os.kill(server_pid, signal.SIGKILL)
    wait_until(lambda: not process_alive(server_pid), what="the server gone")
    wait_until(lambda: not process_alive(first_pid), what="the guardian ending get[c]'s shell")
    (here / "c.pid").unlink()

    assert "restored grow" in jobdeck_here(capsys, "start-server")
    jobs = jobs_of(place.socket, "grow")
    assert list(jobs) == [
        "list",
        "get",
        "check",
        "publish",
        "get[a]",
        "get[b]",
        "get[c]",
        "check[a]",
        "check[b]",
        "check[c]",
    ]
    assert {name: jobs[name]["state"] for name in ("list", "get", "get[a]", "get[b]")} == dict.fromkeys(
        ("list", "get", "get[a]", "get[b]"), "succeeded"
    )
    wait_for_text(here / "c.pid")  # get[c] runs again: the dead server cut it short
    assert jobs_of(place.socket, "grow")["publish"]["state"] == "queued"  # it still waits for get[c]
    status = jobdeck_here(capsys, "status", "grow")
    assert [line.split() for line in status.splitlines() if "check[c]" in line] == [
        ["check[c]", "shell", "queued", "#0", "waiting", "for", "get[c]"]
    ]
    (here / "open").touch()
    wait_state(place.socket, "grow", "publish", "succeeded")
    assert [(here / f"ran-{item}").read_text() for item in "abc"] == ["a\n", "b\n", "c\nc\n"]
