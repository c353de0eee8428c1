"""`jobdeck status` and the JSON of `run --json` and `status --json`: one deck object and one job object in both
(as the README documents them), a line per deck at the top of the status, and no server started just to be
asked for one."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import servers_on
from tests.helpers import jobdeck, wait_until

WriteDeck = Callable[..., Path]
README = Path(__file__).parents[3] / "README.md"
MIXED = """
[deck]
name = "mixed"

[[job]]
name = "echo"
shell = "echo hi"

[[job]]
name = "sum"
call = "tasks:add"
args = [2, 3]
on = "thread"

[[job]]
name = "broken"
shell = "exit 3"

[[job]]
name = "after-broken"
shell = "true"
after = ["broken"]
"""


def status_json(env: dict[str, str]) -> dict[str, Any]:
    result = jobdeck("status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def finished(env: dict[str, str], deck: str) -> bool:
    decks = {listed["deck"]: listed for listed in status_json(env)["decks"]}
    return deck in decks and decks[deck]["ended_at"] is not None


def readme_example() -> dict[str, Any]:
    """The deck object the README shows in its JSON section."""
    section = README.read_text().split("### The JSON of run and status", 1)[1]
    example = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert example is not None, "the README's JSON section has a ```json example"
    shown: dict[str, Any] = json.loads(example.group(1))
    return shown


def test_status_with_no_server_says_so_and_starts_none(socket_env: dict[str, str]) -> None:
    text = jobdeck("status", env=socket_env)
    assert text.returncode == 0, text.stderr
    assert text.stdout == (
        f"no jobdeck server runs (at {socket_env['JOBDECK_SOCKET']}), so no decks are loaded; `jobdeck start-server` "
        "starts one (which runs again the decks a stopped server left unfinished), as does `jobdeck submit FILE`\n"
    )
    as_json = jobdeck("status", "--json", env=socket_env)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {"server": None, "decks": []}
    assert not Path(socket_env["JOBDECK_SOCKET"]).exists()
    assert servers_on(Path(socket_env["JOBDECK_SOCKET"])) == []


def test_start_server_starts_one_once_and_says_so(socket_env: dict[str, str]) -> None:
    socket = socket_env["JOBDECK_SOCKET"]
    started = jobdeck("start-server", env=socket_env)
    assert started.returncode == 0, started.stderr
    assert re.fullmatch(rf"jobdeck: server (\d+) started at {re.escape(socket)}\n", started.stdout)
    pid = int(started.stdout.split()[2])
    again = jobdeck("start-server", env=socket_env)
    assert again.stdout == f"jobdeck: server {pid} already runs at {socket}\n"
    assert status_json(socket_env)["server"]["pid"] == pid


def test_run_and_status_show_a_deck_as_the_same_object(
    write_deck: WriteDeck, socket_env: dict[str, str], tmp_path: Path
) -> None:
    deck = write_deck(MIXED)
    ran = jobdeck("run", "--json", "--no-journal", deck, cwd=tmp_path)
    assert ran.returncode == 1, ran.stderr
    (run_deck,) = [json.loads(line) for line in ran.stdout.splitlines()]

    assert jobdeck("submit", deck, env=socket_env).returncode == 0
    wait_until(lambda: finished(socket_env, "mixed"), timeout=30, what="the submitted deck finished")
    (status_deck,) = status_json(socket_env)["decks"]

    example = readme_example()
    for shown in (run_deck, status_deck):
        assert list(shown) == list(example), "the deck object's fields, in the README's order"
        assert [list(job) for job in shown["jobs"]] == [list(example["jobs"][0])] * 4
        assert shown["path"] == str(deck)
        assert shown["counts"] == {"succeeded": 2, "failed": 1, "skipped": 1}
        assert shown["started_at"] <= shown["ended_at"]
    assert [(job["name"], job["state"], job["result"]) for job in run_deck["jobs"]] == [
        (job["name"], job["state"], job["result"]) for job in status_deck["jobs"]
    ]


def test_status_starts_with_a_line_per_deck(write_deck: WriteDeck, socket_env: dict[str, str], tmp_path: Path) -> None:
    quick = write_deck('[deck]\nname = "quick"\n[[job]]\nname = "q"\nshell = "true"\neach = [1, 2, 3]\n', "q.toml")
    gate = tmp_path / "gate.pid"
    held = write_deck(
        '[deck]\nname = "held"\n'
        '[[job]]\nname = "done"\nshell = "true"\neach = [1, 2]\n'
        f'[[job]]\nname = "gate"\nshell = "echo $$ > {gate}; exec sleep 60"\nafter = ["done"]\n'
        '[[job]]\nname = "later"\nshell = "true"\nafter = ["gate"]\neach = [1, 2, 3]\n',
        "held.toml",
    )
    steady = write_deck(
        '[deck]\nname = "steady"\nshell_limit = 1\n[[job]]\nname = "s"\nshell = "sleep 1"\n'
        f"each = {list(range(10))}\n",  # it outlasts a slow machine's wait for the first one: an ETA, not "done"
        "steady.toml",
    )
    assert jobdeck("submit", quick, held, steady, env=socket_env).returncode == 0

    def ready() -> bool:
        decks = {deck["deck"]: deck for deck in status_json(socket_env)["decks"]}
        return gate.exists() and decks["quick"]["ended_at"] is not None and "succeeded" in decks["steady"]["counts"]

    wait_until(ready, timeout=30, what="quick done, gate running, one of steady's jobs done")
    lines = jobdeck("status", env=socket_env).stdout.splitlines()
    assert re.fullmatch(r"quick: 3 succeeded in \d+\.\d s · [\d.]+ jobs/(s|min|h)", lines[0]), lines[0]
    # Nothing tells how long the gate sleeps (no progress, nothing alike has finished): no ETA, as in the dashboard.
    assert re.fullmatch(r"held: 3 queued, 1 running, 2 succeeded · [\d.]+ jobs/(s|min|h) · ETA –", lines[1]), lines[1]
    # Its jobs are alike and one has finished: the rest take as long, one at a time.
    assert re.fullmatch(r"steady: .*succeeded.* · ETA \d[\d.]*( min)?( \d+)? s", lines[2]), lines[2]
    assert lines[3] == ""
    assert lines[4].startswith("server ")
    assert lines[5:7] == ["quick:", "  q[1]                           shell  succeeded  #1"]


def test_resume_json_lists_the_jobs_it_did_not_run_again(write_deck: WriteDeck, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    deck = write_deck(
        f'[deck]\nname = "again"\n[[job]]\nname = "first"\ncall = "tasks:add"\nargs = [1, 2]\n'
        f'[[job]]\nname = "second"\nshell = "test -f {flag}"\nafter = ["first"]\n'
    )
    db = tmp_path / "journal.db"
    assert jobdeck("run", deck, "--db", db).returncode == 1
    flag.touch()

    resumed = jobdeck("run", deck, "--resume", "--json", "--db", db)
    assert resumed.returncode == 0, resumed.stderr
    (report,) = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert report["counts"] == {"succeeded": 2}
    first, second = report["jobs"]
    assert (first["name"], first["state"], first["result"], first["attempts"]) == ("first", "succeeded", 3, 1)
    assert re.fullmatch(r"[0-9a-f]+", first["earlier_run"])
    assert (second["name"], second["state"]) == ("second", "succeeded") and "earlier_run" not in second
    assert "again: 2 succeeded in" in resumed.stderr
    assert "(1 of them in an earlier run, not run again)" in resumed.stderr

    again = jobdeck("run", deck, "--resume", "--json", "--db", db)
    assert again.returncode == 0, again.stderr
    (report,) = [json.loads(line) for line in again.stdout.splitlines()]
    assert [(job["name"], job["state"]) for job in report["jobs"]] == [("first", "succeeded"), ("second", "succeeded")]
    assert all("earlier_run" in job for job in report["jobs"])
    assert "no jobs" not in again.stderr and "(2 of them in an earlier run, not run again)" in again.stderr
