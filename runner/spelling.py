"""Near words: which known word a mistyped one was meant to be, for "did you mean ...?" hints.

A suggestion is only worth making when the word is a slip of the keyboard away from it: a letter missing, extra,
wrong or swapped with its neighbour. A word merely sharing letters with another (`stdout` and `timeout`) gets
none; a hint that points the wrong way is worse than none. Light on purpose: the command line uses it too.
"""

from __future__ import annotations

from collections.abc import Iterable


def allowed_edits(word: str) -> int:
    """How many slips a word of this length may carry and still be recognised."""
    return 1 if len(word) <= 4 else 2 if len(word) <= 10 else 3


def edit_distance(first: str, second: str, limit: int) -> int:
    """The number of single-letter insertions, deletions, substitutions and swaps of neighbours that turn one
    word into the other (optimal string alignment), or `limit + 1` as soon as it is known to exceed `limit`."""
    if abs(len(first) - len(second)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(second) + 1))
    for row, char in enumerate(first, start=1):
        current = [row] + [0] * len(second)
        for column, other in enumerate(second, start=1):
            cost = 0 if char == other else 1
            best = min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + cost)
            if row > 1 and column > 1 and char == second[column - 2] and first[row - 2] == other:
                best = min(best, before[column - 2] + 1)
            current[column] = best
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to `word` (ignoring case) if it is within `allowed_edits`; the first of equals wins."""
    folded = word.casefold()
    limit = allowed_edits(folded)
    best: str | None = None
    best_distance = limit + 1
    for choice in choices:
        distance = edit_distance(folded, choice.casefold(), min(limit, best_distance - 1))
        if distance < best_distance:
            best, best_distance = choice, distance
            if distance == 0:
                break
    return best


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """`did you mean 'choice'?` for the nearest choice, or None when none is near."""
    match = closest(word, choices)
    return f"did you mean {match!r}?" if match is not None else None
