"""`env` and `cwd` of shell and call jobs, and of `[deck]` as their defaults: read, merged and checked at load."""

from __future__ import annotations

from pathlib import Path

from runner.model import CallSpec, ShellSpec
from tests.runner.deck.test_deck import job, line_of, load, only_problem, problems

TASKS = "def where():\n    return 1\n"


def test_a_job_env_is_merged_over_the_decks_and_its_cwd_replaces_the_decks(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "tasks.py").write_text(TASKS)
    deck = load(
        tmp_path,
        """
        [deck]
        env = { LANG = "C", LEVEL = "deck" }
        cwd = "sub"

        [[job]]
        name = "own"
        shell = "make"
        env = { LEVEL = "job", THREADS = 4, TOKEN = "${TOKEN}" }
        cwd = "sub/deeper"

        [[job]]
        name = "inherits"
        shell = "make"

        [[job]]
        name = "call"
        call = "tasks:where"
        env = { ITEM = "n{item}" }
        each = [1]
        """,
        environ={"TOKEN": "secret-value"},
    )
    own, inherits, call = job(deck, "own").work, job(deck, "inherits").work, job(deck, "call[1]").work
    assert isinstance(own, ShellSpec) and isinstance(inherits, ShellSpec) and isinstance(call, CallSpec)
    assert own.env == {"LANG": "C", "LEVEL": "job", "THREADS": "4", "TOKEN": "${TOKEN}"}, "${VAR} kept until run"
    assert own.cwd == tmp_path / "sub" / "deeper"
    assert (inherits.env, inherits.cwd) == ({"LANG": "C", "LEVEL": "deck"}, tmp_path / "sub")
    assert call.env == {"LANG": "C", "LEVEL": "deck", "ITEM": "n1"}
    assert (call.cwd, call.base_dir) == (tmp_path / "sub", tmp_path), "the module is still looked up beside the file"


def test_a_missing_cwd_is_refused_with_its_line_and_not_created(tmp_path: Path) -> None:
    text = '[[job]]\nname = "build"\nshell = "make"\ncwd = "out/build"\n'
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.job, problem.key) == (line_of(text, "cwd"), "build", "cwd")
    assert problem.message == f"the folder {str(tmp_path / 'out' / 'build')!r} does not exist"
    assert problem.hint is not None and "mkdir -p out/build" in problem.hint
    assert not (tmp_path / "out").exists()


def test_bad_env_entries_are_each_reported(tmp_path: Path) -> None:
    text = (
        '[deck]\nenv = { "2FAST" = "x" }\n\n'
        '[[job]]\nname = "j"\nshell = "true"\nenv = { OK = "${UNSET_HERE}", ON = true }\n'
    )
    found = {(problem.line, problem.message) for problem in problems(tmp_path, text, environ={})}
    assert found == {
        (2, "'2FAST' is not a valid environment variable name"),
        (7, "environment variable UNSET_HERE is not set"),
        (7, "the value of ON must be a string or a number, not a boolean (true)"),
    }


def test_env_is_refused_for_calls_on_threads_and_for_fetches(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text(TASKS)
    text = (
        '[[job]]\nname = "t"\ncall = "tasks:where"\non = "thread"\nenv = { A = "b" }\n\n'
        '[[job]]\nname = "f"\nfetch = "http://127.0.0.1/"\nenv = { A = "b" }\n'
    )
    thread, fetch = problems(tmp_path, text)
    assert (thread.job, thread.key, thread.line) == ("t", "env", 5)
    assert thread.hint is not None and 'on = "process"' in thread.hint
    assert fetch.message == "key 'env' applies only to call and shell jobs, not to fetch jobs"


def test_other_tools_names_for_env_and_cwd_point_to_them(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "j"\nshell = "make"\nworking_dir = "build"\n')
    assert problem.hint == 'jobdeck calls it cwd: write cwd = "build"'
