"""Job files in, Deck out; and for each kind of mistake, a message that says where and what to do."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from runner.deck import env_references, expand_env, load_deck, parse_deck
from runner.errors import DeckError, Problem
from runner.model import CallSpec, Deck, FetchSpec, JobSpec, Kind, ShellSpec

ENV = {"TOKEN": "s3cret", "HOST": "example.org"}


def write(folder: Path, text: str, name: str = "deck.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(folder: Path, text: str, environ: dict[str, str] | None = None) -> Deck:
    return load_deck(write(folder, text), environ=ENV if environ is None else environ)


def problems(folder: Path, text: str, environ: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(DeckError) as caught:
        load(folder, text, environ)
    assert caught.value.problems, "a DeckError must list its problems"
    return caught.value.problems


def only_problem(folder: Path, text: str, environ: dict[str, str] | None = None) -> Problem:
    found = problems(folder, text, environ)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def problem_of_file(path: Path) -> Problem:
    with pytest.raises(DeckError) as caught:
        load_deck(path, environ=ENV)
    [problem] = caught.value.problems
    return problem


def line_of(text: str, needle: str) -> int:
    """The number of the first line containing `needle`, as `write` lays the text out."""
    lines = textwrap.dedent(text).lstrip("\n").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if needle in line)


def job(deck: Deck, name: str) -> JobSpec:
    return next(spec for spec in deck.jobs if spec.name == name)


# --- a good deck ------------------------------------------------------------------------------------------------

GOOD_DECK = """
# a deck with every kind of job
[deck]
name = "nightly"
fetch_limit = 3
retries = 1
backoff = 0.5
timeout = 30
out_dir = "out"

[[job]]
name = "home"
fetch = "https://www.python.org/"
headers = { Authorization = "Bearer ${TOKEN}" }
save = "pages/home.html"
retries = 3
timeout = 10

[[job]]
name = "primes"
call = "tasks:count_primes"
args = [2_000_000]
on = "thread"

[[job]]
name = "archive"
shell = "tar czf site.tgz pages/ && ls | awk '{print $1}'"
after = ["home", "page"]

[[job]]
name = "page"
fetch = "https://${HOST}/page/{item}"
method = "post"
body = '{"page": "{item}"}'
save = "pages/{item}.html"
expect = [200, 404]
each = [1, 2, 3]

[[job]]
name = "square"
call = "tasks:square"
args = ["{item}", "n={item}", ["{item}"]]
kwargs = { value = "{item}", label = "item {item}" }
each = [7, "x", true, 1.5]
after = ["page[2]"]

[[job]]
name = "words"
shell = "echo {item} | awk '{print $1}'"
each = ["a", "b"]
"""


@pytest.fixture
def good_deck(tmp_path: Path) -> Deck:
    (tmp_path / "tasks.py").write_text(
        "def count_primes(n):\n    return n\n\n\ndef square(item, text, items, *, value, label):\n    return item\n",
        encoding="utf-8",
    )
    return load(tmp_path, GOOD_DECK)


def test_deck_settings_come_from_the_deck_table(good_deck: Deck, tmp_path: Path) -> None:
    settings = good_deck.settings
    assert good_deck.name == settings.name == "nightly"
    assert good_deck.path == (tmp_path / "deck.toml").resolve()
    assert (settings.fetch_limit, settings.retries, settings.backoff, settings.timeout) == (3, 1, 0.5, 30.0)
    assert settings.thread_limit == 8
    assert settings.process_limit == settings.shell_limit == (os.cpu_count() or 1)
    assert settings.out_dir == (tmp_path / "out").resolve()


def test_jobs_come_in_file_order_with_fan_out_expanded(good_deck: Deck) -> None:
    names = [spec.name for spec in good_deck.jobs]
    assert names == [
        "home",
        "primes",
        "archive",
        "page[1]",
        "page[2]",
        "page[3]",
        "square[7]",
        "square[x]",
        "square[true]",
        "square[1.5]",
        "words[a]",
        "words[b]",
    ]
    assert [spec.kind for spec in good_deck.jobs[:3]] == [Kind.FETCH, Kind.CALL, Kind.SHELL]


def test_job_settings_override_the_deck_defaults(good_deck: Deck) -> None:
    home, primes = job(good_deck, "home"), job(good_deck, "primes")
    assert (home.retries, home.backoff, home.timeout) == (3, 0.5, 10.0)
    assert (primes.retries, primes.backoff, primes.timeout) == (1, 0.5, 30.0)


def test_job_lines_point_at_their_headers(good_deck: Deck) -> None:
    assert job(good_deck, "home").line == line_of(GOOD_DECK, 'name = "home"') - 1
    assert {job(good_deck, f"page[{n}]").line for n in (1, 2, 3)} == {line_of(GOOD_DECK, 'name = "page"') - 1}


def test_fetch_job_keeps_env_templates_and_resolves_save_inside_out_dir(good_deck: Deck, tmp_path: Path) -> None:
    home = job(good_deck, "home").work
    assert isinstance(home, FetchSpec)
    assert home.url == "https://www.python.org/"
    assert home.method == "GET"
    assert home.headers == {"Authorization": "Bearer ${TOKEN}"}
    assert home.save == (tmp_path / "out" / "pages" / "home.html").resolve()
    assert home.body is None
    assert home.expect is None


def test_fan_out_fetch_substitutes_the_item(good_deck: Deck, tmp_path: Path) -> None:
    page = job(good_deck, "page[2]")
    assert (page.group, page.item) == ("page", 2)
    work = page.work
    assert isinstance(work, FetchSpec)
    assert work.url == "https://${HOST}/page/2"
    assert work.method == "POST"
    assert work.body == '{"page": "2"}'
    assert work.save == (tmp_path / "out" / "pages" / "2.html").resolve()
    assert work.expect == frozenset({200, 404})


def test_call_job_finds_its_module_beside_the_job_file(good_deck: Deck, tmp_path: Path) -> None:
    work = job(good_deck, "primes").work
    assert work == CallSpec(
        module="tasks", function="count_primes", args=(2_000_000,), on="thread", base_dir=tmp_path.resolve()
    )
    assert work.target == "tasks:count_primes"


def test_fan_out_call_passes_the_item_with_its_type(good_deck: Deck) -> None:
    seven = job(good_deck, "square[7]")
    assert (seven.group, seven.item) == ("square", 7)
    assert isinstance(seven.work, CallSpec)
    assert seven.work.args == (7, "n=7", [7])
    assert seven.work.kwargs == {"value": 7, "label": "item 7"}
    assert seven.work.on == "process"
    flag = job(good_deck, "square[true]").work
    assert isinstance(flag, CallSpec)
    assert flag.args[0] is True
    assert flag.args[1] == "n=true"
    half = job(good_deck, "square[1.5]").work
    assert isinstance(half, CallSpec)
    assert half.args[0] == 1.5


def test_shell_braces_are_left_alone(good_deck: Deck, tmp_path: Path) -> None:
    archive = job(good_deck, "archive").work
    assert archive == ShellSpec(command="tar czf site.tgz pages/ && ls | awk '{print $1}'", cwd=tmp_path.resolve())
    word = job(good_deck, "words[b]").work
    assert isinstance(word, ShellSpec)
    assert word.command == "echo b | awk '{print $1}'"


def test_after_expands_a_fan_out_name_and_keeps_item_names(good_deck: Deck) -> None:
    assert job(good_deck, "archive").after == ("home", "page[1]", "page[2]", "page[3]")
    assert {job(good_deck, name).after for name in ("square[7]", "square[x]")} == {("page[2]",)}
    assert job(good_deck, "home").after == ()


def test_defaults_without_a_deck_table(tmp_path: Path) -> None:
    deck = load(tmp_path, '[[job]]\nname = "hi"\nshell = "echo hi"\n')
    assert deck.name == "deck"
    assert deck.settings.fetch_limit == 10
    assert (deck.settings.retries, deck.settings.backoff, deck.settings.timeout) == (0, 1.0, 0.0)
    assert deck.settings.out_dir == tmp_path.resolve()
    assert deck.jobs == (
        JobSpec(name="hi", kind=Kind.SHELL, work=ShellSpec("echo hi", cwd=tmp_path.resolve()), line=1),
    )


def test_call_modules_are_found_as_packages_or_on_the_python_path(tmp_path: Path) -> None:
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("", encoding="utf-8")
    deck = load(
        tmp_path,
        """
        [[job]]
        name = "a"
        call = "mypkg.jobs:run"

        [[job]]
        name = "b"
        call = "json:dumps"
        args = [[1, 2]]
        """,
    )
    assert [spec.work.target for spec in deck.jobs if isinstance(spec.work, CallSpec)] == [
        "mypkg.jobs:run",
        "json:dumps",
    ]


def test_relative_path_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, '[[job]]\nname = "a"\nshell = "true"\n', name="rel.toml")
    monkeypatch.chdir(tmp_path)
    deck = load_deck("rel.toml", environ={})
    assert deck.path.is_absolute()
    assert deck.name == "rel"


def test_parse_deck_reads_text_directly(tmp_path: Path) -> None:
    deck = parse_deck('[[job]]\nname = "a"\nshell = "true"\n', tmp_path / "x.toml", environ={})
    assert deck.name == "x"
    assert deck.jobs[0].work == ShellSpec("true", cwd=tmp_path.resolve())


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b'\xef\xbb\xbf[[job]]\nname = "a"\nshell = "true"\n')
    assert load_deck(path, environ={}).jobs[0].name == "a"


# --- ${VAR} -----------------------------------------------------------------------------------------------------


def test_expand_env_and_env_references() -> None:
    template = "Bearer ${TOKEN} for ${USER_1} and ${TOKEN} but not $TOKEN or ${1X}"
    assert env_references(template) == ["TOKEN", "USER_1"]
    assert expand_env(template, {"TOKEN": "t", "USER_1": "u"}) == "Bearer t for u and t but not $TOKEN or ${1X}"
    with pytest.raises(KeyError):
        expand_env("${MISSING}", {})


def test_unset_env_variable_is_reported_where_it_is_used(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """
        [[job]]
        name = "api"
        fetch = "https://example.org/"
        headers = { Authorization = "Bearer ${API_TOKEN}" }
        """,
        environ={},
    )
    assert problem.message == "environment variable API_TOKEN is not set"
    assert problem.hint is not None and "export API_TOKEN" in problem.hint
    assert (problem.line, problem.job, problem.key) == (4, "api", "headers")


def test_unset_env_variables_in_url_and_body(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [[job]]
        name = "api"
        fetch = "https://${HOST}/x"
        method = "POST"
        body = "${BODY}"
        """,
        environ={},
    )
    assert [(problem.key, problem.line, problem.message) for problem in found] == [
        ("fetch", 3, "environment variable HOST is not set"),
        ("body", 5, "environment variable BODY is not set"),
    ]


def test_env_values_never_appear_in_messages(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nfetch = "${HOST}"\n', environ={"HOST": "ftp://s3cret"})
    assert "s3cret" not in str(problem)
    assert "${HOST}" in problem.message


# --- syntax -----------------------------------------------------------------------------------------------------


def test_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nshell = echo hi\n')
    assert (problem.line, problem.column) == (3, 9)
    assert problem.message == "Invalid value"
    assert problem.hint is not None and "quotes" in problem.hint
    assert str(problem).endswith(
        'deck.toml:3:9: Invalid value (strings need quotes, e.g. shell = "make all"; lists need a closing ])'
    )


def test_string_left_open_on_its_line(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nshell = "echo\n')
    assert (problem.line, problem.column) == (3, 14)
    assert problem.hint is not None and "triple quotes" in problem.hint


def test_syntax_error_at_end_of_file(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nshell = """echo\n')
    assert problem.line == 4
    assert "Unterminated string" in problem.message
    assert "(at" not in problem.message


# --- unknown keys -----------------------------------------------------------------------------------------------


def test_unknown_job_key_suggests_the_near_one(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nshell = "true"\nretires = 2\n')
    assert (problem.line, problem.job, problem.key) == (4, "a", "retires")
    assert "unknown key" in problem.message
    assert problem.hint == "did you mean 'retries'?"


def test_unknown_job_key_without_near_match_lists_valid_keys(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nshell = "true"\nzzz = 2\n')
    assert problem.hint is not None and "valid keys for a shell job are: name, after" in problem.hint


def test_unknown_deck_key_suggests_the_near_one(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[deck]\nfetch_limt = 2\n\n[[job]]\nname = "a"\nshell = "true"\n')
    assert (problem.line, problem.job, problem.key) == (2, None, "fetch_limt")
    assert problem.hint == "did you mean 'fetch_limit'?"


def test_unknown_top_level_table_suggests_job(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nshell = "true"\n\n[[jobs]]\nname = "b"\n')
    assert (problem.line, problem.key) == (5, "jobs")
    assert problem.hint == "did you mean 'job'?"


def test_deck_key_written_above_any_table(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, 'retries = 2\n[[job]]\nname = "a"\nshell = "true"\n')
    assert (problem.line, problem.key) == (1, "retries")
    assert problem.hint == "put it under the [deck] header"


def test_single_job_table_asks_for_double_brackets(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[job]\nname = "a"\nshell = "true"\n')
    assert problem.line == 1
    assert "[[job]]" in problem.message


def test_key_of_another_kind(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "tar"\nshell = "tar c ."\nargs = [1]\n')
    assert (problem.line, problem.job, problem.key) == (4, "tar", "args")
    assert "key 'args' applies only to call jobs" in problem.message


# --- types and ranges -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('retries = "three"', "must be a whole number >= 0, not a string ('three')"),
        ("retries = true", "must be a whole number >= 0, not a boolean (true)"),
        ("retries = -1", "must be a whole number >= 0, not -1"),
        ("retries = 1.5", "must be a whole number >= 0, not 1.5"),
        ('timeout = "soon"', "'soon' is not a duration"),
        (
            "timeout = false",
            'must be a number of seconds or a duration such as "10s", "5m", "1h30m" or "500ms", not a boolean (false)',
        ),
        ("backoff = -0.5", "must be a duration of 0 s or more, not -0.5"),
        ("backoff = inf", "must be a duration of 0 s or more, not inf"),
        ("name = 3", "must be a non-empty string, not 3"),
        ('name = ""', "must be a non-empty string, not an empty string"),
        ("shell = []", "must be a non-empty string, not a list"),
    ],
)
def test_wrong_types_say_what_was_expected_and_found(tmp_path: Path, line: str, expected: str) -> None:
    key = line.split(" = ")[0]
    lines = {"name": 'name = "j"', "shell": 'shell = "true"', key: line}
    text = "[[job]]\n" + "\n".join(lines.values()) + "\n"
    problem = only_problem(tmp_path, text)
    assert problem.message == expected
    assert problem.key == key
    assert problem.line == text.splitlines().index(line) + 1


@pytest.mark.parametrize("key", ["fetch_limit", "process_limit", "thread_limit", "shell_limit"])
@pytest.mark.parametrize("value", ["0", "-3", "true", '"4"'])
def test_limits_must_be_at_least_one(tmp_path: Path, key: str, value: str) -> None:
    problem = only_problem(tmp_path, f'[deck]\n{key} = {value}\n\n[[job]]\nname = "a"\nshell = "true"\n')
    assert (problem.line, problem.job, problem.key) == (2, None, key)
    assert problem.message.startswith("must be a whole number >= 1, not ")


def test_deck_limit_of_zero_explains_why(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[deck]\nshell_limit = 0\n[[job]]\nname = "a"\nshell = "true"\n')
    assert problem.hint == "a limit of 0 would never run anything"


def test_deck_name_may_not_contain_a_slash(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[deck]\nname = "a/b"\n[[job]]\nname = "a"\nshell = "true"\n')
    assert (problem.line, problem.key) == (2, "name")
    assert "'/'" in problem.message


def test_wrong_types_for_tables_and_lists(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [[job]]
        name = "c"
        call = "json:dumps"
        args = 5
        kwargs = [1]

        [[job]]
        name = "f"
        fetch = "https://example.org/"
        headers = { X-Count = 3 }
        body = 7
        """,
    )
    assert [(problem.job, problem.key, problem.line) for problem in found] == [
        ("c", "args", 4),
        ("c", "kwargs", 5),
        ("f", "headers", 10),
        ("f", "body", 11),
    ]
    assert found[0].message == "must be a list, not 5"
    assert found[2].message == "header 'X-Count' must be a string, not 3"
    assert found[2].hint == 'write X-Count = "3"'


# --- kinds and names --------------------------------------------------------------------------------------------


def test_two_kinds_in_one_job(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nshell = "true"\nfetch = "https://x.org/"\n')
    assert (problem.line, problem.job, problem.key) == (4, "a", "fetch")
    assert "'shell' and 'fetch'" in problem.message
    assert problem.hint is not None and "split" in problem.hint


def test_job_without_a_kind(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[deck]\n\n[[job]]\nname = "idle"\nretries = 1\n')
    assert (problem.line, problem.job, problem.key) == (3, "idle", None)
    assert problem.message == "the job has nothing to do"
    assert problem.hint is not None and "fetch" in problem.hint and "call" in problem.hint


def test_job_without_a_name_is_called_by_its_position(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nshell = "true"\n\n[[job]]\nshell = "false"\n')
    assert (problem.line, problem.job) == (5, "#2")
    assert problem.message == "the job has no name"


def test_job_name_may_not_contain_brackets_or_slashes(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a[1]"\nshell = "true"\n')
    assert (problem.line, problem.job, problem.key) == (2, "#1", "name")
    assert "'[' or ']'" in problem.message


def test_duplicate_names(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nshell = "true"\n\n[[job]]\nname = "a"\nshell = "false"\n')
    assert (problem.line, problem.job, problem.key) == (6, "a", "name")
    assert problem.message == "another job on line 1 is already named 'a'"


def test_duplicate_fan_out_items(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "p"\nshell = "echo {item}"\neach = [1, 2, 1]\n')
    assert (problem.line, problem.job, problem.key) == (4, "p", "each")
    assert "p[1]" in problem.message


# --- after ------------------------------------------------------------------------------------------------------


def test_unknown_after_suggests_the_near_name(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """
        [[job]]
        name = "build"
        shell = "make"

        [[job]]
        name = "test"
        shell = "make test"
        after = ["biuld"]
        """,
    )
    assert (problem.line, problem.job, problem.key) == (8, "test", "after")
    assert problem.message == "there is no job named 'biuld'"
    assert problem.hint == "did you mean 'build'?"


def test_cyclic_after_names_the_cycle(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """
        [[job]]
        name = "a"
        shell = "true"
        after = ["c"]

        [[job]]
        name = "b"
        shell = "true"
        after = ["a"]

        [[job]]
        name = "c"
        shell = "true"
        after = ["b"]
        """,
    )
    assert (problem.line, problem.job, problem.key) == (4, "a", "after")
    assert "a -> c -> b -> a" in problem.message


def test_cycle_through_a_fan_out(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """
        [[job]]
        name = "a"
        shell = "true"
        after = ["p[2]"]

        [[job]]
        name = "p"
        shell = "echo {item}"
        each = [1, 2]
        after = ["a"]
        """,
    )
    assert "a -> p -> a" in problem.message


def test_self_after(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nshell = "true"\nafter = ["a"]\n')
    assert (problem.line, problem.job, problem.key) == (4, "a", "after")
    assert "cannot wait for itself" in problem.message


def test_fan_out_cannot_wait_for_its_own_item(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "p"\nshell = "echo {item}"\neach = [1, 2]\nafter = ["p[1]"]\n')
    assert "cannot wait for itself" in problem.message


def test_bare_string_after(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, '[[job]]\nname = "a"\nshell = "true"\n[[job]]\nname = "b"\nshell = "true"\nafter = "a"\n'
    )
    assert (problem.line, problem.job, problem.key) == (7, "b", "after")
    assert problem.message == "must be a list of job names, not a string"
    assert problem.hint == 'write after = ["a"]'


# --- fetch ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason", "hint"),
    [
        ("www.python.org", "it must start with http:// or https://", "did you mean 'https://www.python.org'?"),
        ("ftp://example.org/file", "it must start with http:// or https://", None),
        ("https://", "it has no host name", None),
        ("http://[::1/", "the host name is malformed", None),
        ("http://example.org:99999/", "the port must be a number from 1 to 65535", None),
    ],
)
def test_malformed_url(tmp_path: Path, url: str, reason: str, hint: str | None) -> None:
    problem = only_problem(tmp_path, f'[[job]]\nname = "get"\nfetch = "{url}"\n')
    assert (problem.line, problem.job, problem.key) == (3, "get", "fetch")
    assert problem.message == f"{url!r} is not a valid URL: {reason}"
    if hint:
        assert problem.hint == hint


def test_malformed_url_after_item_substitution(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "get"\nfetch = "{item}"\neach = ["https://a.org/", "b.org"]\n')
    assert problem.message == "'b.org' is not a valid URL: it must start with http:// or https://"


def test_bad_method(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nfetch = "https://x.org/"\nmethod = "GETT"\n')
    assert (problem.line, problem.job, problem.key) == (4, "a", "method")
    assert "'GETT' is not an HTTP method" in problem.message
    assert problem.hint == "did you mean 'GET'?"


@pytest.mark.parametrize("expect", ["600", "99", "true", "[]", '[200, "404"]', '"200"'])
def test_bad_expect(tmp_path: Path, expect: str) -> None:
    problem = only_problem(tmp_path, f'[[job]]\nname = "a"\nfetch = "https://x.org/"\nexpect = {expect}\n')
    assert (problem.line, problem.job, problem.key) == (4, "a", "expect")
    assert problem.message.startswith("must be an HTTP status (100 to 599) or a list of them")


def test_single_expect_status_becomes_a_set(tmp_path: Path) -> None:
    deck = load(tmp_path, '[[job]]\nname = "a"\nfetch = "https://x.org/"\nexpect = 204\n')
    assert isinstance(deck.jobs[0].work, FetchSpec)
    assert deck.jobs[0].work.expect == frozenset({204})


@pytest.mark.parametrize("save", ["../escape.html", "a/../../escape.html", "/etc/passwd", "."])
def test_save_must_stay_inside_out_dir(tmp_path: Path, save: str) -> None:
    problem = only_problem(tmp_path, f'[[job]]\nname = "a"\nfetch = "https://x.org/"\nsave = "{save}"\n')
    assert (problem.line, problem.job, problem.key) == (4, "a", "save")
    assert "out_dir" in problem.message


def test_save_inside_a_nested_out_dir_may_climb_within_it(tmp_path: Path) -> None:
    deck = load(
        tmp_path, '[deck]\nout_dir = "out"\n[[job]]\nname = "a"\nfetch = "https://x.org/"\nsave = "x/../y.html"\n'
    )
    assert isinstance(deck.jobs[0].work, FetchSpec)
    assert deck.jobs[0].work.save == (tmp_path / "out" / "y.html").resolve()


def test_fan_out_saving_to_one_file(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, '[[job]]\nname = "p"\nfetch = "https://x.org/{item}"\nsave = "p.html"\neach = [1, 2]\n'
    )
    assert (problem.line, problem.key) == (4, "save")
    assert problem.message == "saves to the same file as job 'p[1]'"
    assert problem.hint is not None and "{item}" in problem.hint


def test_header_subtable_counts_as_the_headers_key(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """
        [[job]]
        name = "a"
        fetch = "https://x.org/"

        [job.headers]
        Accept = 5
        """,
    )
    assert (problem.line, problem.key) == (5, "headers")


# --- call -------------------------------------------------------------------------------------------------------


def test_call_without_module_and_function(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\ncall = "tasks.count_primes"\n')
    assert (problem.line, problem.job, problem.key) == (3, "a", "call")
    assert problem.message == "must be written module:function, not 'tasks.count_primes'"
    assert problem.hint == 'did you mean call = "tasks:count_primes"?'


@pytest.mark.parametrize(("target", "part"), [("my-tasks:run", "'my-tasks'"), ("tasks:2run", "'2run'")])
def test_call_names_must_be_python_identifiers(tmp_path: Path, target: str, part: str) -> None:
    problem = only_problem(tmp_path, f'[[job]]\nname = "a"\ncall = "{target}"\n')
    assert problem.key == "call"
    assert problem.message.startswith(part)


def test_missing_module_suggests_the_file_beside_the_job_file(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text("", encoding="utf-8")
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\ncall = "taskz:count"\n')
    assert (problem.line, problem.job, problem.key) == (3, "a", "call")
    assert problem.message == (
        f"module 'taskz' not found beside the job file ({tmp_path.resolve()}) or on the Python path"
    )
    assert problem.hint == "did you mean 'tasks'?"


def test_bad_on(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\ncall = "json:dumps"\non = "Proces"\nargs = [1]\n')
    assert (problem.line, problem.key) == (4, "on")
    assert problem.message == 'must be "process", "thread", "dask" or "dask://host:port", not "Proces"'
    assert problem.hint == 'did you mean on = "process"?'


# --- each -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("each", "message"),
    [
        ("3", "must be a list, not 3"),
        ('"abc"', "must be a list, not a string ('abc')"),
        ("[]", "must list at least one item"),
        ("[1, [2]]", "items must be strings, numbers, booleans or tables, but item 2 is a list"),
        ("{ file = 'x' }", "each = { file = ... } is no source of items"),
    ],
)
def test_bad_each(tmp_path: Path, each: str, message: str) -> None:
    problem = only_problem(tmp_path, f'[[job]]\nname = "p"\nshell = "echo {{item}}"\neach = {each}\n')
    assert (problem.line, problem.job, problem.key) == (4, "p", "each")
    assert problem.message == message


# --- the file itself --------------------------------------------------------------------------------------------


def test_empty_deck(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[deck]\nname = "nothing"\n')
    assert problem.message == "the deck has no jobs"
    assert problem.hint is not None and "[[job]]" in problem.hint


def test_empty_file(tmp_path: Path) -> None:
    assert only_problem(tmp_path, "").message == "the deck has no jobs"


def test_missing_file_suggests_a_sibling(tmp_path: Path) -> None:
    write(tmp_path, '[[job]]\nname = "a"\nshell = "true"\n', name="nightly.toml")
    problem = problem_of_file(tmp_path / "nigthly.toml")
    assert problem.message == "no such job file"
    assert problem.hint == "did you mean 'nightly.toml'?"
    assert problem.path == (tmp_path / "nigthly.toml").resolve()


def test_directory(tmp_path: Path) -> None:
    write(tmp_path, '[[job]]\nname = "a"\nshell = "true"\n', name="jobs.toml")
    problem = problem_of_file(tmp_path)
    assert problem.message == "this is a folder, not a job file"
    assert problem.hint is not None and "jobs.toml" in problem.hint


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "deck.toml"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    assert "binary file" in problem_of_file(path).message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "deck.toml"
    path.write_bytes('[[job]]\nname = "café"\n'.encode("latin-1"))
    problem = problem_of_file(path)
    assert problem.line == 2
    assert "not UTF-8" in problem.message
    assert problem.hint == "save the file with UTF-8 encoding"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[[job]]\nname = "a"\nshell = "true"\n')

    real_open = os.open

    def refuse(file: str | os.PathLike[str], flags: int, *rest: int) -> int:
        if Path(file) == path:  # the tests run as root, whom file modes do not stop
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, flags, *rest)

    monkeypatch.setattr(os, "open", refuse)
    problem = problem_of_file(path)
    assert problem.message == "cannot read the job file: permission denied"


def test_path_with_a_nul_character(tmp_path: Path) -> None:
    assert "NUL" in problem_of_file(tmp_path / "a\0b.toml").message


# --- many problems at once --------------------------------------------------------------------------------------


def test_every_problem_in_a_file_is_reported_in_line_order(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [deck]
        fetch_limit = 0
        retrys = 2

        [[job]]
        name = "home"
        fetch = "htp:/www.python.org/"
        headers = { Authorization = "Bearer ${NOPE}" }
        retries = "three"

        [[job]]
        name = "home"
        shell = "x"
        args = [1]

        [[job]]
        name = "wait"
        shell = "x"
        after = ["nobody"]
        """,
        environ={},
    )
    assert [(problem.line, problem.key) for problem in found] == [
        (2, "fetch_limit"),
        (3, "retrys"),
        (7, "fetch"),
        (8, "headers"),
        (9, "retries"),
        (12, "name"),
        (14, "args"),
        (19, "after"),
    ]
    rendered = str(DeckError(found))
    assert rendered.count("deck.toml:") == len(found)


@pytest.mark.parametrize(
    "text",
    [
        "job = 3",
        "job = [1, 2]",
        "deck = 1\njob = []",
        '[[job]]\nname = "a"\nshell = "x"\neach = [1990-01-01]',
        '[[job]]\nname = "a"\nfetch = "https://x.org/"\nheaders = "x"\nexpect = [1.5]\nsave = 1',
        '[[job]]\nname = "a"\ncall = ":"\n',
        '[[job]]\nname = "a"\ncall = "x:"\nargs = [{ a = ["{item}"] }]',
        '"""\n[[job]]\n"""',
        "[[job]]\n" * 3,
    ],
)
def test_odd_files_raise_only_deck_errors(tmp_path: Path, text: str) -> None:
    found = problems(tmp_path, text)
    assert all(isinstance(problem, Problem) for problem in found)


def test_lines_are_found_past_multiline_strings_comments_and_quoted_keys(tmp_path: Path) -> None:
    text = '''
    [[job]]  # the first job
    name = "script"
    shell = """
    [[job]]
    retries = 1
    """

    [[job]]
    name = "second"
    shell = "true"
    "retries" = "x"
    '''
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.job, problem.key) == (line_of(text, '"retries" = "x"'), "second", "retries")


def test_url_from_an_unset_variable_is_reported_once(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[[job]]\nname = "a"\nfetch = "${SITE}/x"\n', environ={})
    assert problem.message == "environment variable SITE is not set"


def test_url_from_a_set_variable_is_checked_and_kept(tmp_path: Path) -> None:
    deck = load(tmp_path, '[[job]]\nname = "a"\nfetch = "${SITE}/x"\n', environ={"SITE": "https://x.org"})
    assert isinstance(deck.jobs[0].work, FetchSpec)
    assert deck.jobs[0].work.url == "${SITE}/x"


def test_a_missing_file_is_not_matched_to_an_unrelated_one_by_its_suffix(tmp_path: Path) -> None:
    (tmp_path / "primes.toml").write_text('[[job]]\nname = "a"\nshell = "true"\n')
    (tmp_path / "nightly.toml").write_text('[[job]]\nname = "a"\nshell = "true"\n')
    with pytest.raises(DeckError) as missing:
        load_deck(tmp_path / "nope.toml")
    assert "did you mean" not in str(missing.value)
    with pytest.raises(DeckError) as misspelt:
        load_deck(tmp_path / "nigthly.toml")
    assert "did you mean 'nightly.toml'?" in str(misspelt.value)


def test_the_log_cap_comes_from_the_deck_and_a_job_may_set_its_own(tmp_path: Path) -> None:
    deck = load(
        tmp_path,
        """
        [deck]
        log_limit_mb = 2.5

        [[job]]
        name = "quiet"
        shell = "true"

        [[job]]
        name = "loud"
        shell = "yes"
        log_limit_mb = 100
        each = [1, 2]
        """,
    )
    assert {job.name: job.log_limit_mb for job in deck.jobs} == {"quiet": 2.5, "loud[1]": 100.0, "loud[2]": 100.0}
    assert load(tmp_path, '[[job]]\nname = "x"\nshell = "true"\n').jobs[0].log_limit_mb == 10.0
    (problem,) = problems(tmp_path, '[[job]]\nname = "x"\nshell = "true"\nlog_limit_mb = 0\n')
    assert (problem.job, problem.key, problem.line) == ("x", "log_limit_mb", 4)
    assert problem.message == "must be a number >= 0.01, not 0"
    assert problem.hint is not None and "past it the start and the end are kept" in problem.hint
