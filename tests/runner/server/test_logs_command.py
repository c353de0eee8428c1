"""`jobdeck logs` against a real server process running real shell jobs: the whole output from the log files,
one stream or both, JSON lines, the last lines, an attempt; `--follow` printing lines as a job writes them and
ending with its outcome; a capped log's start and end; a forgotten deck's files gone; the journal's history read
with no server running; and a pruned run's files gone with it.

Most commands run in this process (`runner.cli.main.main`, output captured): a `jobdeck` subprocess costs half a
second of start-up on a busy machine. Following in a terminal and piping into `head` run as real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.cli.main import main
from runner.joblogs.layout import logs_root
from runner.server.server import socket_answers
from tests.conftest import Place
from tests.helpers import JOBDECK, in_terminal, jobdeck, process_alive, wait_until


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run_cli(capsys: pytest.CaptureFixture[str], *arguments: str | Path) -> Ran:
    """`jobdeck ARGUMENTS` in this process."""
    capsys.readouterr()
    returncode = main([str(argument) for argument in arguments])
    out, err = capsys.readouterr()
    return Ran(returncode, out, err)


class Server:
    """A server of this module's own, and its folder (decks, journal, logs)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.journal = folder / "journal.db"
        self.socket = folder / "s"
        self.env = {
            **os.environ,
            "JOBDECK_SOCKET": str(self.socket),
            "JOBDECK_DB": str(self.journal),
            "JOBDECK_LOG": str(folder / "server.log"),
        }
        self.capsys: pytest.CaptureFixture[str] | None = None

    def deck(self, name: str, text: str) -> Path:
        path = self.folder / f"{name}.toml"
        path.write_text(f'[deck]\nname = "{name}"\n{text}')
        return path

    def run(self, *arguments: str | Path) -> Ran:
        assert self.capsys is not None
        return run_cli(self.capsys, *arguments, "--socket", self.socket)

    def submit(self, name: str, text: str) -> None:
        submitted = self.run("submit", self.deck(name, text))
        assert submitted.returncode == 0, submitted.stderr

    def logs(self, *arguments: str) -> Ran:
        return self.run("logs", *arguments)

    def finish(self, job: str) -> None:
        """Wait until the job has finished: `logs --follow` returns then."""
        followed = self.logs(job, "--follow")
        assert followed.returncode in (0, 1), followed.stderr


@pytest.fixture(scope="module")
def module_server() -> Iterator[Server]:
    folder = Path(tempfile.mkdtemp(prefix="jdlogs", dir="/tmp"))  # a Unix socket's path must stay short
    here = Server(folder)
    try:
        assert jobdeck("start-server", env=here.env).returncode == 0
        yield here
    finally:
        jobdeck("stop-server", env=here.env)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def server(module_server: Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setenv("JOBDECK_DB", str(module_server.journal))  # what `logs` reads with no server
    module_server.capsys = capsys
    return module_server


MIXED = """
[[job]]
name = "mixed"
shell = "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three; test -e retried || (touch retried; exit 5)"
retries = 1
backoff = 0.01
"""


def test_logs_prints_the_latest_attempt_both_streams_in_order_or_one_and_json_lines(server: Server) -> None:
    server.submit("mixed", MIXED)
    server.finish("mixed")
    assert server.logs("mixed").stdout == "one\ntwo\nthree\n"
    assert server.logs("mixed/mixed", "--stdout").stdout == "one\nthree\n"
    assert server.logs("mixed", "--stderr").stdout == "two\n"
    assert server.logs("mixed", "--tail", "2").stdout == "two\nthree\n"
    first = server.logs("mixed", "--attempt", "1", "--json")
    assert [json.loads(line) for line in first.stdout.splitlines()] == [
        {"stream": "stdout", "line": "one"},
        {"stream": "stderr", "line": "two"},
        {"stream": "stdout", "line": "three"},
    ]
    third = server.logs("mixed", "--attempt", "3")
    assert third.returncode == 2
    assert "mixed/mixed has made 2 attempts: there is no attempt 3" in third.stderr
    files = list((logs_root(server.journal)).rglob("*.log"))
    assert files and {stat.S_IMODE(path.stat().st_mode) for path in files} == {0o600}, "other users read nothing"


def test_an_unknown_job_is_refused_with_the_names_it_may_have_meant(server: Server) -> None:
    server.submit("names", '[[job]]\nname = "compile"\nshell = "true"\n[[job]]\nname = "compute"\nshell = "true"\n')
    unknown = server.logs("compyle")
    assert unknown.returncode == 2
    assert "no job named 'compyle' is loaded or in the history; did you mean names/compile, names/compute?" in (
        unknown.stderr
    )
    assert unknown.stdout == ""


def test_follow_prints_lines_as_the_job_writes_them_and_ends_with_its_outcome(server: Server) -> None:
    go = server.folder / "go"
    server.submit(
        "slow",
        f'[[job]]\nname = "slow"\nshell = "echo first; until [ -e {go} ]; do sleep 0.02; done; '
        'echo second >&2; exit 4"\n',
    )
    with in_terminal(*JOBDECK, "logs", "slow", "--follow", env=server.env) as terminal:
        terminal.read_until(lambda: "first" in terminal.text, what="the first line")
        assert "second" not in terminal.text and terminal.process.poll() is None
        go.touch()
        terminal.read_until(lambda: "second" in terminal.text, what="the line written later")
        assert terminal.read_to_end() == 1, "the job failed"
    assert terminal.text.replace("\r\n", "\n") == "first\nsecond\n"


def test_past_its_cap_a_log_keeps_its_start_and_end_and_piping_it_into_head_is_quiet(server: Server) -> None:
    server.submit("loud", '[[job]]\nname = "loud"\nshell = "seq 1 40000"\nlog_limit_mb = 0.05\n')
    server.finish("loud")
    lines = server.logs("loud").stdout.splitlines()
    cut = next(index for index, line in enumerate(lines) if line.startswith("[jobdeck] cut: "))
    assert lines[:cut] == [str(number) for number in range(1, cut + 1)]
    assert lines[cut + 1 :] == [str(number) for number in range(40001 - len(lines[cut + 1 :]), 40001)]
    assert lines[cut].endswith(f", {40000 - len(lines) + 1:,} lines) left out")
    piped = subprocess.run(
        f"{' '.join(JOBDECK)} logs loud | head -2", shell=True, capture_output=True, text=True, env=server.env
    )
    assert (piped.stdout, piped.stderr) == ("1\n2\n", "")


def test_status_json_gives_shell_jobs_their_exit_code_and_last_line(server: Server) -> None:
    server.submit("ending", '[[job]]\nname = "ending"\nshell = "echo almost; echo done"\n')
    server.finish("ending")
    decks = json.loads(server.run("status", "--json").stdout)["decks"]
    (job,) = next(deck for deck in decks if deck["deck"] == "ending")["jobs"]
    assert job["result"] == {"exit_code": 0, "signal": None, "last_line": "done"}


def test_forgetting_a_deck_removes_its_files_and_leaves_the_journals_last_lines(server: Server) -> None:
    server.submit("gone", '[[job]]\nname = "gone"\nshell = "echo kept in the journal"\n')
    server.finish("gone")
    run_folders = set(logs_root(server.journal).iterdir())
    assert server.run("forget", "gone").returncode == 0
    wait_until(lambda: len(set(logs_root(server.journal).iterdir())) == len(run_folders) - 1, what="files removed")
    after = server.logs("gone/gone")
    assert (after.returncode, after.stdout) == (0, "kept in the journal\n")
    assert "were removed when its deck was forgotten" in after.stderr


def test_without_a_server_the_history_is_read_and_a_pruned_run_takes_its_files_along(
    place: Place, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = place.root / "j.db"
    monkeypatch.setenv("JOBDECK_SOCKET", str(place.socket))
    monkeypatch.setenv("JOBDECK_DB", str(journal))
    deck = place.root / "old.toml"
    deck.write_text('[[job]]\nname = "old"\nshell = "echo from an earlier server"\n')
    assert run_cli(capsys, "submit", deck).returncode == 0
    assert run_cli(capsys, "logs", "old", "--follow").returncode == 0
    assert run_cli(capsys, "stop-server").returncode == 0
    alone = run_cli(capsys, "logs", "old")
    assert (alone.returncode, alone.stdout) == (0, "from an earlier server\n")
    assert "no server runs; old/old is from the journal's history" in alone.stderr
    assert not place.socket.exists(), "no server was started"
    (run,) = logs_root(journal).iterdir()
    monkeypatch.setenv("JOBDECK_JOURNAL_MAX_AGE", "0s")  # for the server started next
    monkeypatch.setenv("JOBDECK_TIDY_EVERY", "0.1")
    assert run_cli(capsys, "start-server").returncode == 0
    wait_until(lambda: not run.exists(), what="the pruned run's files removed")
    assert run_cli(capsys, "logs", "old").returncode == 2


def test_a_server_killed_with_sigkill_leaves_whole_lines_up_to_its_last_write(
    place: Place, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBDECK_DB", str(place.root / "j.db"))
    deck = place.root / "count.toml"
    deck.write_text('[[job]]\nname = "count"\nshell = "i=0; while :; do i=$((i+1)); echo line $i; done"\n')
    assert run_cli(capsys, "submit", deck, "--socket", place.socket).returncode == 0
    (head,) = wait_for_file(logs_root(place.root / "j.db"), "1.log")
    wait_until(lambda: head.stat().st_size > 100_000, what="the log grows")
    pid = int(place.socket.with_name(place.socket.name + ".lock").read_text())
    os.kill(pid, signal.SIGKILL)
    # A zombie's last thread may still be ending (and writing): gone means its socket no longer answers too.
    wait_until(lambda: not process_alive(pid) and not socket_answers(place.socket), what="the server gone")
    kept = head.read_bytes()
    assert kept.endswith(b"\n"), "no half-written line"
    numbers = [int(record.split()[-1]) for record in kept.splitlines()]
    assert numbers == list(range(1, len(numbers) + 1)), "every line up to the last write, in order"


def wait_for_file(root: Path, name: str) -> list[Path]:
    found: list[Path] = []

    def look() -> bool:
        found[:] = list(root.rglob(name)) if root.exists() else []
        return bool(found)

    wait_until(look, what=f"{name} under {root}")
    return found
