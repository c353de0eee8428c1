"""Reading the job files a command was given, and `jobdeck check`, which does only that."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, overload

from runner.cli.exits import EXIT_BAD_INPUT, EXIT_OK

if TYPE_CHECKING:
    from runner.errors import Problem
    from runner.model import Deck

LoadedT = TypeVar("LoadedT")


@overload
def load_all(files: Sequence[Path], err: TextIO) -> list[Deck] | None: ...


@overload
def load_all(files: Sequence[Path], err: TextIO, *, load: Callable[[Path], LoadedT]) -> list[LoadedT] | None: ...


def load_all(files: Sequence[Path], err: TextIO, *, load: Callable[[Path], Any] | None = None) -> list[Any] | None:
    """Parse every file (with `load`, by default `load_deck`); print every problem of every file and return None
    if any file is bad."""
    from runner.deck.parser import load_deck
    from runner.errors import DeckError

    loader = load or load_deck
    decks: list[Any] = []
    bad_files = 0
    for path in files:
        try:
            decks.append(loader(path))
        except DeckError as error:
            bad_files += 1
            for problem in error.problems:
                print(f"error: {as_given(problem, path)}", file=err)
    if bad_files and len(files) > 1:
        verb = "has" if bad_files == 1 else "have"
        print(f"jobdeck: {bad_files} of {len(files)} job files {verb} problems", file=err)
    return None if bad_files else decks


def as_given(problem: Problem, given: Path) -> Problem:
    """The problem located by the path as the user typed it (`deck.toml:3:5`), not the resolved one."""
    try:
        if problem.path == given.expanduser().resolve():
            return replace(problem, path=given)
    except (OSError, RuntimeError, ValueError):
        pass
    return problem


def check_command(files: Sequence[Path]) -> int:
    """Check every file as loading it would, without making the jobs (runner.deck.parser.check_deck)."""
    from runner.config.reading import config_problems
    from runner.deck.parser import check_deck

    checked = load_all(files, sys.stderr, load=check_deck)
    problems, config = config_problems()  # the config file too, when there is one: the jobs run under it
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if checked is None or problems:
        return EXIT_BAD_INPUT
    for given, deck in zip(files, checked, strict=True):
        kinds = sorted(kind.value for kind in deck.kinds)
        jobs = f"{deck.jobs} job{'' if deck.jobs == 1 else 's'}"
        print(f"ok: {given}: deck {deck.name!r}, {jobs} ({', '.join(kinds) or 'nothing to run'})")
    if config is not None and config.path is not None:
        print(f"ok: config file {config.path}")
    return EXIT_OK
