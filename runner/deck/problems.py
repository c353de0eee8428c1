"""Collecting the problems of one job file, and saying what a TOML syntax error means in a job file's terms."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from runner.errors import DeckError, Problem
from runner.spelling import did_you_mean

__all__ = ["Problems", "did_you_mean", "toml_syntax_problem"]

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)$")


class Problems:
    """Every problem found in one file, each once; `raise_if_any` raises them in line order as a DeckError."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[Problem] = []

    def add(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        job: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        problem = Problem(self.path, message, line=line, column=column, job=job, key=key, hint=hint)
        if problem not in self.items:  # fan-out items can repeat the same complaint
            self.items.append(problem)

    def raise_if_any(self) -> None:
        if self.items:
            raise DeckError(sorted(self.items, key=lambda problem: problem.line or 0))


def toml_syntax_problem(error: tomllib.TOMLDecodeError, text: str, path: Path) -> Problem:
    message = str(error)
    line: int | None = None
    column: int | None = None
    if position := _TOML_POSITION.search(message):
        line, column = int(position.group(1)), int(position.group(2))
        message = message[: position.start()]
    elif at_end := _TOML_AT_END.search(message):
        line = text.count("\n") + 1
        column = len(text.rsplit("\n", 1)[-1]) + 1
        message = message[: at_end.start()] + " at the end of the file"
    return Problem(path, message, line=line, column=column, hint=_toml_syntax_hint(message))


def _toml_syntax_hint(message: str) -> str | None:
    hints = {
        "Invalid value": 'strings need quotes, e.g. shell = "make all"; lists need a closing ]',
        "Unterminated string": "close the string with the quote it starts with",
        "Illegal character '\\n'": "a quoted string must end on the line it starts; use triple quotes for more lines",
        "Cannot overwrite a value": "a key is set twice in the same table",
        "Cannot declare": "a [table] appears twice; write [[job]] (double brackets) for each job",
        "Expected '=' after a key": 'write key = value, e.g. name = "home"',
        "Expected newline or end of document after a statement": "put each key = value on its own line",
        "Expected ']]'": "close the header with ]], e.g. [[job]]",
    }
    return next((hint for start, hint in hints.items() if message.startswith(start)), None)
