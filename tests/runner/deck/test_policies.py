"""Reading failure policies and hooks: run_if, halt, on_success/on_failure/on_finish, notify; `check` refuses
bad ones with their line, key and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.deck.parser import parse_deck
from runner.deck.policies import parse_halt
from runner.policies import HaltOn, HaltPolicy, HaltWhen, RunIf
from tests.helpers import jobdeck
from tests.runner.deck.test_deck import only_problem

JOB = '[[job]]\nname = "a"\nshell = "true"\n'


def test_policies_and_hooks_are_read_into_the_deck(tmp_path: Path) -> None:
    text = (
        '[deck]\nhalt = "now,fail=2"\non_success = "./ok.sh"\non_failure = "./alarm.sh"\non_finish = "true"\n'
        "notify = true\n"
        f'{JOB}[[job]]\nname = "b"\nshell = "true"\neach = [1, 2]\nrun_if = "always"\n'
        'on_failure = "echo $JOBDECK_JOB"\n'
    )
    deck = parse_deck(text, tmp_path / "deck.toml", environ={})
    settings = deck.settings
    assert settings.halt == HaltPolicy(HaltOn.FAIL, count=2, when=HaltWhen.NOW)
    assert (settings.on_success, settings.on_failure, settings.on_finish) == ("./ok.sh", "./alarm.sh", "true")
    assert settings.notify is True
    a, b1, b2 = deck.jobs
    assert (a.run_if, a.on_failure) == (None, None)
    assert (b1.run_if, b2.run_if, b2.on_failure) == (RunIf.ALWAYS, RunIf.ALWAYS, "echo $JOBDECK_JOB")


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("fail=3", HaltPolicy(HaltOn.FAIL, count=3)),
        ("soon,fail=10%", HaltPolicy(HaltOn.FAIL, percent=10.0)),
        ("now, fail=1", HaltPolicy(HaltOn.FAIL, count=1, when=HaltWhen.NOW)),
        ("success=1", HaltPolicy(HaltOn.SUCCESS, count=1)),
        ("never", None),
    ],
)
def test_halt_is_written_as_gnu_parallel_writes_it(text: str, policy: HaltPolicy | None) -> None:
    assert parse_halt(text) == (policy, None)


def test_a_percentage_counts_the_decks_jobs_rounded_up() -> None:
    policy = HaltPolicy(HaltOn.FAIL, percent=10.0)
    assert [policy.threshold(jobs) for jobs in (1, 10, 11, 50)] == [1, 1, 2, 5]


@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        ('"fial=3"', "halt counts fail= or success=, not fial= (did you mean fail=?): 'fial=3'", None),
        ('"later,fail=3"', "halt starts with \"soon,\" or \"now,\", not 'later': 'later,fail=3'", None),
        ('"fail=0"', "halt needs a whole number of jobs, 1 or more: 'fail=0'", None),
        ('"fail=120%"', "a halt percentage must be more than 0 and at most 100: 'fail=120%'", None),
        ("3", 'must be a string like "fail=3", not 3', 'write halt = "fail=3"'),
    ],
)
def test_a_bad_halt_says_what_to_write(tmp_path: Path, value: str, message: str, hint: str | None) -> None:
    problem = only_problem(tmp_path, f"[deck]\nhalt = {value}\n{JOB}")
    assert (problem.line, problem.key, problem.message) == (2, "halt", message)
    assert problem.hint == (hint or 'e.g. halt = "fail=3", "fail=10%", "now,fail=1" or "success=1"')


@pytest.mark.parametrize(
    ("value", "hint"),
    [('"failed"', 'did you mean run_if = "failure"?'), ('"alwyas"', 'did you mean run_if = "always"?')],
)
def test_a_bad_run_if_suggests_the_value_meant(tmp_path: Path, value: str, hint: str) -> None:
    problem = only_problem(tmp_path, f"{JOB}run_if = {value}\n")
    assert (problem.line, problem.job, problem.key) == (4, "a", "run_if")
    assert problem.message == f'must be one of "success", "failure", "always", not {value.replace(chr(34), chr(39))}'
    assert problem.hint == hint


def test_hooks_must_be_one_command_string(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, f'[deck]\non_finish = ["notify-send", "done"]\n{JOB}')
    assert (problem.key, problem.message) == ("on_finish", "must be a shell command as one string, not a list")
    assert problem.hint == 'e.g. on_finish = "notify-send done"'
    problem = only_problem(tmp_path, f"{JOB}on_failure = 5\n")
    assert (problem.job, problem.key, problem.message) == ("a", "on_failure", "must be a non-empty string, not 5")
    problem = only_problem(tmp_path, f'[deck]\nnotify = "yes"\n{JOB}')
    assert (problem.key, problem.hint) == ("notify", "write notify = true")


def test_keys_from_other_tools_point_to_the_policy_keys(tmp_path: Path) -> None:
    assert only_problem(tmp_path, f'{JOB}when = "always"\n').hint == 'jobdeck calls it run_if: write run_if = "always"'
    hint = only_problem(tmp_path, f"[deck]\nfail_fast = true\n{JOB}").hint
    assert hint is not None and hint.startswith('jobdeck calls it halt: write halt = "fail=1"')
    assert only_problem(tmp_path, f'[deck]\non_complete = "x"\n{JOB}').hint == (
        'jobdeck calls it on_finish: write on_finish = "x"'
    )


def test_check_reports_every_bad_policy_key_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "deck.toml"
    path.write_text(f'[deck]\nhalt = "fail=x"\non_success = 1\n{JOB}run_if = "sometimes"\n')
    checked = jobdeck("check", path)
    assert checked.returncode == 2
    lines = checked.stderr.splitlines()
    assert [line.split(": ", 3)[1:3] for line in lines] == [
        [f"{path}:2", "key 'halt'"],
        [f"{path}:3", "key 'on_success'"],
        [f"{path}:7", "job 'a', key 'run_if'"],
    ]
    assert "Traceback" not in checked.stderr
