"""Durations in job files: a number of seconds, or "10s", "5m", "1h30m", "500ms", wherever a key is a duration."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.deck.durations import DurationError, parse_duration
from tests.runner.deck.test_deck import job, line_of, load, only_problem


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("2m 30s", 150.0),
        ("1d", 86400.0),
        ("0s", 0.0),
        (" 1H ", 3600.0),
    ],
)
def test_durations_read_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("10", "'10' is not a duration: a number needs a unit", 'write "10s", or the number alone (10) for seconds'),
        ("5min", "'5min' is not a duration: 'min' is not a unit jobdeck knows", 'write "5m"'),
        ("1h30", "'1h30' is not a duration: a number needs a unit", '"1h30m" for minutes'),
        ("30m1h", "'h' comes after a part in a unit as small or smaller", "largest first"),
        ("soon", "'soon' is not a duration", '"10s", "5m", "1h30m" or "500ms"'),
        ("-5s", "'-5s' is negative", "use 0 for none"),
        ("", "an empty string is not a duration", "a number and a unit"),
    ],
)
def test_a_bad_duration_says_why_and_what_to_write(text: str, message: str, hint: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert message in str(caught.value)
    assert hint in caught.value.hint


def test_job_and_deck_durations_become_seconds(tmp_path: Path) -> None:
    deck = load(
        tmp_path,
        """
        [deck]
        timeout = "1h30m"
        backoff = "2s"

        [[job]]
        name = "quick"
        shell = "true"
        timeout = "500ms"
        backoff = "1m"

        [[job]]
        name = "plain"
        shell = "true"
        timeout = 7.5

        [[job]]
        name = "default"
        shell = "true"
        """,
    )
    assert (deck.settings.timeout, deck.settings.backoff) == (5400.0, 2.0)
    assert (job(deck, "quick").timeout, job(deck, "quick").backoff) == (0.5, 60.0)
    assert (job(deck, "plain").timeout, job(deck, "plain").backoff) == (7.5, 2.0)
    assert (job(deck, "default").timeout, job(deck, "default").backoff) == (5400.0, 2.0)


@pytest.mark.parametrize("table", ["job", "deck"])
def test_a_bad_duration_in_a_file_names_its_line_job_and_key(tmp_path: Path, table: str) -> None:
    bad = 'timeout = "5 mins"'
    job_table = '[[job]]\nname = "build"\nshell = "make"\n'
    text = f"[deck]\n{bad}\n\n{job_table}" if table == "deck" else f"{job_table}{bad}\n"
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.key) == (line_of(text, bad), "timeout")
    assert problem.job == ("build" if table == "job" else None)
    assert problem.message == "'5 mins' is not a duration: 'mins' is not a unit jobdeck knows"
    assert problem.hint is not None and problem.hint.startswith('write "5m"')
