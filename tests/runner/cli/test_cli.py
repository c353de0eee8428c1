"""The `jobdeck` command line, run as a real subprocess: what people and scripts see, and the exit codes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CONSOLE_SCRIPT, JOBDECK, RUN_TIMEOUT_S, in_terminal, jobdeck, process_alive, wait_until

WriteDeck = Callable[..., Path]

JSON_FIELDS = {"name", "kind", "state", "attempts", "duration_s", "error", "result"}


def assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit 2, every expected text on stderr, and no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in result.stderr


def jobs_by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["name"]: job for job in report["jobs"]}


# --- running decks ------------------------------------------------------------------------------------------


def test_run_prints_a_plain_line_per_state_change_and_exits_0(write_deck: WriteDeck, server_url: str) -> None:
    deck = write_deck(
        f"""
        [deck]
        name = "good"

        [[job]]
        name = "hello"
        shell = "echo hello > hello.txt"

        [[job]]
        name = "sum"
        call = "tasks:add"
        args = [2, 3]
        on = "thread"

        [[job]]
        name = "page"
        fetch = "{server_url}/page/1"
        """.replace("\n        ", "\n")
    )
    result = jobdeck("run", deck, cwd=deck.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b[" not in result.stdout  # no live display on a pipe
    for job in ("hello", "sum", "page"):
        assert re.search(rf"^\d\d:\d\d:\d\d good/{job} running \(attempt 1\)$", result.stdout, re.MULTILINE)
        assert re.search(rf"^\d\d:\d\d:\d\d good/{job} succeeded \(attempt 1\)$", result.stdout, re.MULTILINE)
    assert re.search(r"^good: 3 succeeded in \d+\.\d s$", result.stdout, re.MULTILINE)
    assert result.stderr == ""
    assert (deck.parent / "hello.txt").read_text() == "hello\n"


def test_json_report_has_every_field_results_errors_and_attempts(write_deck: WriteDeck, server_url: str) -> None:
    deck = write_deck(
        f"""
        [deck]
        name = "report"
        backoff = 0

        [[job]]
        name = "number"
        call = "tasks:add"
        args = [2, 3]
        kwargs = {{ scale = 2 }}

        [[job]]
        name = "table"
        call = "tasks:identity"
        args = [{{ a = 1, b = ["x", "y"] }}]
        on = "thread"

        [[job]]
        name = "function"
        call = "tasks:unpicklable"
        on = "thread"

        [[job]]
        name = "broken"
        call = "tasks:fail"
        args = ["on purpose"]
        on = "thread"

        [[job]]
        name = "flaky"
        fetch = "{server_url}/flaky/cli-json?fail=1"
        retries = 2

        [[job]]
        name = "echo"
        shell = "echo hi"
        """.replace("\n        ", "\n")
    )
    result = jobdeck("run", "--json", deck, cwd=deck.parent)

    assert result.returncode == 1, result.stderr
    (line,) = result.stdout.splitlines()  # the report alone on stdout, one line per deck
    report = json.loads(line)
    assert report["deck"] == "report"
    jobs = jobs_by_name(report)
    assert list(jobs) == ["number", "table", "function", "broken", "flaky", "echo"]
    for job in jobs.values():
        assert set(job) == JSON_FIELDS
    assert jobs["number"] == jobs["number"] | {"kind": "call", "state": "succeeded", "attempts": 1, "result": 10}
    assert jobs["number"]["error"] is None
    assert isinstance(jobs["number"]["duration_s"], float) and jobs["number"]["duration_s"] >= 0
    assert jobs["table"]["result"] == {"a": 1, "b": ["x", "y"]}
    assert jobs["function"]["state"] == "succeeded"
    assert jobs["function"]["result"].startswith("<function ")
    assert jobs["broken"] | {"duration_s": None} == {
        "name": "broken",
        "kind": "call",
        "state": "failed",
        "attempts": 1,
        "duration_s": None,
        "error": "ValueError: on purpose",
        "result": None,
    }
    assert jobs["flaky"]["kind"] == "fetch"
    assert jobs["flaky"]["state"] == "succeeded"
    assert jobs["flaky"]["attempts"] == 2
    echoed = {"exit_code": 0, "signal": None, "last_line": "hi"}
    assert jobs["echo"] == jobs["echo"] | {"kind": "shell", "state": "succeeded", "result": echoed}
    # Human progress and the summary go to stderr, out of the way of the JSON.
    assert "report/flaky retrying (attempt 1): HTTP 503" in result.stderr
    assert "report: 5 succeeded, 1 failed in" in result.stderr
    assert "failed    report/broken (attempt 1): ValueError: on purpose" in result.stderr


def test_json_lines_for_several_decks(write_deck: WriteDeck) -> None:
    first = write_deck('[deck]\nname = "one"\n[[job]]\nname = "a"\nshell = "true"\n', "one.toml")
    second = write_deck('[deck]\nname = "two"\n[[job]]\nname = "b"\nshell = "true"\n', "two.toml")
    result = jobdeck("run", "--json", first, second)
    assert result.returncode == 0, result.stderr
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(report["deck"], [job["name"] for job in report["jobs"]]) for report in reports] == [
        ("one", ["a"]),
        ("two", ["b"]),
    ]


def test_a_failed_job_exits_1_and_the_summary_says_why(write_deck: WriteDeck) -> None:
    deck = write_deck(
        '[deck]\nname = "d"\n'
        '[[job]]\nname = "boom"\nshell = "echo disk full >&2; exit 3"\n'
        '[[job]]\nname = "next"\nshell = "true"\nafter = ["boom"]\n'
    )
    result = jobdeck("run", deck)
    assert result.returncode == 1
    assert "d/boom failed (attempt 1): exited with status 3" in result.stdout
    assert "d: 1 failed, 1 skipped in" in result.stdout
    assert "  failed    d/boom (attempt 1): exited with status 3 | stderr: disk full" in result.stdout
    assert "  skipped   d/next: not run: boom failed" in result.stdout
    assert "Traceback" not in result.stderr


# --- refusing bad input -------------------------------------------------------------------------------------

SYNTAX_ERROR = '[deck]\nname = "x"\n\n[[job]\nname = "a"\nshell = "true"\n'
UNKNOWN_KEY = '[deck]\nname = "x"\n\n[[job]]\nname = "a"\nshel = "true"\n'


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_syntax_error_names_file_line_and_column(write_deck: WriteDeck, command: str) -> None:
    deck = write_deck(SYNTAX_ERROR)
    assert_refused(jobdeck(command, deck), f"{deck}:4:6: ")


@pytest.mark.parametrize("command", ["run", "check"])
def test_an_unknown_key_names_the_job_and_suggests_the_fix(write_deck: WriteDeck, command: str) -> None:
    deck = write_deck(UNKNOWN_KEY)
    assert_refused(jobdeck(command, deck), f"{deck}:6: ", "job 'a'", "key 'shel'", "did you mean 'shell'?")


def test_paths_in_messages_are_shown_as_given(write_deck: WriteDeck) -> None:
    deck = write_deck(UNKNOWN_KEY)
    assert_refused(jobdeck("check", deck.name, cwd=deck.parent), f"error: {deck.name}:6: ")


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_missing_file_or_a_folder_is_refused(tmp_path: Path, command: str) -> None:
    assert_refused(jobdeck(command, tmp_path / "absent.toml"), "absent.toml", "no such job file")
    assert_refused(jobdeck(command, tmp_path), str(tmp_path), "folder")


def test_one_bad_file_among_several_runs_nothing(write_deck: WriteDeck, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    good = write_deck(f'[deck]\nname = "good"\n[[job]]\nname = "touch"\nshell = "touch {marker}"\n', "good.toml")
    bad = write_deck(UNKNOWN_KEY, "bad.toml")
    result = jobdeck("run", good, bad)
    assert_refused(result, f"{bad}:6: ", "1 of 2 job files has problems", "nothing was run")
    assert str(good) not in result.stderr
    assert result.stdout == ""
    assert not marker.exists()


def test_check_reports_each_good_file_and_runs_nothing(write_deck: WriteDeck, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    deck = write_deck(f'[deck]\nname = "ok"\n[[job]]\nname = "t"\nshell = "touch {marker}"\neach = [1, 2]\n')
    result = jobdeck("check", deck)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ok: {deck}: deck 'ok', 2 jobs (shell)\n"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(["missing.toml"], "the dashboard was not opened", id="dashboard-with-a-missing-file"),
        pytest.param(["run"], "the following arguments are required: FILE", id="run-without-file"),
        pytest.param(["check"], "the following arguments are required: FILE", id="check-without-file"),
        pytest.param(
            ["run", "--bogus", "deck.toml"], "jobdeck run: error: unrecognized arguments: --bogus", id="run-option"
        ),
        pytest.param(["run", "--grace", "-1", "deck.toml"], "argument --grace", id="negative-grace"),
        pytest.param(["--bogus"], "unknown option --bogus (options: --local, --socket, --dask", id="top-option"),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(tmp_path: Path, arguments: list[str], expected: str) -> None:
    assert_refused(jobdeck(*arguments, cwd=tmp_path), expected)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(["stauts"], "jobdeck: error: unknown command 'stauts'; did you mean 'status'?", id="command"),
        pytest.param(["sumbit", "x.toml"], "unknown command 'sumbit'; did you mean 'submit'?", id="command-file"),
        pytest.param(["--locl", "x.toml"], "jobdeck: error: unknown option --locl; did you mean --local?", id="option"),
        pytest.param(["--sokcet=/tmp/s"], "unknown option --sokcet; did you mean --socket?", id="option-value"),
        pytest.param(["run", "--jsn", "x.toml"], "unrecognized arguments: --jsn (did you mean --json?)", id="run"),
        pytest.param(["--loc", "x.toml"], "error: x.toml: no such job file", id="option-prefix-is-taken"),
    ],
)
def test_a_mistyped_command_or_option_says_what_was_meant(tmp_path: Path, arguments: list[str], expected: str) -> None:
    result = jobdeck(*arguments, cwd=tmp_path)
    assert_refused(result, expected)
    assert "invalid choice" not in result.stderr and "no such job file: stauts" not in result.stderr
    (tmp_path / "stauts").write_text('[[job]]\nname = "a"\nshell = "true"\n')  # a file of that name is a file
    assert "unknown command" not in jobdeck("check", "stauts", cwd=tmp_path).stderr


def test_help_and_version() -> None:
    help_result = subprocess.run([CONSOLE_SCRIPT, "--help"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert help_result.returncode == 0
    assert "usage: jobdeck" in help_result.stdout and "run" in help_result.stdout and "check" in help_result.stdout
    version_result = jobdeck("--version")
    assert version_result.returncode == 0
    assert re.fullmatch(r"jobdeck \S+\n", version_result.stdout)


# --- stopping -----------------------------------------------------------------------------------------------


def wait_for_pid(pid_file: Path, process: subprocess.Popen[str], timeout_s: float = 10) -> int:
    def written() -> bool:
        assert process.poll() is None, process.communicate()
        return pid_file.exists() and pid_file.read_text().endswith("\n")

    wait_until(written, timeout=timeout_s, what=f"{pid_file} written")
    return int(pid_file.read_text())


@pytest.mark.parametrize(
    ("signum", "as_json"),
    [pytest.param(signal.SIGINT, False, id="SIGINT-plain"), pytest.param(signal.SIGTERM, True, id="SIGTERM-json")],
)
def test_a_stop_signal_cancels_reports_and_leaves_no_process(
    write_deck: WriteDeck, tmp_path: Path, signum: signal.Signals, as_json: bool
) -> None:
    pid_file = tmp_path / "sleep.pid"
    deck = write_deck(
        '[deck]\nname = "long"\n'
        '[[job]]\nname = "quick"\nshell = "true"\n'
        f'[[job]]\nname = "nap"\nshell = "echo $$ > {pid_file}; exec sleep 30"\nafter = ["quick"]\n'
        '[[job]]\nname = "later"\nshell = "true"\nafter = ["nap"]\n'
    )
    options = ["--json"] if as_json else []
    process = subprocess.Popen(
        [*JOBDECK, "run", *options, str(deck)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        sleep_pid = wait_for_pid(pid_file, process)
        signalled = time.monotonic()
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        process.kill()

    assert time.monotonic() - signalled < 5
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    human = stderr if as_json else stdout
    assert "long: 1 succeeded, 2 cancelled in" in human
    assert "  cancelled long/nap (attempt 1)\n" in human
    assert "  cancelled long/later\n" in human
    assert f"jobdeck: stopped by {signum.name}; unfinished jobs were cancelled" in human
    if as_json:
        states = {job["name"]: job["state"] for job in json.loads(stdout)["jobs"]}
        assert states == {"quick": "succeeded", "nap": "cancelled", "later": "cancelled"}
    wait_until(lambda: not process_alive(sleep_pid), timeout=3, what="the job's process gone")


def read_line_containing(process: subprocess.Popen[str], text: str) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if text in line:
            return
    raise AssertionError(f"the output ended without {text!r}")


def test_a_second_signal_quits_without_waiting_for_a_job_that_cannot_stop(write_deck: WriteDeck) -> None:
    deck = write_deck(
        '[deck]\nname = "stuck"\n[[job]]\nname = "nap"\ncall = "tasks:sleep_for"\nargs = [30]\non = "thread"\n'
    )
    process = subprocess.Popen([*JOBDECK, "run", str(deck)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        read_line_containing(process, "stuck/nap running")
        process.send_signal(signal.SIGINT)
        read_line_containing(process, "press Ctrl-C again to quit at once")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=5)
    finally:
        process.kill()
    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert "stuck: 1 running in" in stdout
    assert "jobdeck: stopped at once by a second signal; jobs still running were left unfinished" in stdout


# --- the terminal display -----------------------------------------------------------------------------------


def final_frame(screen: str) -> str:
    """The last line the live display drew, without colours."""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    return [line.strip() for line in re.split(r"[\r\n]+", plain) if line.strip()][-1]


def test_on_a_terminal_the_live_display_ends_on_the_final_state(write_deck: WriteDeck) -> None:
    deck = write_deck(
        '[deck]\nname = "tty"\n'
        '[[job]]\nname = "a"\nshell = "true"\n'
        '[[job]]\nname = "b"\nshell = "true"\nafter = ["a"]\n'
    )
    environment = {name: value for name, value in os.environ.items() if name != "NO_COLOR"}
    with in_terminal(*JOBDECK, "run", deck, env=environment) as terminal:
        assert terminal.read_to_end(timeout=RUN_TIMEOUT_S) == 0
    screen = terminal.text
    assert "\x1b[" in screen  # the live display, not plain lines
    frame = final_frame(screen.partition("tty: 2 succeeded in")[0])
    assert re.fullmatch(r"tty +━+ 2/2 \d:\d\d:\d\d 2 succeeded", frame), frame
    assert "tty: 2 succeeded in" in screen
    assert "Traceback" not in screen


# --- staying light ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "check"])
def test_run_and_check_never_import_textual(write_deck: WriteDeck, command: str) -> None:
    deck = write_deck('[deck]\nname = "light"\n[[job]]\nname = "a"\nshell = "true"\n')
    program = (
        "import sys, runner.cli.main\n"
        f"code = runner.cli.main.main([{command!r}, {str(deck)!r}])\n"
        "assert 'textual' not in sys.modules, 'textual was imported'\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
