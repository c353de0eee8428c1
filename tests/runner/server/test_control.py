"""`jobdeck pause|resume|cancel|retry JOB...` against a real server process running real shell jobs: jobs chosen by
name, glob, deck/name, --deck, --failed and --all in one request, what is printed, and the exit status."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.cli.main import main
from runner.server.client import Client, read_status
from tests.conftest import servers_on
from tests.helpers import jobdeck, process_alive, wait_until


@dataclass
class Served:
    root: Path
    socket: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One server for the module (journaled to a file of its own), started by `jobdeck start-server`."""
    root = Path(tempfile.mkdtemp(prefix="jdctl", dir="/tmp"))
    socket = root / "run" / "s"
    (root / "xdg").mkdir(mode=0o700)
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(root / "xdg"),
        "JOBDECK_SOCKET": str(socket),
        "JOBDECK_DB": str(root / "journal.db"),
        "JOBDECK_LOG": str(root / "server.log"),
    }
    started = jobdeck("start-server", env=env)
    assert started.returncode == 0, started.stderr
    try:
        yield Served(root, socket, env)
    finally:
        jobdeck("stop-server", env=env)
        for pid in servers_on(socket):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def cli(served: Served, capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """`jobdeck ARGUMENTS --socket ...` run in this process (the server is a real process): status, out, err."""
    capsys.readouterr()
    status = main([*arguments, "--socket", str(served.socket)])
    out, err = capsys.readouterr()
    return status, out, err


def submit(served: Served, name: str, text: str) -> Path:
    deck = served.root / f"{name}.toml"
    deck.write_text(f'[deck]\nname = "{name}"\nshell_limit = 4\n\n{text}')
    result = jobdeck("submit", deck, env=served.env)
    assert result.returncode == 0, result.stderr
    return deck


def states(served: Served, deck: str) -> dict[str, str]:
    async def read() -> dict[str, Any]:
        async with await Client.connect(served.socket) as client:
            return await read_status(client)

    report = anyio.run(read)
    return {job["name"]: job["state"] for found in report["decks"] if found["deck"] == deck for job in found["jobs"]}


def wait_states(served: Served, deck: str, wanted: dict[str, str]) -> None:
    wait_until(lambda: states(served, deck) == wanted, what=f"{deck} to be {wanted} (is {states(served, deck)})")


def pid_of(path: Path) -> int:
    wait_until(lambda: path.exists() and path.read_text().endswith("\n"), what=f"{path.name} written")
    return int(path.read_text())


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


LONG = 'shell = "echo $$ > {item}.pid; exec sleep 60"'


def test_a_glob_a_name_with_brackets_and_a_deck_each_select_what_they_say(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = served.root
    submit(
        served, "pages", f'[[job]]\nname = "page"\neach = [1, 2, 3]\n{LONG.replace("{item}", f"{folder}/{{item}}")}\n'
    )
    wait_states(served, "pages", dict.fromkeys(["page[1]", "page[2]", "page[3]"], "running"))
    pids = {item: pid_of(folder / f"{item}.pid") for item in (1, 2, 3)}

    # The exact name wins: page[1] is that job, not a glob (which would mean page1).
    assert cli(served, capsys, "pause", "page[1]") == (0, "paused pages/page[1]\n", "")
    wait_until(lambda: process_state(pids[1]) == "T", what="page[1]'s process stopped")
    assert process_state(pids[2]) != "T"

    status, out, _ = cli(served, capsys, "pause", "page[*]")
    assert status == 0
    assert out.splitlines() == ["pages/page[1]: paused already", "paused pages/page[2]", "paused pages/page[3]"]

    status, out, _ = cli(served, capsys, "resume", "--deck", "pages", "--json")
    reply = json.loads(out)
    assert (status, reply["matched"], reply["done"]) == (0, 3, 3)
    assert [job["state"] for job in reply["jobs"]] == ["running"] * 3
    wait_until(lambda: all(process_state(pid) != "T" for pid in pids.values()), what="every process running again")

    # A cancel returns once the job has ended: its process is gone by then, with nothing left behind.
    assert cli(served, capsys, "cancel", "pages/page[2]") == (0, "cancelled pages/page[2]\n", "")
    assert not process_alive(pids[2])
    assert states(served, "pages")["page[2]"] == "cancelled"

    status, out, _ = cli(served, capsys, "cancel", "pages/*")
    assert status == 0
    assert out.splitlines() == [
        "cancelled pages/page[1]",
        "pages/page[2]: cancelled already",
        "cancelled pages/page[3]",
    ]
    assert not any(process_alive(pid) for pid in pids.values())


def test_retry_runs_again_what_did_not_succeed_and_a_succeeded_job_only_when_named(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    log = served.root / "retry.log"
    submit(
        served,
        "flaky",
        f'[[job]]\nname = "good"\nshell = "echo good >> {log}"\n\n'
        f'[[job]]\nname = "bad"\nshell = "echo bad >> {log}; test -e {served.root}/fixed"\n\n'
        f'[[job]]\nname = "later"\nshell = "echo later >> {log}"\nafter = ["bad"]\n',
    )
    wait_states(served, "flaky", {"good": "succeeded", "bad": "failed", "later": "skipped"})
    status, out, _ = cli(served, capsys, "cancel", "--failed")
    assert (status, out) == (0, "flaky/bad: not cancelled: it has failed\n")

    (served.root / "fixed").touch()
    status, out, _ = cli(served, capsys, "retry", "--deck", "flaky")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "flaky/good: not retried: it has succeeded (name it exactly to run it again)"
    assert lines[1:] == ["retried flaky/bad", "retried flaky/later"]
    wait_states(served, "flaky", dict.fromkeys(["good", "bad", "later"], "succeeded"))

    assert cli(served, capsys, "retry", "flaky/good")[:2] == (0, "retried flaky/good\n")
    wait_states(served, "flaky", dict.fromkeys(["good", "bad", "later"], "succeeded"))
    assert sorted(log.read_text().split()) == ["bad", "bad", "good", "good", "later"]


def test_what_matches_nothing_or_is_unclear_is_said_with_its_exit_status(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("twin-a", "twin-b"):
        submit(served, name, '[[job]]\nname = "twin"\nshell = "true"\n')
    status, out, err = cli(served, capsys, "pause", "no-such-job", "nor*this")
    assert (status, out) == (1, "")
    assert "no job matches 'no-such-job'" in err and "no job matches 'nor*this'" in err

    status, _, err = cli(served, capsys, "retry", "--deck", "no-such-deck")
    assert status == 1 and "no deck named 'no-such-deck' is loaded" in err

    status, _, err = cli(served, capsys, "retry", "twin")
    assert status == 2 and "'twin' names jobs in 2 decks (twin-a/twin, twin-b/twin)" in err
    wait_states(served, "twin-b", {"twin": "succeeded"})
    assert cli(served, capsys, "retry", "twin", "--deck", "twin-b")[:2] == (0, "retried twin-b/twin\n")

    status, _, err = cli(served, capsys, "cancel")
    assert status == 2 and "say which jobs" in err
    status, _, err = cli(served, capsys, "cancel", "--all", "twin")
    assert status == 2 and "--all selects every job" in err


def test_ten_thousand_jobs_are_chosen_and_acted_on_by_the_server_in_one_request(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    items = ", ".join(map(str, range(10_000)))
    submit(
        served,
        "big",
        f'[[job]]\nname = "gate"\nshell = "while [ ! -e {served.root}/open ]; do sleep 0.05; done"\n\n'
        f'[[job]]\nname = "n"\nshell = "true"\neach = [{items}]\nafter = ["gate"]\n',
    )
    started = time.monotonic()
    status, out, _ = cli(served, capsys, "pause", "big/n[*]")
    paused_s = time.monotonic() - started
    assert (status, out) == (0, "paused 10,000 of 10,000 selected jobs\n")

    started = time.monotonic()
    status, out, _ = cli(served, capsys, "cancel", "--deck", "big")
    cancelled_s = time.monotonic() - started
    assert status == 0
    assert out == "cancelled 10,001 of 10,001 selected jobs\n"
    print(f"pause of 10,000 jobs: {paused_s:.2f} s; cancel of 10,001: {cancelled_s:.2f} s")
    assert paused_s < 10 and cancelled_s < 10  # one request each: per-job requests would take minutes here


def test_with_no_server_there_is_nothing_to_do_and_none_is_started(tmp_path: Path) -> None:
    socket = tmp_path / "none" / "s"
    result = subprocess.run(
        [*_jobdeck(), "cancel", "--all", "--socket", str(socket)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "no jobdeck server runs, so there are no jobs to cancel" in result.stderr
    assert not socket.exists()


def _jobdeck() -> list[str]:
    from tests.helpers import JOBDECK

    return JOBDECK
