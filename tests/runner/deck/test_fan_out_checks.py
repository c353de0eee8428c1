"""A big fan-out is checked once per template where its items cannot change the outcome; the outcome is the
same as checking every item in full: the same save paths, the same refusals, the same messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.deck import load_deck
from runner.errors import DeckError, Problem
from runner.model import Deck, FetchSpec


def load(folder: Path, text: str, environ: dict[str, str] | None = None) -> Deck:
    path = folder / "deck.toml"
    path.write_text(text, encoding="utf-8")
    return load_deck(path, environ={} if environ is None else environ)


def problems(folder: Path, text: str, environ: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(DeckError) as caught:
        load(folder, text, environ)
    return caught.value.problems


def fan_out(save: str, items: str, url: str = "https://x.org/{item}") -> str:
    return f'[deck]\nout_dir = "out"\n[[job]]\nname = "p"\nfetch = "{url}"\nsave = "{save}"\neach = {items}\n'


def saves(deck: Deck) -> list[Path | None]:
    return [job.work.save for job in deck.jobs if isinstance(job.work, FetchSpec)]


@pytest.mark.parametrize(
    ("save", "items", "expected"),
    [
        ("pages/{item}.html", "[1, 2]", ["pages/1.html", "pages/2.html"]),
        ("{item}", '["a", "b"]', ["a", "b"]),
        ("{item}/index.html", '["a", "b/c"]', ["a/index.html", "b/c/index.html"]),
        ("pages/{item}", '["x/../y", "./z"]', ["pages/y", "pages/z"]),
        ("x/../pages/{item}.html", "[true, 1.5]", ["pages/true.html", "pages/1.5.html"]),
        ("pages//{item}", '["a"]', ["pages/a"]),
    ],
)
def test_each_item_saves_where_resolving_its_path_would(
    tmp_path: Path, save: str, items: str, expected: list[str]
) -> None:
    deck = load(tmp_path, fan_out(save, items))
    out_dir = (tmp_path / "out").resolve()
    assert saves(deck) == [(out_dir / path).resolve() for path in expected]


def test_a_symlinked_folder_before_the_item_is_resolved(tmp_path: Path) -> None:
    (tmp_path / "out" / "real").mkdir(parents=True)
    (tmp_path / "out" / "link").symlink_to(tmp_path / "out" / "real")
    deck = load(tmp_path, fan_out("link/{item}.html", "[1]"))
    assert saves(deck) == [(tmp_path / "out" / "real" / "1.html").resolve()]


def test_a_symlinked_folder_that_leads_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path / "elsewhere")
    [problem] = problems(tmp_path, fan_out("link/{item}.html", "[1]"))
    assert problem.key == "save" and problem.message.startswith("'link/1.html' leads outside out_dir")


@pytest.mark.parametrize(
    ("save", "items", "refused"),
    [
        ("{item}", '["..", "ok"]', ["'..' leads outside out_dir"]),
        ("{item}", '["../up", "ok"]', ["'../up' leads outside out_dir"]),
        ("pages/{item}", '["../../up"]', ["'pages/../../up' leads outside out_dir"]),
        ("{item}", '["/etc/passwd"]', ["must be a path relative to out_dir"]),
        ("{item}", '["~root/x"]', ["must be a path relative to out_dir"]),
        ("{item}", '["."]', ["must name a file inside out_dir"]),
    ],
)
def test_an_item_that_leads_outside_out_dir_is_refused_with_its_own_message(
    tmp_path: Path, save: str, items: str, refused: list[str]
) -> None:
    found = problems(tmp_path, fan_out(save, items))
    assert [problem.key for problem in found] == ["save"] * len(refused)
    for problem, start in zip(found, refused, strict=True):
        assert start in problem.message, problem.message


def test_an_item_in_the_host_is_checked_for_each_item(tmp_path: Path) -> None:
    found = problems(tmp_path, fan_out("{item}.html", '["good.org", "bad host"]', url="https://{item}/"))
    assert [problem.message for problem in found] == [
        "'https://bad host/' is not a valid URL: the host name contains a space"
    ]


def test_an_item_that_brings_a_variable_reference_is_checked(tmp_path: Path) -> None:
    found = problems(tmp_path, fan_out("{item}.html", '["a", "${UNSET}"]'))
    assert [(problem.key, problem.message) for problem in found] == [("fetch", "environment variable UNSET is not set")]


def test_a_bad_template_names_each_filled_in_url(tmp_path: Path) -> None:
    found = problems(tmp_path, fan_out("{item}.html", "[1, 2]", url="ftp://x.org/{item}"))
    assert [problem.message for problem in found] == [
        "'ftp://x.org/1' is not a valid URL: it must start with http:// or https://",
        "'ftp://x.org/2' is not a valid URL: it must start with http:// or https://",
    ]


def test_each_item_fills_in_url_headers_body_and_save(tmp_path: Path) -> None:
    text = (
        '[deck]\nout_dir = "out"\n[[job]]\nname = "p"\nfetch = "https://x.org/{item}"\nmethod = "post"\n'
        'headers = { X-Item = "h-{item}", Accept = "text/plain" }\nbody = "b-{item}"\nsave = "p/{item}.txt"\n'
        'expect = [200, 201]\nretries = 2\neach = [1, "a b", true, 2.5, "x$y"]\n'
    )
    deck = load(tmp_path, text)
    out_dir = (tmp_path / "out").resolve()
    texts = ["1", "a b", "true", "2.5", "x$y"]
    assert [job.name for job in deck.jobs] == [f"p[{text}]" for text in texts]
    assert [job.item for job in deck.jobs] == [1, "a b", True, 2.5, "x$y"]
    assert {(job.group, job.retries, job.line, job.after) for job in deck.jobs} == {("p", 2, 3, ())}
    assert [job.work for job in deck.jobs] == [
        FetchSpec(
            url=f"https://x.org/{text}",
            method="POST",
            headers={"X-Item": f"h-{text}", "Accept": "text/plain"},
            body=f"b-{text}",
            save=out_dir / "p" / f"{text}.txt",
            expect=frozenset({200, 201}),
        )
        for text in texts
    ]
    assert all(type(job.work.save) is type(out_dir) for job in deck.jobs if isinstance(job.work, FetchSpec))


def test_an_item_with_a_dollar_is_checked_in_full(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, fan_out("{item}.html", '["a", "${NOPE}"]'))
    assert problem.key == "fetch" and problem.message == "environment variable NOPE is not set"


def test_the_garbage_collector_runs_again_after_a_load(tmp_path: Path) -> None:
    import gc

    load(tmp_path, fan_out("{item}.html", "[1, 2]"))
    assert gc.isenabled()
    problems(tmp_path, fan_out("{item}", '[".."]'))
    assert gc.isenabled()
