"""Keys people bring from other tools (`depends_on`, `command`, `stdout`), and what jobdeck uses instead.

A key that is no slip of the keyboard away from any jobdeck key still often says what its writer wanted. The
hint then names the jobdeck key that does it (with the value rewritten when it fits), or says how jobdeck does
that thing. Each kind lists its own lookalikes (KindSpec.lookalikes); the ones every job may have are here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Renamed:
    """A key that means what a jobdeck key means: `depends_on` is `after`."""

    key: str
    example: str | None = None
    """What to write instead of the value as given (when the value cannot simply be moved over)."""
    meaning: str | None = None
    """What the jobdeck key does, when its name does not say it."""
    as_list: bool = False
    """The jobdeck key takes a list: a single string value is shown in brackets."""


Lookalike = Renamed | str
"""A renamed key, or a sentence saying how jobdeck does what the key asked for."""

OUTPUT_IS_CAPTURED = (
    "jobdeck keeps a job's output in log files of its own: `jobdeck logs JOB` prints it, enter on the job in the "
    "dashboard shows it, and log_limit_mb sets how much is kept; to write it elsewhere, redirect it in the "
    'command, e.g. shell = "make > build.log 2>&1"'
)
LIMITS = "limits are set per deck and per kind: [deck] fetch_limit, process_limit, thread_limit or shell_limit"
COMMENT = "write a TOML comment instead: # text"

JOB_LOOKALIKES: Mapping[str, Lookalike] = {
    **dict.fromkeys(
        ("depends_on", "depends", "dependencies", "needs", "requires", "deps", "wait_for", "waits_for", "upstream"),
        Renamed("after", meaning="the job runs once these have succeeded", as_list=True),
    ),
    **dict.fromkeys(("items", "for_each", "foreach", "matrix", "loop", "with_items"), Renamed("each")),
    **dict.fromkeys(("id", "title"), Renamed("name")),
    **dict.fromkeys(
        ("retry", "max_retries", "attempts", "max_attempts", "tries"),
        Renamed("retries", example="2", meaning="retries = 2 makes up to 3 attempts"),
    ),
    **dict.fromkeys(("delay", "retry_delay"), Renamed("backoff", meaning="the first retry's delay in s; it doubles")),
    **dict.fromkeys(("time_limit", "timeout_seconds", "deadline", "max_time"), Renamed("timeout")),
    **dict.fromkeys(("stdout", "stderr", "output", "log", "logs", "log_file", "capture"), OUTPUT_IS_CAPTURED),
    **dict.fromkeys(
        ("workdir", "work_dir", "working_dir", "working_directory", "dir", "directory", "chdir"), Renamed("cwd")
    ),
    **dict.fromkeys(("environment", "environ", "vars", "variables"), Renamed("env")),
    **dict.fromkeys(
        ("concurrency", "parallel", "parallelism", "max_parallel", "workers", "max_workers", "limit"), LIMITS
    ),
    **dict.fromkeys(("description", "desc", "comment", "doc"), COMMENT),
    **dict.fromkeys(("if", "when", "condition", "trigger_rule", "run_when"), Renamed("run_if")),
    **dict.fromkeys(("on_error", "on_fail", "onfailure"), Renamed("on_failure")),
}
"""Lookalikes of the keys every job has, and of things jobdeck does for every job."""

DECK_LOOKALIKES: Mapping[str, Lookalike] = {
    **dict.fromkeys(("on_error", "on_fail", "onfailure"), Renamed("on_failure")),
    **dict.fromkeys(("on_complete", "on_done", "on_exit", "on_end", "finally"), Renamed("on_finish")),
    **dict.fromkeys(
        ("fail_fast", "failfast", "stop_on_failure", "max_failures", "halt_on_failure", "halt_on"),
        Renamed("halt", example='"fail=1"', meaning="no job starts after that many failures"),
    ),
    **dict.fromkeys(("notification", "notifications", "bell", "alert"), Renamed("notify", example="true")),
    **dict.fromkeys(
        ("concurrency", "parallel", "parallelism", "max_parallel", "workers", "max_workers", "limit", "jobs"),
        LIMITS,
    ),
    **dict.fromkeys(("environment", "environ", "vars", "variables"), Renamed("env")),
    **dict.fromkeys(("workdir", "work_dir", "working_dir", "dir", "directory"), Renamed("cwd")),
    **dict.fromkeys(("retry", "max_retries", "attempts", "max_attempts"), Renamed("retries", example="2")),
    **dict.fromkeys(("description", "desc", "comment"), COMMENT),
}


def lookalike_hint(key: str, value: Any, lookalikes: Mapping[str, Lookalike]) -> str | None:
    """What to write instead of `key = value`, if `key` is a known lookalike; None otherwise."""
    lookalike = lookalikes.get(key.casefold())
    if lookalike is None or isinstance(lookalike, str):
        return lookalike
    written = lookalike.example
    if written is None:
        if lookalike.as_list and isinstance(value, str):
            value = [value]
        written = toml_value(value)
    hint = f"jobdeck calls it {lookalike.key}"
    if written is not None:
        hint += f": write {lookalike.key} = {written}"
    if lookalike.meaning:
        hint += f"; {lookalike.meaning}"
    return hint


def toml_value(value: Any) -> str | None:
    """A plain value (string, finite number, boolean, or a short list of them) as TOML writes it; None otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str) and len(value) <= 60 and value.isprintable():
        return json.dumps(value, ensure_ascii=False)  # a basic TOML string is written as a JSON string is
    if isinstance(value, list) and len(value) <= 5:
        parts = [toml_value(element) for element in value]
        if all(part is not None for part in parts):
            return "[" + ", ".join(part for part in parts if part is not None) + "]"
    return None
