"""One job given outside a job file (`jobdeck add`): its `[[job]]` table, checked exactly as a file's would be.

The table is written as the TOML of a job file of that one job and read by the same parser, so an added job has
the same keys, the same checks (a call's function and arguments, placeholders, names) and the same spec as one
written in a file in `folder`: a shell job runs there, a call's module is looked up there first. The text is
also what the server keeps of the job (runner.journal.added_jobs), to read it again after a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rtoml

from runner.deck.parser import parse_deck
from runner.errors import DeckError, Problem
from runner.model import JobSpec, replaced

SOURCE_NAME = "jobdeck add"
"""What problems name as the job's file: there is none."""


class NotTomlValue(ValueError):
    """A value no job file can hold (null, or a key that is not text)."""


def job_text(table: Mapping[str, Any]) -> str:
    """The TOML of a job file holding this one `[[job]]` table; NotTomlValue for a value TOML cannot write."""
    _check_values(dict(table), "")
    return rtoml.dumps({"job": [dict(table)]})


def read_single_job(text: str, folder: Path, environ: Mapping[str, str]) -> JobSpec:
    """The spec of the one job `text` (from `job_text`) describes, as if its file were in `folder`; DeckError
    with every problem otherwise."""
    deck = parse_deck(text, folder / SOURCE_NAME, environ=environ)
    if len(deck.jobs) != 1:
        raise DeckError([Problem(folder / SOURCE_NAME, f"expected one job, found {len(deck.jobs)}")])
    spec = deck.jobs[0]
    # The work's folder is the caller's Path object, not the parser's copy: jobs added from one folder share it.
    work = spec.work
    shared = {key: folder for key, value in vars(work).items() if isinstance(value, Path) and value == folder}
    return replaced(spec, line=None, work=replaced(work, **shared) if shared else work)


def _check_values(value: Any, where: str) -> None:
    if value is None:
        raise NotTomlValue(f"{where or 'a value'} is null, which a job file cannot hold: leave it out or give a value")
    if isinstance(value, dict):
        for key, element in value.items():
            if not isinstance(key, str):
                raise NotTomlValue(f"{where} has a key that is not text: {key!r}")
            _check_values(element, f"{where}.{key}" if where else key)
    elif isinstance(value, (list, tuple)):
        for position, element in enumerate(value, start=1):
            _check_values(element, f"{where}[{position}]")
