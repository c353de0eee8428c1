"""`check_deck` (what `jobdeck check` runs) finds exactly the problems `load_deck` finds, without making a spec
per fan-out member."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.deck.parser import check_deck, load_deck
from runner.errors import DeckError
from runner.kinds.call_spec import CallKindSpec
from runner.kinds.fetch_spec import FetchKindSpec
from runner.kinds.shell_spec import ShellKindSpec
from runner.model import Kind
from tests.helpers import jobdeck

WriteDeck = Callable[..., Path]

BAD_DECKS = {
    "two items save to one file": """
[deck]
out_dir = "out"
[[job]]
name = "page"
fetch = "https://example.org/{item}"
save = "same.html"
each = [1, 2]
""",
    "an item's save path leaves out_dir": """
[deck]
out_dir = "out"
[[job]]
name = "page"
fetch = "https://example.org/{item}"
save = "{item}.html"
each = ["fine", "../../escape"]
""",
    "an item names a variable that is not set": """
[[job]]
name = "page"
fetch = "https://example.org/{item}"
each = ["a", "${JOBDECK_TEST_SURELY_UNSET}"]
""",
    "items repeat": """
[[job]]
name = "page"
fetch = "https://example.org/{item}"
each = [1, 2, 1]
""",
    "an item empties a command": """
[[job]]
name = "run"
shell = "{item}"
each = ["true", " "]
""",
    "a single job and a fan-out member save to one file": """
[deck]
out_dir = "out"
[[job]]
name = "one"
fetch = "https://example.org/one"
save = "2.html"
[[job]]
name = "page"
fetch = "https://example.org/{item}"
save = "{item}.html"
each = [1, 2]
""",
    "a misspelt placeholder in a fan-out": """
[[job]]
name = "doc"
fetch = "https://example.org/doc{itme}.txt"
save = "{item}.txt"
each = [1, 2]
""",
    "a placeholder in a job without each": """
[[job]]
name = "count"
shell = "wc -w doc{item}.txt"
""",
}


SAVE_EDGES = {
    "dot": '[".", "a"]',
    "dot-dot": '["..", "a"]',
    "tilde": '["~home", "a"]',
    "sub-folder": '["a/b", "c"]',
    "empty": '["", "a"]',
}


@pytest.mark.parametrize("items", SAVE_EDGES.values(), ids=SAVE_EDGES.keys())
@pytest.mark.parametrize("save", ["{item}", "pages/{item}", "{item}.html", "p/{item}/x"])
def test_check_agrees_with_loading_on_unusual_save_paths(write_deck: WriteDeck, save: str, items: str) -> None:
    path = write_deck(
        f'[deck]\nout_dir = "out"\n[[job]]\nname = "page"\nfetch = "https://x.org/{{item}}"\n'
        f'save = "{save}"\neach = {items}\n'
    )
    try:
        loaded = len(load_deck(path).jobs)
    except DeckError as refused:
        assert problems_of(check_deck, path) == [str(problem) for problem in refused.problems]
    else:
        assert check_deck(path).jobs == loaded


def problems_of(load: Callable[[Path], object], path: Path) -> list[str]:
    with pytest.raises(DeckError) as refused:
        load(path)
    return [str(problem) for problem in refused.value.problems]


@pytest.mark.parametrize("text", BAD_DECKS.values(), ids=BAD_DECKS.keys())
def test_check_finds_what_loading_finds(write_deck: WriteDeck, text: str) -> None:
    path = write_deck(text)
    assert problems_of(check_deck, path) == problems_of(load_deck, path)


def test_a_big_fan_out_is_checked_without_a_spec_per_item(
    write_deck: WriteDeck, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_deck(
        """
[deck]
out_dir = "out"
[[job]]
name = "page"
fetch = "https://example.org/{item}"
save = "{item}.html"
each = [1, 2, 3, "a$b"]
[[job]]
name = "add"
call = "tasks:add"
args = ["{item}", 1]
each = [1, 2]
[[job]]
name = "echo"
shell = "echo {item}"
each = [1, 2]
[[job]]
name = "alone"
shell = "true"
"""
    )

    def refused(*_: object) -> None:
        raise AssertionError("a spec was made for each item")

    for kind in (FetchKindSpec, CallKindSpec, ShellKindSpec):
        monkeypatch.setattr(kind, "for_items", refused)
    checked = check_deck(path)
    assert (checked.jobs, checked.kinds) == (9, frozenset({Kind.FETCH, Kind.CALL, Kind.SHELL}))


def test_the_check_command_reports_the_count_and_the_problems(write_deck: WriteDeck) -> None:
    good = write_deck(
        '[[job]]\nname = "page"\nfetch = "https://example.org/{item}"\neach = [1, 2, 3]\n', name="ok.toml"
    )
    bad = write_deck(BAD_DECKS["two items save to one file"], name="bad.toml")
    result = jobdeck("check", good)
    assert result.returncode == 0, result.stderr
    assert "deck 'ok', 3 jobs (fetch)" in result.stdout
    result = jobdeck("check", bad)
    assert result.returncode == 2
    assert "saves to the same file as job 'page[1]'" in result.stderr
