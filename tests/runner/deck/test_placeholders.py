"""Placeholders that would not be filled in are refused when the file is checked, not found at run time (a typo'd
`{itme}` once reached a web server as `GET /files/doc%7Bitme%7D.txt`). Braces that are not meant as
placeholders (awk programs, JSON bodies, shell brace groups) are left alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import jobdeck
from tests.runner.deck.test_deck import load, only_problem, problems


def test_a_misspelt_item_in_a_url_is_refused_where_it_is_written(tmp_path: Path) -> None:
    text = '[[job]]\nname = "doc"\nfetch = "http://127.0.0.1/files/doc{itme}.txt"\neach = [1, 2]\n'
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.job, problem.key) == (3, "doc", "fetch")
    assert problem.message == "{itme} is not a placeholder: jobdeck fills in only {item}"
    assert problem.hint == "did you mean {item}?"


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("shell", 'shell = "wc -w doc{itme}.txt"'),
        ("save", 'fetch = "https://example.org/{item}"\nsave = "pages/{Item}.html"'),
        ("body", 'fetch = "https://example.org/"\nmethod = "POST"\nbody = \'{"page": "{items}"}\''),
        ("headers", 'fetch = "https://example.org/"\nheaders = { X-Page = "{iten}" }'),
        ("args", 'call = "json:dumps"\nargs = [["{itme}"]]'),
        ("kwargs", 'call = "json:dumps"\nargs = [1]\nkwargs = { indent = "{ item }" }'),
    ],
)
def test_a_misspelt_item_is_found_in_every_text_it_is_filled_into(tmp_path: Path, key: str, line: str) -> None:
    found = problems(tmp_path, f'[[job]]\nname = "j"\n{line}\neach = [1, 2]\n')
    (problem,) = [problem for problem in found if "is not a placeholder" in problem.message]
    assert problem.key == key
    assert problem.hint == "did you mean {item}?"


def test_a_field_of_an_item_is_refused_items_are_plain_values(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "j"\nshell = "echo {item.name}"\neach = ["a", "b"]\n')
    assert problem.message == "{item.name} is not a placeholder: jobdeck fills in only {item}"
    assert problem.hint == "items are plain strings, numbers or booleans, not tables: write {item}"


def test_doubled_braces_are_refused(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "j"\nshell = "echo {{item}}"\neach = [1, 2]\n')
    assert problem.message == "{{item}} has a pair of braces too many: the outer pair would stay in the text"


def test_any_name_in_braces_in_a_url_is_refused_a_url_cannot_hold_braces(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "j"\nfetch = "https://example.org/users/{id}"\n')
    assert problem.key == "fetch"
    assert problem.message == (
        "{id} is not a placeholder: jobdeck fills in only {item}, and braces in a URL are sent as %7B and %7D"
    )
    assert problem.hint == "write {item} and list the values in each"
    # Elsewhere, braces that are no placeholder are left alone: awk, xargs, JSON bodies, format strings.
    deck = load(
        tmp_path,
        """
        [[job]]
        name = "awk"
        shell = "ls | awk '{print $1}' | xargs -I{} echo {} ${HOME} {time} {a,b}"

        [[job]]
        name = "post"
        fetch = "https://example.org/{item}"
        method = "POST"
        body = '{"page": {item}, "name": "{name}"}'
        each = [1, 2]

        [[job]]
        name = "format"
        call = "json:dumps"
        args = ["{name} is {age}"]
        """,
    )
    assert [spec.name for spec in deck.jobs] == ["awk", "post[1]", "post[2]", "format"]


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("shell", 'shell = "echo {item}"'),
        ("fetch", 'fetch = "https://example.org/{item}"'),
        ("save", 'fetch = "https://example.org/"\nsave = "{item}.html"'),
        ("args", 'call = "json:dumps"\nargs = ["{item}"]'),
    ],
)
def test_item_in_a_job_without_each_is_refused(tmp_path: Path, key: str, line: str) -> None:
    problem = only_problem(tmp_path, f'[[job]]\nname = "j"\n{line}\n')
    assert (problem.job, problem.key) == ("j", key)
    assert problem.message == "{item} is filled in only for the items of each, and this job has no each"
    assert problem.hint == "add each = [...] with the values to run one job per item, or remove {item}"


def test_check_refuses_them_with_file_line_and_hint(write_deck: Callable[..., Path]) -> None:
    path = write_deck(
        '[[job]]\nname = "doc"\nfetch = "http://127.0.0.1/files/doc{itme}.txt"\neach = [1, 2]\n'
        '[[job]]\nname = "count"\nshell = "wc -w doc{item}.txt"\n'
    )
    result = jobdeck("check", path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {path}:3: job 'doc', key 'fetch': {{itme}} is not a placeholder: jobdeck fills in only {{item}} "
        "(did you mean {item}?)",
        f"error: {path}:7: job 'count', key 'shell': {{item}} is filled in only for the items of each, and this job "
        "has no each (add each = [...] with the values to run one job per item, or remove {item})",
    ]
