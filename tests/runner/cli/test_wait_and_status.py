"""`jobdeck wait`, `status` with its filters, the names shell completion asks for, and `export` beside a live
server: against one real server process (shared by the module), real shell jobs and its real journal. (A wait
whose server goes away: test_wait_restarts.)"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.cli.completion import completion_script
from runner.server.client import command
from tests.helpers import jobdeck, wait_until
from tests.runner.cli.live_server import LiveServer, live_server
from tests.runner.cli.test_completion import complete

OK = '[deck]\nname = "ok"\n[[job]]\nname = "a"\nshell = "true"\n[[job]]\nname = "b"\nshell = "echo b"\n'
MIXED = (
    '[deck]\nname = "mixed"\n'
    '[[job]]\nname = "good"\nshell = "true"\n'
    '[[job]]\nname = "bad"\nshell = "exit 4"\n'
    '[[job]]\nname = "after-bad"\nshell = "true"\nafter = ["bad"]\n'
)
MANY = 25


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server() as live:
        many = "".join(f'[[job]]\nname = "n{number:02d}"\nshell = "true"\n' for number in range(MANY))
        decks = [live.write("ok.toml", OK), live.write("mixed.toml", MIXED), live.write("many.toml", many)]
        assert live.jobdeck("submit", *decks).code == 0
        yield live


def test_wait_says_how_the_jobs_ended_and_exits_0_only_when_all_succeeded(server: LiveServer) -> None:
    ok = server.jobdeck("wait", "ok")
    assert (ok.code, ok.out) == (0, "2 succeeded\n")

    mixed = server.jobdeck("wait", "mixed")
    assert (mixed.code, mixed.out) == (1, "1 succeeded, 1 failed, 1 skipped: mixed/bad, mixed/after-bad\n")

    assert server.jobdeck("wait", "ok/b").out == "1 succeeded\n"  # a job's id
    assert server.jobdeck("wait", "after-bad").out == "1 skipped: mixed/after-bad\n"  # a name one deck has

    every = server.jobdeck("wait", "--json")  # nothing named: every loaded deck
    assert every.code == 1
    assert json.loads(every.out) == {
        "settled": True,
        "timed_out": False,
        "jobs": 5 + MANY,
        "counts": {"succeeded": 3 + MANY, "failed": 1, "skipped": 1},
        "unsuccessful": ["mixed/bad", "mixed/after-bad"],
        "error": None,
        "exit": 1,
    }


def test_wait_for_names_of_nothing_exits_2_naming_the_nearest(server: LiveServer) -> None:
    wrong = server.jobdeck("wait", "mixd", "ok")
    assert (wrong.code, wrong.out) == (2, "")
    assert "jobdeck wait: no deck or job named 'mixd' is loaded; did you mean 'mixed'? (decks: " in wrong.err
    assert "Traceback" not in wrong.err
    assert "did you mean 'ok/b'?" in server.jobdeck("wait", "ok/bb").err  # jobs are near too

    assert server.jobdeck("submit", "--again", server.root / "ok.toml").code == 0
    twice = server.jobdeck("wait", "a")
    assert twice.code == 2
    assert "jobdeck wait: 'a' names jobs in several decks (ok/a, ok#2/a): give one as deck/name, or the deck" in (
        twice.err
    )


def test_wait_answers_as_soon_as_the_last_job_ends_and_times_out_with_124(server: LiveServer) -> None:
    gate = server.root / "gate"
    deck = server.write(
        "gated.toml",
        f'[deck]\nname = "gated"\n[[job]]\nname = "g"\nshell = "while [ ! -e {gate} ]; do sleep 0.02; done"\n',
    )
    assert server.jobdeck("submit", deck).code == 0
    timed = server.jobdeck("wait", "gated", "--timeout", "0.3")
    assert (timed.code, timed.out) == (124, "timed out after 0.3 s: 1 running\n")

    wait_until(lambda: "g" in running_jobs(server), what="the gated job running")
    wait_until(lambda: server.socket_connections() == 1, what="no connection but the wait's")
    waiting = server.background("wait", "gated")
    wait_until(lambda: server.socket_connections() > 1, what="the wait connected")  # and asking, a moment later
    gate.touch()
    opened = time.monotonic()
    out, err = waiting.communicate(timeout=30)
    # Answered when the job ended, not when its 30 s request ran out (nor a poll's interval later).
    assert time.monotonic() - opened < 5
    assert (waiting.returncode, out, err) == (0, "1 succeeded\n", "")


def running_jobs(server: LiveServer) -> list[str]:
    report = json.loads(server.jobdeck("status", "--json", "--state", "running").out)
    return [job["name"] for deck in report["decks"] for job in deck["jobs"]]


def test_status_shows_a_line_per_deck_and_lists_jobs_only_when_few_or_asked(server: LiveServer) -> None:
    server.jobdeck("wait", "ok", "mixed", "many")
    few = server.jobdeck("status", "ok", "mixed")
    assert few.code == 0
    lines = few.out.splitlines()
    assert re.fullmatch(r"ok: 2 succeeded in [\d.]+ s · .*", lines[0])
    assert lines[1].startswith("mixed: 1 succeeded, 1 failed, 1 skipped in ")
    assert lines[2] == "" and lines[3].startswith("server ")
    assert lines[4:] == [
        "ok:",
        "  a                              shell  succeeded  #1",
        "  b                              shell  succeeded  #1",
        "mixed:",
        "  good                           shell  succeeded  #1",
        "  bad                            shell  failed     #1  exited with status 4",
        "  after-bad                      shell  skipped    #0  not run: bad failed",
    ]

    many = server.jobdeck("status", "many").out.splitlines()
    assert many[0].startswith(f"many: {MANY} succeeded in ")
    assert many[-1] == f"({MANY} jobs not listed: --jobs lists them, --state failed only the failed ones, --json " + (
        "all of them as JSON)"
    )
    assert len(server.jobdeck("status", "many", "--jobs").out.splitlines()) == 3 + 1 + MANY
    assert server.jobdeck("status", "ok", "--summary").out.splitlines()[3:] == []


def test_status_filters_by_deck_and_state_in_text_and_json(server: LiveServer) -> None:
    server.jobdeck("wait", "ok", "mixed", "many")
    failed = server.jobdeck("status", "ok", "mixed", "many", "--state", "failed,skipped").out.splitlines()
    assert failed[5:] == [  # after the decks' lines and the server's: only the jobs in those states
        "ok:",
        "mixed:",
        "  bad                            shell  failed     #1  exited with status 4",
        "  after-bad                      shell  skipped    #0  not run: bad failed",
        "many:",
    ]
    report = json.loads(server.jobdeck("status", "mixed", "--state", "failed", "--json").out)
    (deck,) = report["decks"]
    assert deck["counts"] == {"succeeded": 1, "failed": 1, "skipped": 1}  # the deck's, whatever is listed
    assert [job["name"] for job in deck["jobs"]] == ["bad"]
    summary = json.loads(server.jobdeck("status", "--summary", "--json").out)
    assert [listed["deck"] for listed in summary["decks"]][:3] == ["ok", "mixed", "many"]
    assert all("jobs" not in listed for listed in summary["decks"])

    unknown = server.jobdeck("status", "okk")
    assert unknown.code == 2
    assert "jobdeck status: no deck named 'okk' is loaded; did you mean 'ok'?" in unknown.err
    bad_state = server.jobdeck("status", "--state", "faild")
    assert bad_state.code == 2
    assert "'faild' is not a job state (did you mean 'failed'?" in bad_state.err


def test_the_json_of_status_is_written_as_its_pages_arrive_and_is_one_object(server: LiveServer) -> None:
    server.jobdeck("wait", "many")
    whole = json.loads(server.jobdeck("status", "--json").out)
    assert whole["server"]["socket"] == str(server.socket)
    decks = {deck["deck"]: deck for deck in whole["decks"]}
    assert [job["name"] for job in decks["many"]["jobs"]] == [f"n{number:02d}" for number in range(MANY)]
    assert list(decks["ok"]) == ["deck", "path", "counts", "started_at", "ended_at", "jobs"]  # as run --json


def test_completion_names_come_from_the_server_and_never_start_one(server: LiveServer, tmp_path: Path) -> None:
    server.jobdeck("wait", "ok", "mixed")
    decks = jobdeck("__complete", "decks", "m", env=server.env)
    assert decks.stdout.split() == ["many", "mixed"]
    jobs = jobdeck("__complete", "decks,jobs", "mixed", env=server.env)
    assert jobs.stdout.split() == ["mixed", "mixed/after-bad", "mixed/bad", "mixed/good"]
    runs = jobdeck("__complete", "runs", "m", env=server.env)
    assert runs.stdout.split() == ["many", "mixed"]

    nowhere = {**server.env, "JOBDECK_SOCKET": str(tmp_path / "none.sock"), "JOBDECK_DB": str(tmp_path / "no.db")}
    nothing = jobdeck("__complete", "decks,jobs", "", env=nowhere)
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (0, "", "")
    assert not (tmp_path / "none.sock").exists() and not (tmp_path / "no.db").exists()


def test_export_reads_the_journal_beside_the_live_server(server: LiveServer) -> None:
    deck = server.write("slow.toml", '[deck]\nname = "slow"\n[[job]]\nname = "nap"\nshell = "exec sleep 30"\n')
    assert server.jobdeck("submit", deck).code == 0
    wait_until(lambda: "nap" in running_jobs(server), what="nap running")
    server.jobdeck("wait", "mixed")

    exported = server.jobdeck("export", "mixed", "--json")
    assert exported.code == 0, exported.err
    rows = [json.loads(line) for line in exported.out.splitlines()]
    assert [(row["name"], row["state"], row["exit_code"]) for row in rows] == [
        ("good", "succeeded", 0),
        ("bad", "failed", 4),
        ("after-bad", "skipped", None),
    ]
    running = server.jobdeck("export", "slow")
    assert running.code == 0
    assert "has 1 unfinished job(s)" in running.err
    assert running.out.splitlines()[1].startswith("nap,shell,running,1,")
    command("cancel", "slow/nap", server.socket)
    assert server.jobdeck("wait", "slow").out == "1 cancelled: slow/nap\n"  # the server went on meanwhile


def test_bash_completes_the_servers_deck_and_job_names(server: LiveServer) -> None:
    server.jobdeck("wait", "ok", "mixed", "many")
    script = completion_script("bash")
    assert complete(script, "wait", "mi", cwd=server.root, env=server.env) == [
        "mixed",
        "mixed/after-bad",
        "mixed/bad",
        "mixed/good",
    ]
    decks = complete(script, "status", "o", cwd=server.root, env=server.env)  # `ok#2` too once loaded again
    assert decks[0] == "ok" and all(deck.startswith("ok") and "/" not in deck for deck in decks), "decks only"
    assert complete(script, "export", "ma", cwd=server.root, env=server.env) == ["many"]  # runs in the journal


def test_a_wait_on_a_server_that_does_not_answer_ends_at_its_timeout(server: LiveServer) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)  # a stopped server: its socket takes connections, nothing answers
    try:
        started_at = time.monotonic()
        stuck = server.jobdeck("wait", "--timeout", "0.5")
        assert time.monotonic() - started_at < 10
    finally:
        server.process.send_signal(signal.SIGCONT)
    assert (stuck.code, stuck.out) == (124, "")
    assert stuck.err == "jobdeck wait: timed out: the jobdeck server did not answer in time\n"
