"""Hints point the right way: a near key when the key is a slip of the keyboard, what to write instead when it
comes from another tool, and no hint at all rather than a misleading one."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.spelling import closest, did_you_mean
from tests.runner.deck.test_deck import only_problem, problems


def test_only_near_words_are_suggested() -> None:
    assert closest("biuld", ["build", "test"]) == "build"  # two letters swapped
    assert closest("fetchh", ["fetch", "call", "shell"]) == "fetch"
    assert closest("Proces", ["process", "thread"]) == "process"
    assert closest("retrys", ["retries", "timeout"]) == "retries"
    assert closest("stdout", ["timeout", "name", "after"]) is None  # shares letters, means something else
    assert closest("id", ["if", "each"]) == "if"
    assert closest("xyz", ["each"]) is None
    assert did_you_mean("stauts", ["status", "submit"]) == "did you mean 'status'?"


def test_a_wrong_place_names_the_value_and_the_place_it_was_meant_to_be(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\ncall = "json:dumps"\nargs = [1]\non = "proces"\n')
    assert problem.key == "on"
    assert problem.message == 'must be "process", "thread", "dask" or "dask://host:port", not "proces"'
    assert "a string" not in problem.message
    assert problem.hint == 'did you mean on = "process"?'


def test_a_misspelt_kind_is_one_problem_that_names_the_kind(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nfetchh = "https://example.org/"\n')
    assert (problem.line, problem.key) == (3, "fetchh")
    assert problem.hint == "did you mean 'fetch'?"
    # A job whose unknown key names no kind still hears that it has nothing to do.
    found = problems(tmp_path, '[[job]]\nname = "a"\nzzz = 1\n')
    assert [problem.message for problem in found] == ["the job has nothing to do", "unknown key in [[job]]"]


def test_a_kind_written_as_another_tool_writes_it_is_one_problem(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\ncommand = "make all"\n')
    assert (problem.line, problem.key) == (3, "command")
    assert problem.hint is not None and problem.hint.startswith('jobdeck calls it shell: write shell = "make all"')


def test_stdout_gets_no_far_fetched_suggestion_but_says_output_is_captured(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nshell = "make"\nstdout = "build.log"\n')
    assert problem.key == "stdout"
    assert problem.hint is not None
    assert "timeout" not in problem.hint
    assert problem.hint.startswith("jobdeck keeps a job's output in log files of its own: `jobdeck logs JOB` prints it")
    assert 'shell = "make > build.log 2>&1"' in problem.hint


@pytest.mark.parametrize("key", ["depends_on", "needs", "requires", "deps", "dependencies"])
def test_dependencies_from_other_tools_point_to_after(tmp_path: Path, key: str) -> None:
    text = f'[[job]]\nname = "a"\nshell = "true"\n[[job]]\nname = "b"\nshell = "true"\n{key} = ["a"]\n'
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.key) == (7, key)
    assert problem.hint == 'jobdeck calls it after: write after = ["a"]; the job runs once these have succeeded'


def test_a_single_dependency_is_rewritten_as_a_list(tmp_path: Path) -> None:
    text = '[[job]]\nname = "a"\nshell = "true"\n[[job]]\nname = "b"\nshell = "true"\ndepends_on = "a"\n'
    assert only_problem(tmp_path, text).hint == (
        'jobdeck calls it after: write after = ["a"]; the job runs once these have succeeded'
    )


def test_keys_of_a_kind_are_recognised_even_before_the_kind_is(tmp_path: Path) -> None:
    found = problems(tmp_path, '[[job]]\nname = "b"\nurl = "https://example.org/"\noutput = "page.html"\n')
    hints = {problem.key: problem.hint for problem in found}
    assert hints == {
        "url": 'jobdeck calls it fetch: write fetch = "https://example.org/"',
        "output": 'jobdeck calls it save: write save = "page.html"; the body is streamed to this file, relative to '
        "out_dir",
    }


def test_call_keys_from_other_tools(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    found = problems(tmp_path, '[[job]]\nname = "c"\ncall = "tasks:add"\narguments = [1, 2]\nexecutor = "thread"\n')
    hints = {problem.key: problem.hint for problem in found}
    assert hints["arguments"] == "jobdeck calls it args: write args = [1, 2]"
    assert hints["executor"] == 'jobdeck calls it on: write on = "thread"; "process", "thread" or "dask"'


def test_deck_settings_from_other_tools_point_to_the_limits(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[deck]\nconcurrency = 4\n[[job]]\nname = "a"\nshell = "true"\n')
    assert (problem.line, problem.key) == (2, "concurrency")
    assert problem.hint == (
        "limits are set per deck and per kind: [deck] fetch_limit, process_limit, thread_limit or shell_limit"
    )
