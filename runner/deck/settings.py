"""The `[deck]` table: the deck's name, limits, default retries and timeout, out_dir and Dask cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.deck.dask_address import LOCAL_CLUSTER, scheduler_address
from runner.deck.durations import NO_TIMEOUT, duration
from runner.deck.lines import Block
from runner.deck.lookalikes import DECK_LOOKALIKES
from runner.deck.policies import DECK_POLICY_KEYS, deck_policies
from runner.deck.reading import absolute
from runner.deck.table import MISSING, Table, describe
from runner.hosts.keys import HOST_KEYS, HOST_LOOKALIKES, read_host_limits
from runner.kinds.transfer_keys import read_stall_timeout
from runner.model import Settings

DECK_KEYS = (
    "name",
    "fetch_limit",
    "process_limit",
    "thread_limit",
    "shell_limit",
    "retries",
    "backoff",
    "timeout",
    "out_dir",
    "dask",
    "dask_limit",
    "result_limit_mb",
    "log_limit_mb",
    "stall_timeout",
    "env",
    "cwd",
    *DECK_POLICY_KEYS,
    *HOST_KEYS,
)
LIMIT_KEYS = ("fetch_limit", "process_limit", "thread_limit", "shell_limit", "dask_limit")


def read_settings(top: Table, block: Block, path: Path) -> Settings:
    """The settings of the job file at `path` from its top-level table, defaults for what is missing or bad."""
    raw = top.raw("deck")
    if raw is not MISSING and not isinstance(raw, dict):
        top.report("deck", f"must be a table, not {describe(raw)}", "write a [deck] section")
    deck = Table(raw if isinstance(raw, dict) else {}, top.problems, block, job=None)
    deck.refuse_unknown_keys(DECK_KEYS, table="[deck]", lookalikes={**HOST_LOOKALIKES, **DECK_LOOKALIKES})
    given: dict[str, Any] = {}
    for key in LIMIT_KEYS:
        given[key] = deck.whole_number(key, minimum=1)
    given["retries"] = deck.whole_number("retries", minimum=0)
    given["backoff"] = duration(deck, "backoff")
    given["timeout"] = duration(deck, "timeout", hint=NO_TIMEOUT)
    given["dask"] = _deck_cluster(deck)
    given["result_limit_mb"] = deck.whole_number("result_limit_mb", minimum=1)
    given["log_limit_mb"] = log_limit(deck)
    given["stall_timeout"] = read_stall_timeout(deck)
    given.update(deck_policies(deck))
    given["host_limits"] = read_host_limits(deck, bandwidth=True)
    settings_fields = {key: value for key, value in given.items() if value is not None}
    return Settings(name=_deck_name(deck, path), out_dir=_out_dir(deck, path.parent), **settings_fields)


def _deck_cluster(deck: Table) -> str | None:
    written = deck.text("dask", example='"tcp://10.0.0.5:8786"')
    if written is None or written.strip() == LOCAL_CLUSTER:
        return None if written is None else LOCAL_CLUSTER
    address, problem = scheduler_address(written.strip())
    if problem is not None:
        deck.report(
            "dask",
            f'must be "local" or a Dask scheduler address, not {written!r}: {problem}',
            'e.g. dask = "tcp://10.0.0.5:8786", or dask = "local" for a cluster on this machine',
        )
    return address


def _deck_name(deck: Table, path: Path) -> str:
    name = deck.text("name", example='"nightly"')
    if name is None:
        return path.stem
    if "/" in name:
        deck.report("name", f"a deck name may not contain '/': {name!r}", "use '-' or '_' instead")
    return name


def _out_dir(deck: Table, folder: Path) -> Path:
    written = deck.text("out_dir", example='"downloads"')
    out_dir = absolute(folder / Path(written or ".").expanduser())
    if written is not None and out_dir.exists() and not out_dir.is_dir():
        deck.report("out_dir", f"{str(out_dir)!r} is a file, not a folder", "give a folder for saved downloads")
    return out_dir


LOG_LIMIT_MIN_MB = 0.01
"""The smallest log cap (about 10 KB): less would not hold a screen of output."""


def log_limit(table: Table) -> float | None:
    """A `log_limit_mb` (of the deck or of a job): MiB of output kept per attempt, fractions allowed."""
    return table.number(
        "log_limit_mb",
        minimum=LOG_LIMIT_MIN_MB,
        hint="the output kept of each attempt in MiB, e.g. log_limit_mb = 50; past it the start and the end are kept",
    )
