"""Bounded forms of what the server says about a deck, a spec or itself: a deck refused for 60,000 problems, a
spec with a megabyte-long command, or a start-up that restored thousands of decks still make a reply that fits
in a frame."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

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


def bounded_waiting(decks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decks that wait for their environment, as the status lists them: at most LISTED_PROBLEMS, their
    texts cut short (each names the command that lets it run)."""
    kept = [
        {key: cut_text(value, LINE_BYTES) if isinstance(value, str) else value for key, value in deck.items()}
        for deck in decks[:LISTED_PROBLEMS]
    ]
    for deck in kept:
        deck["waiting_for"] = [
            cut_text(name, SHRUNK_TEXT_BYTES) for name in deck.get("waiting_for", [])[:LISTED_PROBLEMS]
        ]
    return kept
