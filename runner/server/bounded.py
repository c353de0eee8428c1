"""Bounded forms of what the server says about a deck, a spec or itself: a deck refused for 60,000 problems, a
spec with a megabyte-long command, or a start-up that restored thousands of decks still make a reply that fits
in a frame."""

from __future__ import annotations

from dataclasses import replace

from runner.errors import DeckError, Problem
from runner.server.messages import Failure
from runner.server.previews import LINE_BYTES, SHRUNK_TEXT_BYTES, cut_text, json_bytes

LISTED_PROBLEMS = 50
"""A refused deck's reply lists at most this many of its problems, and says how many it left out."""
SPEC_BYTES = 512 * 1024


def deck_failure(failed: DeckError) -> Failure:
    """The refusal of a deck: its first problems (each cut short) and how many more it has."""
    problems = [
        replace(problem, message=_short(problem.message) or "", hint=_short(problem.hint))
        for problem in failed.problems[:LISTED_PROBLEMS]
    ]
    left_out = len(failed.problems) - len(problems)
    if left_out:
        problems.append(Problem(problems[-1].path, f"… and {left_out} more problems"))
    return Failure("deck", "\n".join(str(problem) for problem in problems), problems=problems)


def _short(text: str | None) -> str | None:
    return cut_text(text, SHRUNK_TEXT_BYTES)


def bounded_lines(lines: list[tuple[str, str]], budget: int = SPEC_BYTES) -> list[tuple[str, str]]:
    """A spec's (key, value) lines, each value cut to a line's size, as many as fit in `budget` bytes."""
    kept: list[tuple[str, str]] = []
    size = 0
    for key, value in lines:
        line = (cut_text(key, SHRUNK_TEXT_BYTES) or "", cut_text(value, LINE_BYTES) or "")
        size += json_bytes(line)
        if size > budget:
            kept.append(("…", f"{len(lines) - len(kept)} more lines"))
            break
        kept.append(line)
    return kept


def bounded_restored(lines: list[str]) -> list[str]:
    """What start-up restored, as the server's description lists it: at most LISTED_PROBLEMS lines, each short."""
    kept = [cut_text(line, SHRUNK_TEXT_BYTES) or "" for line in lines[:LISTED_PROBLEMS]]
    if len(lines) > LISTED_PROBLEMS:
        kept.append(f"… and {len(lines) - LISTED_PROBLEMS} more")
    return kept
