"""`each` from data: a range, the lines of a file, a glob, table items with `{item.field}`, and another job's
result (only read here: runner.engine.expansion makes its members). Each mistake says where and what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.cli.main import main
from runner.deck.pending_fan_out import PendingFanOut
from runner.model import CallSpec, FetchSpec, ShellSpec
from tests.runner.deck.test_deck import job, load, only_problem


def commands(folder: Path, each: str, shell: str = "echo {item}") -> dict[str, str]:
    deck = load(folder, f'[[job]]\nname = "j"\nshell = "{shell}"\neach = {each}\n')
    return {spec.name: spec.work.command for spec in deck.jobs if isinstance(spec.work, ShellSpec)}


@pytest.mark.parametrize(
    ("each", "names"),
    [
        ("{ range = [3] }", ["j[0]", "j[1]", "j[2]"]),
        ("{ range = [2, 4] }", ["j[2]", "j[3]"]),
        ("{ range = [0, 1000, 400] }", ["j[0]", "j[400]", "j[800]"]),
        ("{ range = [3, 0, -1] }", ["j[3]", "j[2]", "j[1]"]),
    ],
)
def test_a_range_gives_the_numbers_python_s_range_gives(tmp_path: Path, each: str, names: list[str]) -> None:
    assert list(commands(tmp_path, each)) == names


@pytest.mark.parametrize(
    ("each", "message"),
    [
        ("{ range = [0, 10, 0] }", "the step of a range cannot be 0"),
        ("{ range = [5, 1] }", "range [5, 1] gives no items"),
        ("{ range = [1, 2, 3, 4] }", "range must be 1 to 3 whole numbers (stop; start, stop; start, stop, step), "),
        ("{ range = 3 }", "range must be 1 to 3 whole numbers"),
        ("{ range = [3], glob = '*' }", "each takes one source of items, not 2 (range, glob)"),
        ("{ files = '*.csv' }", "each = { files = ... } is no source of items"),
    ],
)
def test_a_bad_source_of_items_is_refused_at_each(tmp_path: Path, each: str, message: str) -> None:
    problem = only_problem(tmp_path, f'[[job]]\nname = "j"\nshell = "echo {{item}}"\neach = {each}\n')
    assert (problem.line, problem.job, problem.key) == (4, "j", "each")
    assert problem.message.startswith(message)


def test_a_lookalike_source_gets_the_right_name_in_the_hint(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "j"\nshell = "echo {item}"\neach = { file = "urls.txt" }\n')
    assert problem.hint == "did you mean 'lines'?"


def test_lines_of_a_file_beside_the_job_file_skipping_blank_lines_and_comments(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "urls.txt").write_text("# pages to get\nalpha\n\n  beta  \n   # not this\ngamma\n")
    found = commands(tmp_path, '{ lines = "lists/urls.txt" }')
    assert found == {"j[alpha]": "echo alpha", "j[beta]": "echo beta", "j[gamma]": "echo gamma"}


def test_a_missing_file_of_lines_is_named_with_its_whole_path(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "j"\nshell = "echo {item}"\neach = { lines = "urls.txt" }\n')
    assert problem.message == f"the file of items '{tmp_path / 'urls.txt'}' does not exist"
    assert problem.hint == "the path is relative to the job file"
    (tmp_path / "urls.txt").write_text("# nothing yet\n\n")
    problem = only_problem(tmp_path, '[[job]]\nname = "j"\nshell = "echo {item}"\neach = { lines = "urls.txt" }\n')
    assert problem.message == f"the file of items '{tmp_path / 'urls.txt'}' has no items"


def test_a_named_pipe_as_the_file_of_lines_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "urls.txt")  # opened as before, reading it waited for a writer for ever
    problem = only_problem(tmp_path, '[[job]]\nname = "j"\nshell = "echo {item}"\neach = { lines = "urls.txt" }\n')
    assert problem.message == f"'{tmp_path / 'urls.txt'}': this is a named pipe (FIFO), not a file of items"
    assert problem.hint == "give the path of a text file, one item a line"


def test_a_glob_gives_the_matching_paths_relative_to_the_job_file_sorted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("b.csv", "a.csv", "c.txt", "10.csv"):
        (data / name).write_text("x")
    found = commands(tmp_path, '{ glob = "data/*.csv" }', shell="wc -l {item}")
    assert list(found.values()) == ["wc -l data/10.csv", "wc -l data/a.csv", "wc -l data/b.csv"]


def test_a_glob_that_matches_nothing_is_an_error_with_a_hint(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "j"\nshell = "wc {item}"\neach = { glob = "data/*.csv" }\n')
    assert problem.message == "glob 'data/*.csv' matches no file"
    assert problem.hint is not None and f"relative to the job file's folder ({tmp_path})" in problem.hint


def test_table_items_fill_in_their_fields_and_are_named_by_their_name(tmp_path: Path) -> None:
    deck = load(
        tmp_path,
        """
        [[job]]
        name = "get"
        fetch = "https://example.org/{item.path}?v={item.meta.v}"
        save = "{item.name}.html"
        each = [{ name = "home", path = "", meta = { v = 1 } }, { name = "about", path = "about", meta = { v = 2 } }]

        [[job]]
        name = "sum"
        call = "builtins:print"
        args = ["{item.meta}", "{item.name}-{item.meta.v}"]
        each = [{ name = "x", meta = { v = 1 } }]
        """,
    )
    about = job(deck, "get[about]").work
    assert isinstance(about, FetchSpec)
    assert (about.url, about.save.name if about.save else None) == ("https://example.org/about?v=2", "about.html")
    call = job(deck, "sum[x]").work
    assert isinstance(call, CallSpec)
    assert call.args == ({"v": 1}, "x-1")  # a whole field is passed as it is; in a text, it is filled in


def test_a_table_item_without_a_name_is_named_by_its_json(tmp_path: Path) -> None:
    names = list(commands(tmp_path, "[{ n = 1 }, { n = 2 }]", shell="echo {item.n}"))
    assert names == ['j[{"n":1}]', 'j[{"n":2}]']


def test_a_field_an_item_lacks_is_refused_naming_the_item(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, '[[job]]\nname = "j"\nshell = "echo {item.url}"\neach = [{ url = "a" }, { name = "b" }, 3]\n'
    )
    assert (problem.line, problem.key) == (3, "shell")
    assert problem.message == "{item.url}: item 2 of each ({'name': 'b'}) has no field 'url' (and 1 more items)"


def test_a_fan_out_from_a_result_is_one_waiting_job_until_the_result_is_there(tmp_path: Path) -> None:
    deck = load(
        tmp_path,
        """
        [[job]]
        name = "list_pages"
        shell = "echo '[1, 2]'"

        [[job]]
        name = "get"
        fetch = "https://example.org/{item.path}"
        each = { result_of = "list_pages" }
        """,
    )
    stand_in = job(deck, "get")
    assert isinstance(stand_in, PendingFanOut)
    assert (stand_in.after, stand_in.source) == (("list_pages",), "list_pages")


@pytest.mark.parametrize(
    ("source", "message", "hint"),
    [
        ("list_page", "result_of names no job: there is no job named 'list_page'", "did you mean 'list_pages'?"),
        ("get", "a fan-out cannot take its items from its own result", "name another job"),
        ("home", "result_of must name a call or shell job, but 'home' is a fetch job", None),
        ("many", "result_of must name a single job, but 'many' is a fan-out", None),
    ],
)
def test_result_of_must_name_a_single_call_or_shell_job(tmp_path: Path, source: str, message: str, hint: str) -> None:
    problem = only_problem(
        tmp_path,
        f"""
[[job]]
name = "list_pages"
shell = "echo 1"

[[job]]
name = "home"
fetch = "https://example.org/"

[[job]]
name = "many"
shell = "echo {{item}}"
each = [1, 2]

[[job]]
name = "get"
shell = "echo {{item.path}}"
each = {{ result_of = "{source}" }}
""",
    )
    assert (problem.job, problem.key, problem.message) == ("get", "each", message)
    if hint is not None:
        assert problem.hint == hint


def test_check_names_the_missing_file_of_items_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deck.toml"
    path.write_text('[[job]]\nname = "j"\nshell = "echo {item}"\neach = { lines = "gone.txt" }\n')
    assert main(["check", str(path)]) == 2
    said = capsys.readouterr().err
    assert f"{path}:4" in said and str(tmp_path / "gone.txt") in said
    assert "Traceback" not in said


def test_a_fan_out_from_a_result_has_its_variables_checked_when_loaded_not_when_the_items_come(
    tmp_path: Path,
) -> None:
    problem = only_problem(
        tmp_path,
        '[[job]]\nname = "list"\nshell = "echo 1"\n\n'
        '[[job]]\nname = "get"\nfetch = "${UNSET_SITE}/{item}"\neach = { result_of = "list" }\n',
    )
    assert (problem.line, problem.job, problem.key) == (7, "get", "fetch")
    assert problem.message == "environment variable UNSET_SITE is not set"
