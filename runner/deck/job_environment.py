"""`env = { KEY = "value" }` and `cwd = "sub/folder"`: the variables and the folder of a shell or call job.

Both may be given in `[deck]` as defaults: a job's `cwd` replaces the deck's, a job's `env` is merged over the
deck's, key by key. `env` values are kept as written, `${VAR}` and all, and filled in from the deck's
environment only when an attempt starts (runner.deck.templates.expand_env), so their secrets are masked like
those of any other `${VAR}`. `cwd` is a folder relative to the job file (or starting with `~`) that must exist
when the deck is loaded: it is never created, and `${VAR}` is not read in it (a folder is checked at load).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.deck.lines import Block
from runner.deck.reading import absolute
from runner.deck.table import Table, describe, is_number
from runner.deck.templates import ITEM, env_references, expand_env, fill_text
from runner.redaction import VALUE_PREVIEW_CHARS, redact_value, shorten

ENV_KEY, CWD_KEY = "env", "cwd"
ENV_EXAMPLE = '{ LANG = "C", THREADS = 4 }'
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class JobEnvironment:
    """What a deck or job says of where its jobs run: variables as written, and a folder (None: not given)."""

    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    def under(self, defaults: JobEnvironment) -> JobEnvironment:
        """These settings over the deck's `defaults`: env merged key by key, cwd replaced."""
        env = {**defaults.env, **self.env} if defaults.env else self.env
        return JobEnvironment(env=env, cwd=self.cwd if self.cwd is not None else defaults.cwd)


NO_ENVIRONMENT = JobEnvironment()


def read_job_environment(table: Table, folder: Path, environ: Mapping[str, str]) -> JobEnvironment:
    """The `env` and `cwd` of `table` (a `[[job]]` or `[deck]`), each bad one reported; `folder`: the job file's."""
    if not (table.has(ENV_KEY) or table.has(CWD_KEY)):
        return NO_ENVIRONMENT
    return JobEnvironment(env=_env(table, environ), cwd=_cwd(table, folder))


def read_deck_environment(top: Table, block: Block, folder: Path, environ: Mapping[str, str]) -> JobEnvironment:
    """The defaults the `[deck]` table (at `block`) of the top-level table `top` gives every job."""
    raw = top.raw("deck")
    if not isinstance(raw, dict):
        return NO_ENVIRONMENT  # reported with the other settings
    return read_job_environment(Table(raw, top.problems, block, job=None), folder, environ)


def _env(table: Table, environ: Mapping[str, str]) -> dict[str, str]:
    value = table.table(ENV_KEY, example=ENV_EXAMPLE) if table.has(ENV_KEY) else None
    if value is None:
        return {}
    env: dict[str, str] = {}
    for name, written in value.items():
        if not _NAME.fullmatch(name):
            table.report(
                ENV_KEY,
                f"{name!r} is not a valid environment variable name",
                "use letters, digits and '_', not starting with a digit, e.g. MY_SETTING",
            )
        elif isinstance(written, str):
            missing = [reference for reference in env_references(written) if reference not in environ]
            for reference in missing:
                table.report(
                    ENV_KEY,
                    f"environment variable {reference} is not set",
                    f"export {reference} before running jobdeck",
                )
            env[name] = written
        elif is_number(written):
            env[name] = str(written)
        else:
            table.report(
                ENV_KEY,
                f"the value of {name} must be a string or a number, not {describe(written)}",
                f'e.g. env = {{ {name} = "value" }}',
            )
    return env


def _cwd(table: Table, folder: Path) -> Path | None:
    written = table.text(CWD_KEY, example='"build"') if table.has(CWD_KEY) else None
    if written is None:
        return None
    if "${" in written:
        table.report(
            CWD_KEY,
            f"cwd is checked when the deck loads, so it cannot use ${{VAR}}: {written!r}",
            'write the folder itself, relative to the job file or starting with ~, e.g. cwd = "build"',
        )
        return None
    path = absolute(folder / Path(written).expanduser())
    if not path.exists():
        table.report(
            CWD_KEY,
            f"the folder {str(path)!r} does not exist",
            f"jobdeck does not create it: make it first (mkdir -p {written}); a relative cwd is read from the "
            "job file's folder",
        )
        return None
    if not path.is_dir():
        table.report(CWD_KEY, f"{str(path)!r} is a file, not a folder", "give the folder the job should run in")
        return None
    return path


def filled_env(env: dict[str, str], item: Any) -> dict[str, str]:
    """The env of a fan-out item: `{item}` filled into each value (the same dict when none has it)."""
    if not any(ITEM in value for value in env.values()):
        return env
    return {name: fill_text(value, item) for name, value in env.items()}


def env_summary(env: Mapping[str, str]) -> str:
    """The detail view's line of a job's env: values as written (`${VAR}` unexpanded), secrets redacted."""
    return shorten(", ".join(f"{name}={redact_value(name, value)}" for name, value in env.items()), VALUE_PREVIEW_CHARS)


class UnsetVariable(Exception):
    """A `${VAR}` of a job's env is not set in its deck's environment (it changed since the deck was loaded)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} used in env is not set")


def expanded_env(env: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The values a job's process gets: each `${VAR}` filled in from the deck's `environ`."""
    try:
        return {name: expand_env(value, environ) for name, value in env.items()}
    except KeyError as missing:
        raise UnsetVariable(str(missing.args[0])) from None
