"""The fetch keys of resumable, verified and conditional downloads, as `jobdeck check` sees them: checksums, if_changed
and stall_timeout (also in [deck]); each bad value is one problem at its line, with a hint."""

from __future__ import annotations

from pathlib import Path

from runner.model import FetchSpec
from tests.runner.deck.test_deck import load, only_problem

FETCH = '[[job]]\nname = "get"\nfetch = "https://example.org/f"\nsave = "f.bin"\n'
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def work(tmp_path: Path, text: str) -> FetchSpec:
    spec = load(tmp_path, text).jobs[0].work
    assert isinstance(spec, FetchSpec)
    return spec


def test_each_way_of_writing_a_checksum_gives_one_digest(tmp_path: Path) -> None:
    assert work(tmp_path, FETCH + f'sha256 = "{SHA256.upper()}"').checksum == f"sha256:{SHA256}"
    assert work(tmp_path, FETCH + f'checksum = "SHA256:{SHA256}"').checksum == f"sha256:{SHA256}"
    assert work(tmp_path, FETCH + f'md5 = "{"a" * 32}"').checksum == f"md5:{'a' * 32}"
    assert work(tmp_path, FETCH + f'sha512 = "{"b" * 128}"').checksum == f"sha512:{'b' * 128}"


def test_a_digest_of_the_wrong_length_is_an_error_that_names_the_algorithm_it_fits(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, FETCH + f'sha256 = "{"a" * 40}"')
    assert (problem.line, problem.job, problem.key) == (5, "get", "sha256")
    assert problem.message == "a sha256 digest has 64 hex digits, not 40"
    assert problem.hint == "that length is a sha1 digest: write sha1 = ..."
    problem = only_problem(tmp_path, FETCH + 'sha1 = "abc"')
    assert problem.hint == "copy all 40 hex digits from `sha1sum FILE` or the site's checksum list"


def test_a_digest_that_is_not_hex_or_an_unknown_algorithm_is_refused(tmp_path: Path) -> None:
    assert "must be hex digits" in only_problem(tmp_path, FETCH + f'md5 = "{"g" * 32}"').message
    problem = only_problem(tmp_path, FETCH + f'checksum = "sha265:{SHA256}"')
    assert problem.message == "'sha265' is not a checksum algorithm jobdeck knows"
    assert problem.hint == "did you mean 'sha256'?"
    assert only_problem(tmp_path, FETCH + f'checksum = "{SHA256}"').hint == 'e.g. checksum = "sha256:00000000…"'


def test_two_checksums_are_one_too_many(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, FETCH + f'sha256 = "{SHA256}"\nchecksum = "sha256:{SHA256}"')
    assert problem.message == "a fetch has one checksum, but sha256 and checksum are given"


def test_if_changed_needs_a_saved_file_and_a_get(tmp_path: Path) -> None:
    assert work(tmp_path, FETCH + "if_changed = true").if_changed is True
    unsaved = '[[job]]\nname = "get"\nfetch = "https://example.org/f"\nif_changed = true\n'
    assert only_problem(tmp_path, unsaved).hint == 'add save = "FILE", or drop if_changed'
    assert only_problem(tmp_path, FETCH + 'method = "POST"\nif_changed = true').message == (
        "applies to GET requests, not POST"
    )
    assert only_problem(tmp_path, FETCH + 'if_changed = "yes"').hint == "write if_changed = true"


def test_stall_timeout_comes_from_the_job_or_the_deck_and_false_switches_it_off(tmp_path: Path) -> None:
    deck = load(tmp_path, "[deck]\nstall_timeout = 20\n\n" + FETCH)
    assert deck.settings.stall_timeout == 20 and deck.jobs[0].work.stall_timeout is None  # the deck's, at run time
    assert load(tmp_path, FETCH).settings.stall_timeout == 60
    assert work(tmp_path, FETCH + "stall_timeout = false").stall_timeout == 0
    assert work(tmp_path, FETCH + "stall_timeout = 2.5").stall_timeout == 2.5
    assert work(tmp_path, FETCH + 'stall_timeout = "2m"').stall_timeout == 120
    problem = only_problem(tmp_path, FETCH + "stall_timeout = -1")
    assert problem.message == "must be a duration of 0 s or more, not -1"
    assert problem.hint is not None and "0 or false switches it off" in problem.hint


def test_what_other_tools_call_these_keys_is_pointed_to(tmp_path: Path) -> None:
    assert only_problem(tmp_path, FETCH + 'hash = "x"').hint == 'jobdeck calls it sha256: write sha256 = "…"'
    assert only_problem(tmp_path, FETCH + "only_if_changed = true").hint is not None
