"""Which values a deck masks, and how text, results and URLs are masked."""

from __future__ import annotations

from pathlib import Path

from runner.deck.parser import parse_deck
from runner.masking import MIN_SECRET_CHARS, SecretMask, deck_secret_mask, referenced_names


def test_every_occurrence_of_a_secret_becomes_stars() -> None:
    mask = SecretMask(["s3cr3t-value"])
    assert mask.text("a s3cr3t-value and s3cr3t-value.") == "a *** and ***."
    assert mask.text("nothing here") == "nothing here"


def test_short_values_are_not_secrets() -> None:
    mask = SecretMask(["1", "true", "prod", "x" * (MIN_SECRET_CHARS - 1), "  "])
    assert not mask
    assert mask.text("1 true prod xxxxx") == "1 true prod xxxxx"


def test_a_secret_is_masked_in_its_url_encoded_forms_too() -> None:
    mask = SecretMask(["p@ss word/+1"])
    assert mask.text("http://h/p%40ss%20word%2F%2B1/x") == "http://h/***/x"
    assert mask.text("q=p%40ss+word%2F%2B1") == "q=***"
    assert mask.text("http://h/p%40ss%20word/%2B1") == "http://h/***"


def test_a_bare_web_address_is_no_secret_but_one_with_more_in_it_is() -> None:
    """Where a fetch goes (`${API_URL}/status/404`) stays readable; a value with a user, path or query may hold a
    token and is masked whole."""
    mask = SecretMask(["http://127.0.0.1:8123", "https://api.example.com/", "HTTPS://Example.org:8443"])
    assert not mask
    for value in ("https://bob:pw@api.example.com", "https://api.example.com/v1/t0k3n", "https://h.example/?key=k3y"):
        assert SecretMask([value]).text(f"GET {value}") == "GET ***"


def test_a_secret_of_several_lines_is_masked_line_by_line() -> None:
    mask = SecretMask(["-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----\n"])
    assert mask.text("MIIEvQIBADANBg") == "***"


def test_the_longest_secret_wins_when_one_contains_another() -> None:
    mask = SecretMask(["abcdef", "abcdefghij"])
    assert mask.text("abcdefghij") == "***"


def test_results_are_masked_inside_dicts_and_lists() -> None:
    mask = SecretMask(["token-123456"])
    result = {"url": "http://h/token-123456", "list": ["token-123456", 3, None], "token-123456": True}
    assert mask.value(result) == {"url": "http://h/***", "list": ["***", 3, None], "***": True}


def test_a_deck_masks_the_values_of_the_variables_its_jobs_reference(tmp_path: Path) -> None:
    text = """
        [[job]]
        name = "get"
        fetch = "https://example.org/${TOKEN}"
        headers = { Authorization = "Bearer ${BEARER}" }

        [[job]]
        name = "say"
        shell = "echo ${WORD}; echo $UNBRACED"

        [[job]]
        name = "page"
        fetch = "https://example.org/{item}"
        each = ["a", "${ITEM_VAR}", "c"]
    """
    environ = {
        "TOKEN": "token-value-1",
        "BEARER": "bearer-value-2",
        "WORD": "word-value-3",
        "UNBRACED": "unbraced-value",
        "ITEM_VAR": "item-value-4",
        "UNUSED": "unused-value-5",
    }
    deck = parse_deck(text, tmp_path / "deck.toml", environ=environ)
    assert referenced_names(deck) == {"TOKEN", "BEARER", "WORD", "ITEM_VAR"}
    mask = deck_secret_mask(deck, environ)
    assert mask.text(" ".join(environ.values())) == "*** *** *** unbraced-value *** unused-value-5"
