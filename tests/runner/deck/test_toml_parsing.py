"""The fast TOML parser (rtoml) gives what tomllib gives, or tomllib parses: its values, its error messages."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
import rtoml

from runner.deck import load_deck
from runner.deck.toml_parsing import fast_parser_applies, parse_toml
from runner.errors import DeckError


def same(left: Any, right: Any) -> bool:
    """Equal values of equal types all the way down, nan equal to nan."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right) and math.copysign(1, left) == math.copysign(1, right)
    if isinstance(left, float):
        return left == right and math.copysign(1, left) == math.copysign(1, right)
    return bool(left == right)


FAST_AND_VALID = {
    "inline tables": 'x = { a = 1, b = { c = [1, { d = "e" }] } }\ny = {}\n',
    "dotted keys": 'a.b.c = 1\na.b.d = "x"\n"q.r".s = 2\n[t]\nu.v = 3\n[t.w]\nz = true\n',
    "big ints": "a = 9223372036854775807\nb = -9223372036854775808\nc = 0xDEADBEEF\nd = 0o755\ne = 0b1101\nf = 1_000\n"
    "g = 99999999999999999999999\n",
    "floats": "a = inf\nb = -inf\nc = nan\nd = +nan\ne = -nan\nf = 6.626e-34\ng = -0.0\nh = 3.14_15\ni = 1e308\n",
    "multi-line strings": 'a = """\nline1\\\n   line2\n  "quoted" ""\n"""\nb = \'\'\'\nraw \\n {item}\n\'\'\'\n'
    'c = "tab\\tuni\\u00e9\\U0001F600"\nd = """a""b"""\n',
    "local dates": "a = 1979-05-27\nb = [1979-05-27, 2000-02-29]\n",
    "arrays of tables": '[[job]]\nname = "a"\n[job.headers]\nA = "b"\n'
    '[[job]]\nname = "b"\neach = [1, "x", true, 1.5]\n',
    "key order": "z = 1\na = 2\nm = 3\n[b]\ny = 1\nx = 2\n",
    "comments and blank lines": "# top\n\na = 1 # after\n\n[b] # header\nc = 'd' # end\n",
    "a URL with a port": 'fetch = "http://localhost:8080/x"\n',
}


@pytest.mark.parametrize("text", FAST_AND_VALID.values(), ids=FAST_AND_VALID.keys())
def test_the_fast_parser_reads_valid_toml_as_tomllib_does(text: str) -> None:
    assert fast_parser_applies(text)
    assert same(rtoml.loads(text), tomllib.loads(text))
    assert same(parse_toml(text), tomllib.loads(text))


TIMES = {
    "offset date-times": "a = 1979-05-27T07:32:00Z\nb = 1979-05-27T00:32:00-07:00\nc = 1979-05-27 07:32:00+05:30\n",
    "local date-times and times": "a = 1979-05-27T00:32:00.999999\nb = 07:32:00\nc = 00:32:00.5\n",
    "more than microseconds": "a = 1979-05-27T07:32:00.1234567Z\n",
}


@pytest.mark.parametrize("text", TIMES.values(), ids=TIMES.keys())
def test_times_are_read_by_tomllib_with_its_tzinfo(text: str) -> None:
    # rtoml's offset date-times compare equal but carry their own tzinfo class: tomllib reads any time.
    assert not fast_parser_applies(text)
    assert same(parse_toml(text), tomllib.loads(text))


NOT_TOML_1_0 = {
    "an inline table over two lines": "x = { a = 1,\n b = 2 }\n",
    "an inline table ending with a comma": "x = { a = 1, }\n",
    "a nested inline table ending with a comma": "x = { a = { b = 1 }, }\n",
    "the \\e escape": 'a = "\\e[1m"\n',
    "the \\x escape": 'a = "\\x41"\n',
    "a time without seconds": "a = 07:32\n",
    "a date-time without seconds": "a = 1979-05-27T07:32Z\n",
}


@pytest.mark.parametrize("text", NOT_TOML_1_0.values(), ids=NOT_TOML_1_0.keys())
def test_what_rtoml_accepts_beyond_toml_1_0_is_refused_with_tomllibs_message(text: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as expected:
        tomllib.loads(text)
    with pytest.raises(tomllib.TOMLDecodeError) as caught:
        parse_toml(text)
    assert str(caught.value) == str(expected.value)


@pytest.mark.parametrize(
    "text",
    ["a = 1\na = 2\n", "a = \n", "[a]\n[a]\n", 'a = "x\x7fy"\n', "a = 01\n", "[[job]\n", 'a = "open\n'],
)
def test_a_syntax_error_is_tomllibs(text: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as expected:
        tomllib.loads(text)
    with pytest.raises(tomllib.TOMLDecodeError) as caught:
        parse_toml(text)
    assert str(caught.value) == str(expected.value)


def test_what_rtoml_refuses_but_tomllib_reads_is_read() -> None:
    assert parse_toml("a = 1e1000\n") == {"a": math.inf}


def test_a_deck_with_a_syntax_error_reports_tomllibs_position(tmp_path: Path) -> None:
    path = tmp_path / "deck.toml"
    path.write_text('[[job]]\nname = "a"\nshell = "x"\nshell = "y"\n', encoding="utf-8")
    with pytest.raises(DeckError) as caught:
        load_deck(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (4, 12)
    assert problem.message.startswith("Cannot overwrite a value")
