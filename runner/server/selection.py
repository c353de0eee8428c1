"""Which jobs a command from the shell means (`jobdeck pause|resume|cancel|retry JOB...`), chosen in the server.

A JOB is a job's name, `deck/name`, or a glob: `*` stands for any characters, `?` for one (`page[*]`, `build-?`,
`nightly/*`). Unlike fnmatch's, these globs have no `[...]` classes: brackets are literal, as they are part of
fan-out names, so `page[*]` is every item of the fan-out `page` (in fnmatch it would mean `page*`). A glob with
a `/` is matched against `deck/name`, any other against the name. `--deck` and `--failed` narrow what the JOBs match
(and alone select every job of those decks, or every failed job); `--all` selects every job. A plain name that
names jobs in several decks is refused: it must not cancel more than was meant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runner.errors import CommandError
from runner.model import JobState

if TYPE_CHECKING:
    from runner.engine.engine import Engine
    from runner.model import Job

GLOB_CHARACTERS = frozenset("*?")
SHOWN_DECKS = 5
"""Decks an ambiguous name's message lists at most."""


@dataclass
class Selection:
    jobs: list[Job]
    """The jobs chosen, in load order, each once."""
    exact: set[str] = field(default_factory=set)
    """The ids of the jobs a JOB named exactly (not through a glob, a deck or --all)."""
    unmatched: list[str] = field(default_factory=list)
    """The JOBs that matched no job."""
    unknown_decks: list[str] = field(default_factory=list)


def select_jobs(
    engine: Engine, patterns: Sequence[str], decks: Sequence[str] = (), *, failed: bool = False, every: bool = False
) -> Selection:
    """The engine's jobs that `patterns`, `decks`, `failed` and `every` choose (see the module's docstring).
    CommandError for a plain name that names jobs in several decks."""
    unknown_decks = [deck for deck in dict.fromkeys(decks) if deck not in engine.decks]
    wanted_decks = set(decks) - set(unknown_decks)
    candidates: Iterable[Job] = engine.jobs.values()
    if decks:
        candidates = (job for job in candidates if job.deck in wanted_decks)
    if failed:
        candidates = (job for job in candidates if job.state is JobState.FAILED)
    if not patterns:
        chosen = list(candidates) if (every or decks or failed) else []
        return Selection(chosen, unknown_decks=unknown_decks)
    pool = list(candidates)
    by_name: dict[str, list[Job]] = {}
    for job in pool:
        by_name.setdefault(job.name, []).append(job)
    in_pool = {job.id for job in pool} if (decks or failed) else None
    found: dict[str, Job] = {}
    exact: set[str] = set()
    unmatched: list[str] = []
    for pattern in dict.fromkeys(patterns):
        matches = _exact(engine, pattern, by_name, in_pool)
        if matches:
            exact.update(job.id for job in matches)
        elif GLOB_CHARACTERS.intersection(pattern):
            matches = _globbed(pattern, pool)
        if not matches:
            unmatched.append(pattern)
        found.update((job.id, job) for job in matches)
    chosen = sorted(found.values(), key=_order)
    return Selection(chosen, exact, unmatched, unknown_decks)


def _exact(engine: Engine, pattern: str, by_name: dict[str, list[Job]], in_pool: set[str] | None) -> list[Job]:
    job = engine.jobs.get(pattern) if "/" in pattern else None
    if job is not None:
        return [job] if in_pool is None or job.id in in_pool else []
    named = by_name.get(pattern, [])
    if len(named) > 1:
        decks = [job.deck for job in named]
        shown = ", ".join(f"{deck}/{pattern}" for deck in decks[:SHOWN_DECKS])
        more = f" and {len(decks) - SHOWN_DECKS} more" if len(decks) > SHOWN_DECKS else ""
        raise CommandError(
            f"{pattern!r} names jobs in {len(decks)} decks ({shown}{more}): write deck/name, or add --deck DECK"
        )
    return named


def glob_pattern(glob: str) -> re.Pattern[str]:
    """The regular expression of a glob: `*` any characters, `?` one, every other character itself."""
    parts = [".*" if char == "*" else "." if char == "?" else re.escape(char) for char in glob]
    return re.compile("".join(parts), re.DOTALL)


def _globbed(pattern: str, pool: list[Job]) -> list[Job]:
    matches = glob_pattern(pattern).fullmatch
    if "/" in pattern:
        return [job for job in pool if matches(job.id)]
    return [job for job in pool if matches(job.name)]


def _order(job: Job) -> int:
    return job.order
