"""A call job's function and its arguments are checked against the module's source when the file is checked,
without running any of it: a missing function or a wrong number of arguments is refused at its line, and
nothing is claimed that the source does not say for certain."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runner.errors import Problem
from tests.helpers import jobdeck
from tests.runner.deck.test_deck import load, only_problem, problems

TASKS = """
import os

def add(a, b, *, scale=1):
    return (a + b) * scale

def exact(x, /, y, *, mode):
    return x

def many(first, *rest, **options):
    return first

def nothing():
    return None

LIMIT = 3
"""


def write_tasks(folder: Path, source: str = TASKS, name: str = "tasks.py") -> None:
    (folder / name).write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")


def call_job(target: str, arguments: str = "", name: str = "j") -> str:
    return f'[[job]]\nname = "{name}"\ncall = "{target}"\n{arguments}\n'


def test_a_function_the_module_does_not_define_is_refused_at_the_call_line(tmp_path: Path) -> None:
    write_tasks(tmp_path)
    problem = only_problem(tmp_path, call_job("tasks:no_such_function"))
    assert (problem.line, problem.job, problem.key) == (3, "j", "call")
    assert problem.message == "module 'tasks' (tasks.py) has no function 'no_such_function'"
    assert problem.hint == "it defines add, exact, many, nothing"
    assert only_problem(tmp_path, call_job("tasks:ad", "args = [1, 2]")).hint == "did you mean 'add'?"


@pytest.mark.parametrize(
    ("arguments", "key", "message", "hint"),
    [
        ("args = [1]", "args", "add() needs 1 more argument: 'b'", None),
        ("args = [1, 2, 3]", "args", "add() takes 2 positional arguments, but args gives 3", None),
        ("", "call", "add() needs 2 more arguments: 'a', 'b'", None),
        ("args = [1, 2]\nkwargs = { scal = 2 }", "kwargs", "add() has no parameter 'scal'", "did you mean 'scale'?"),
        ("args = [1, 2]\nkwargs = { a = 2 }", "kwargs", "add() gets 'a' twice: from args and from kwargs", None),
    ],
)
def test_arguments_that_do_not_fit_the_signature_are_refused(
    tmp_path: Path, arguments: str, key: str, message: str, hint: str | None
) -> None:
    write_tasks(tmp_path)
    problem = only_problem(tmp_path, call_job("tasks:add", arguments))
    assert (problem.key, problem.message) == (key, message)
    defined = "it is defined as add(a, b, *, scale=…) in tasks.py, line 3"
    assert problem.hint == (f"{hint}; {defined}" if hint else defined)


def test_positional_only_keyword_only_varargs_and_kwargs(tmp_path: Path) -> None:
    write_tasks(tmp_path)
    found = problems(tmp_path, call_job("tasks:exact", 'kwargs = { x = 1, y = 2 }\non = "thread"'))
    assert [(problem.key, problem.message) for problem in found] == [
        ("call", "exact() needs 1 more argument: 'x'"),  # no args: said where the call is
        ("kwargs", "'x' of exact() is positional-only"),
        ("kwargs", "exact() needs the keyword argument 'mode'"),
    ]
    assert found[1].hint == "give it in args; it is defined as exact(x, /, y, *, mode) in tasks.py, line 6"
    deck = load(
        tmp_path,
        call_job("tasks:exact", 'args = [1, 2]\nkwargs = { mode = "m" }', name="a")
        + call_job("tasks:many", "args = [1, 2, 3, 4]\nkwargs = { anything = 1 }", name="b")
        + call_job("tasks:add", "args = [1]\nkwargs = { b = 2, scale = 3 }", name="c")
        + call_job("tasks:many", 'args = ["{item}"]\neach = [1, 2]', name="d"),
    )
    assert len(deck.jobs) == 5


def test_each_call_is_checked_at_its_own_line(tmp_path: Path) -> None:
    write_tasks(tmp_path)
    text = (
        call_job("tasks:add", "args = [1, 2]", name="good")
        + call_job("tasks:add", "args = [1]", name="short")
        + call_job("tasks:add", "args = [1, 2]", name="good-too")
        + call_job("tasks:add", "args = [1, 2, 3]", name="long")
    )
    found = problems(tmp_path, text)
    assert [(problem.job, problem.line) for problem in found] == [("short", 8), ("long", 16)]


@pytest.mark.parametrize(
    ("source", "call"),
    [
        ("def __getattr__(name):\n    return print\n", "tasks:anything"),
        ("from os.path import *\n", "tasks:anything"),
        ("globals()['made'] = print\n", "tasks:made"),
        ("for name in ['a']:\n    exec(f'def {name}(): pass')\n", "tasks:a"),
        ("import sys\nsetattr(sys.modules[__name__], 'made', print)\n", "tasks:made"),
        ("from json import dumps as made\n", "tasks:made"),
        ("made = print\n", "tasks:made"),
        ("class made:\n    pass\n", "tasks:made"),
        ("def setup():\n    global made\n    made = print\n", "tasks:made"),
        ("try:\n    from fast import made\nexcept ImportError:\n    def made(a):\n        pass\n", "tasks:made"),
        ("import functools\n@functools.cache\ndef made(a):\n    pass\n", "tasks:made"),
        ("def made(a):\n    pass\nmade = staticmethod(made)\n", "tasks:made"),
        ("if True:\n    def made(a, b, c):\n        pass\n", "tasks:made"),
    ],
)
def test_nothing_is_claimed_that_the_source_does_not_say_for_certain(tmp_path: Path, source: str, call: str) -> None:
    job = call_job(call, "args = [1, 2, 3]")
    write_tasks(tmp_path, "def other():\n    pass\n")
    assert only_problem(tmp_path, job).key in ("call", "args")  # where the source says nothing more, refused
    write_tasks(tmp_path, source)
    assert len(load(tmp_path, job).jobs) == 1


def test_the_module_is_read_not_run(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    write_tasks(tmp_path, f"open({str(ran)!r}, 'w').close()\nraise SystemExit(3)\n\ndef main(a):\n    return a\n")
    assert only_problem(tmp_path, call_job("tasks:main", "args = [1, 2]")).message == (
        "main() takes 1 positional argument, but args gives 2"
    )
    assert not ran.exists()


def test_a_module_that_does_not_parse_is_refused_once(tmp_path: Path) -> None:
    write_tasks(tmp_path, "def add(a, b)\n    return a + b\n")
    found = problems(tmp_path, call_job("tasks:add", "args = [1, 2]", "a") + call_job("tasks:add", "", "b"))
    assert [(problem.job, problem.key) for problem in found] == [("a", "call")]
    assert found[0].message == "module 'tasks' cannot be imported: expected ':' (tasks.py, line 1)"


def test_modules_in_packages_and_on_the_python_path_are_read_too(tmp_path: Path) -> None:
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("raise RuntimeError('never run')\n", encoding="utf-8")
    write_tasks(tmp_path / "mypkg", "def run(path):\n    return path\n", name="jobs.py")
    found: list[Problem] = problems(
        tmp_path,
        call_job("mypkg.jobs:run", "args = []", "a")
        + call_job("mypkg.jobs:walk", 'args = ["x"]', "b")
        + call_job("json:dumps", "args = [1, 2]", "c")  # json.dumps(obj, *, ...)
        + call_job("operator:mul", "args = [1, 2, 3]", "d"),  # from _operator import *: not judged
    )
    assert [(problem.job, problem.message) for problem in found] == [
        ("a", "run() needs 1 more argument: 'path'"),
        ("b", f"module 'mypkg.jobs' ({Path('mypkg', 'jobs.py')}) has no function 'walk'"),
        ("c", "dumps() takes 1 positional argument, but args gives 2"),
    ]


def test_a_package_beside_the_job_file_is_not_judged_by_one_of_the_same_name_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "json").mkdir()  # it has no decoder.py: the json.decoder on the Python path is not this one's
    (tmp_path / "json" / "__init__.py").write_text("def dumps_all(*values):\n    return values\n")
    assert len(load(tmp_path, call_job("json.decoder:run", "args = [1]")).jobs) == 1
    problem = only_problem(tmp_path, call_job("json:dumps", "args = [1]"))  # the one beside the job file
    assert problem.message == "module 'json' (json/__init__.py) has no function 'dumps'"


def test_dask_jobs_are_not_judged_by_a_module_that_may_differ_on_the_workers(tmp_path: Path) -> None:
    write_tasks(tmp_path)
    assert only_problem(tmp_path, call_job("tasks:only_on_the_workers", 'on = "thread"')).key == "call"
    deck = load(tmp_path, call_job("tasks:only_on_the_workers", 'on = "dask"'))
    assert len(deck.jobs) == 1


def test_check_reports_them_without_running_the_module(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    write_tasks(tmp_path, f"open({str(ran)!r}, 'w').close()\n\ndef add(a, b):\n    return a + b\n")
    deck = tmp_path / "deck.toml"
    deck.write_text(call_job("tasks:no_such_function", "", "a") + call_job("tasks:add", "args = [1]", "b"))
    result = jobdeck("check", deck)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {deck}:3: job 'a', key 'call': module 'tasks' (tasks.py) has no function 'no_such_function' "
        "(it defines add)",
        f"error: {deck}:8: job 'b', key 'args': add() needs 1 more argument: 'b' (it is defined as add(a, b) in "
        "tasks.py, line 3)",
    ]
    assert not ran.exists()
