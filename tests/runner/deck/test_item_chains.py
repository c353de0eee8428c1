"""Per-item `after` read from a job file: `get[{item}]` makes each member of a fan-out wait for its own upstream
member only, beside whole-job names; a member without an upstream member is a problem that shows the chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.deck.parser import check_deck
from runner.deck.pending_fan_out import PendingFanOut
from runner.errors import DeckError
from tests.runner.deck.test_deck import job, line_of, load, only_problem, problems, write

CHAIN = """
[[job]]
name = "setup"
shell = "true"

[[job]]
name = "get"
shell = "echo get {item}"
each = { range = [1, 4] }

[[job]]
name = "count"
shell = "echo count {item}"
each = [1, 2, 3]
after = ["get[{item}]", "setup"]
"""


def test_each_member_waits_for_its_own_upstream_member_and_the_whole_jobs_named(tmp_path: Path) -> None:
    deck = load(tmp_path, CHAIN)
    assert {spec.name: spec.after for spec in deck.jobs if spec.group == "count"} == {
        "count[1]": ("setup", "get[1]"),
        "count[2]": ("setup", "get[2]"),
        "count[3]": ("setup", "get[3]"),
    }
    assert job(deck, "count[2]").group == "count" and job(deck, "count[2]").item == 2


def test_table_items_and_several_placeholders_name_the_upstream_member(tmp_path: Path) -> None:
    deck = load(
        tmp_path,
        """
        [[job]]
        name = "get"
        shell = "echo {item}"
        each = ["a-2024", "b-2025"]

        [[job]]
        name = "tag"
        shell = "echo {item}"
        each = ["a", "b"]

        [[job]]
        name = "report"
        shell = "echo {item.name} {item.year}"
        each = [{ name = "a", year = 2024 }, { name = "b", year = 2025 }]
        after = ["get[{item.name}-{item.year}]", "tag[{item.name}]"]
        """,
    )
    assert job(deck, "report[b]").after == ("get[b-2025]", "tag[b]")


def test_a_member_without_an_upstream_member_is_an_error_that_shows_the_chain(tmp_path: Path) -> None:
    text = CHAIN.replace("each = [1, 2, 3]", "each = [1, 2, 7, 9]")
    problem = only_problem(tmp_path, text)
    assert (problem.path, problem.line, problem.job, problem.key) == (
        tmp_path / "deck.toml",
        line_of(text, 'after = ["get[{item}]"'),
        "count",
        "after",
    )
    assert problem.message == (
        "count[7] waits for get[7], which does not exist: get has no such member "
        "(1 more members have no upstream member either)"
    )
    assert problem.hint == "the chain: count[7] -> get[7]; the members of get are get[1], get[2], get[3]"


def test_check_finds_the_missing_member_too(tmp_path: Path) -> None:
    path = write(tmp_path, CHAIN.replace("each = [1, 2, 3]", "each = [1, 5]"))
    with pytest.raises(DeckError) as caught:
        check_deck(path)
    [problem] = caught.value.problems
    assert problem.message == "count[5] waits for get[5], which does not exist: get has no such member"


def test_per_item_names_that_cannot_be_matched_are_refused_with_what_to_write(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [[job]]
        name = "setup"
        shell = "true"

        [[job]]
        name = "get"
        shell = "echo {item}"
        each = [1, 2]

        [[job]]
        name = "single"
        shell = "true"
        after = ["get[{item}]"]

        [[job]]
        name = "a"
        shell = "echo {item}"
        each = [1, 2]
        after = ["setup[{item}]"]

        [[job]]
        name = "b"
        shell = "echo {item}"
        each = [1, 2]
        after = ["gett[{item}]"]
        """,
    )
    by_job = {problem.job: problem for problem in found}
    assert by_job["single"].message == "'get[{item}]' names one job per item, and this job has no each"
    assert by_job["a"].message == "'setup[{item}]' names one job per item, but 'setup' is a single job"
    assert by_job["a"].hint == 'wait for it as a whole: after = ["setup"]'
    assert by_job["b"].message == "there is no fan-out named 'gett' (in 'gett[{item}]')"
    assert by_job["b"].hint == "did you mean 'get'?"


def test_per_item_waits_in_a_circle_are_found(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """
        [[job]]
        name = "a"
        shell = "echo {item}"
        each = [1, 2]
        after = ["b[{item}]"]

        [[job]]
        name = "b"
        shell = "echo {item}"
        each = [1, 2]
        after = ["a[{item}]"]
        """,
    )
    assert problem.message == "jobs wait for each other in a circle: a -> b -> a"


def test_a_fan_out_from_a_result_waits_for_it_and_for_the_fan_outs_from_results_it_names(tmp_path: Path) -> None:
    deck = load(
        tmp_path,
        """
        [[job]]
        name = "list_pages"
        shell = "echo '[1]'"

        [[job]]
        name = "setup"
        shell = "true"

        [[job]]
        name = "get"
        shell = "echo {item}"
        each = { result_of = "list_pages" }

        [[job]]
        name = "count"
        shell = "echo {item}"
        each = { result_of = "list_pages" }
        after = ["get[{item}]", "setup"]

        [[job]]
        name = "publish"
        shell = "true"
        after = ["count"]
        """,
    )
    count = job(deck, "count")
    assert isinstance(count, PendingFanOut)
    assert (count.after, count.entries, count.item_after) == (("list_pages", "get"), ("setup",), ("get[{item}]",))
    assert job(deck, "publish").after == ("count",)


def test_items_in_the_file_cannot_wait_item_by_item_for_items_from_a_result(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """
        [[job]]
        name = "list_pages"
        shell = "echo '[1]'"

        [[job]]
        name = "get"
        shell = "echo {item}"
        each = { result_of = "list_pages" }

        [[job]]
        name = "count"
        shell = "echo {item}"
        each = [1, 2]
        after = ["get[{item}]"]
        """,
    )
    assert problem.job == "count"
    assert problem.hint == 'take this job\'s items from the same place: each = { result_of = "list_pages" }'
