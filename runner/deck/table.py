"""Typed getters over one TOML table of a job file; each bad value becomes a Problem at its key's line."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from runner.deck.lines import Block
from runner.deck.lookalikes import Lookalike, lookalike_hint
from runner.deck.problems import Problems, did_you_mean

MISSING: Any = object()
"""What `Table.raw` returns for a key the table does not have."""


class Table:
    """One table (`[deck]`, a `[[job]]`, or the top level) with the problems found in it.

    Getters return None when the key is missing or its value is bad, so callers fall back to defaults and
    keep checking the rest of the file.
    """

    def __init__(self, data: Mapping[str, Any], problems: Problems, block: Block, job: str | None) -> None:
        self.data = data
        self.problems = problems
        self.block = block
        self.job = job

    def report(self, key: str | None, message: str, hint: str | None = None) -> None:
        line = self.block.line_of(key) if key else self.block.line
        self.problems.add(message, line=line, job=self.job, key=key, hint=hint)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        return self.data.get(key, MISSING)

    def refuse_unknown_keys(
        self, valid: Sequence[str], *, table: str, lookalikes: Mapping[str, Lookalike] | None = None
    ) -> None:
        for key in self.data:
            if key not in valid:
                hint = lookalike_hint(key, self.data[key], lookalikes or {}) or did_you_mean(key, valid)
                self.report(key, f"unknown key in {table}", hint or f"valid keys in {table} are: {', '.join(valid)}")

    def whole_number(self, key: str, *, minimum: int) -> int | None:
        value = self.raw(key)
        if value is MISSING:
            return None
        if not is_whole_number(value) or value < minimum:
            hint = "a limit of 0 would never run anything" if minimum == 1 and value == 0 else None
            self.report(key, f"must be a whole number >= {minimum}, not {describe(value)}", hint)
            return None
        return int(value)

    def number(self, key: str, *, minimum: float, hint: str | None = None) -> float | None:
        value = self.raw(key)
        if value is MISSING:
            return None
        if not is_number(value) or not math.isfinite(value) or value < minimum:
            self.report(key, f"must be a number >= {minimum:g}, not {describe(value)}", hint)
            return None
        return float(value)

    def text(self, key: str, *, example: str) -> str | None:
        """A non-empty string."""
        value = self.raw(key)
        if value is MISSING:
            return None
        if not isinstance(value, str) or not value.strip():
            self.report(key, f"must be a non-empty string, not {describe(value)}", f"e.g. {key} = {example}")
            return None
        return value

    def flag(self, key: str) -> bool | None:
        """A true/false key; None when it is not given or not a boolean (reported)."""
        value = self.raw(key)
        if value is MISSING:
            return None
        if not isinstance(value, bool):
            self.report(key, f"must be true or false, not {describe(value)}", f"write {key} = true")
            return None
        return value

    def table(self, key: str, *, example: str) -> dict[str, Any] | None:
        value = self.raw(key)
        if value is MISSING:
            return None
        if not isinstance(value, dict):
            self.report(key, f"must be a table, not {describe(value)}", f"e.g. {key} = {example}")
            return None
        return value

    def array(self, key: str, *, example: str) -> list[Any] | None:
        value = self.raw(key)
        if value is MISSING:
            return None
        if not isinstance(value, list):
            self.report(key, f"must be a list, not {describe(value)}", f"e.g. {key} = {example}")
            return None
        return value


def describe(value: Any) -> str:
    """A TOML value as a message names it: `a string ('x')`, `a list`, `3`."""
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return f"a string ({short(value)!r})" if value else "an empty string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a date/time ({value})"


def short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
