"""A job's output is cut into lines one way, whichever process wrote it and however it arrives."""

from __future__ import annotations

import pytest

from runner.procs.lines import LineSplitter


def split(pieces: list[str], longest: int = 100) -> list[str]:
    splitter = LineSplitter(longest)
    lines = [line for piece in pieces for line in splitter.feed(piece)]
    return lines + splitter.finish()


def test_lines_that_arrive_in_pieces_are_passed_on_whole() -> None:
    assert split(["hel", "lo\nwor", "ld\n", "\n", "last"]) == ["hello", "world", "", "last"]


def test_newline_carriage_return_and_both_end_a_line_once() -> None:
    assert split(["a\r\nb\rc\n"]) == ["a", "b", "c"]


def test_a_carriage_return_newline_split_between_pieces_ends_one_line() -> None:
    assert split(["a\r", "\nb\r", "", "\n"]) == ["a", "b"]


def test_a_trailing_carriage_return_ends_the_last_line() -> None:
    assert split(["50%\r100%\r"]) == ["50%", "100%"]


def test_a_long_line_is_passed_on_in_pieces_of_the_longest_length() -> None:
    assert split(["abcdefg\n"], longest=3) == ["abc", "def", "g"]


def test_a_long_line_without_an_end_does_not_pile_up() -> None:
    splitter = LineSplitter(4)
    assert splitter.feed("abcdefghij") == ["abcd", "efgh"]
    assert splitter.feed("kl\n") == ["ijkl"]
    assert splitter.feed("mnop") == []
    assert splitter.feed("\n") == ["mnop"]  # a line of exactly the longest length stays one line
    assert splitter.finish() == []


def test_bytes_are_decoded_across_pieces_and_bad_bytes_replaced() -> None:
    splitter = LineSplitter(100)
    encoded = "café\n".encode()
    assert splitter.feed_bytes(encoded[:4]) == []
    assert splitter.feed_bytes(encoded[4:] + b"\xff\n") == ["café", "\ufffd"]
    assert splitter.feed_bytes(b"\xc3") == []
    assert splitter.finish() == ["\ufffd"]


def test_longest_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LineSplitter(0)
