"""What the Recorder hands to the journal's writer thread (`Batch`), and the SQL that writes it (`encode`).

Rows go in many to a statement, never one statement per row: Python's sqlite3 releases the GIL around every
step of a statement, and on a busy engine each of those hand-overs costs the event loop and the job threads a
switch; a handful of long steps per batch leaves them alone. The rows of the commonest shape (most of a big
deck's) are the parameters of a many-row VALUES; every other kind of row goes in as one JSON array, unpacked by
SQLite (`json_each`), which is simpler for rows of many shapes but costs SQLite about as much again per row.

The engine's changes go in as the engine logged them, keyed by engine job id (`deck/name`): a temporary
table on the journal's connection (`recorded_jobs`) maps those ids to journal rows, so that SQLite, not
Python, does the mapping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import orjson

from runner.journal.schema import ATTEMPT_FIELDS
from runner.kinds.summary import spec_summary
from runner.model import JobSpec, JobState
from runner.redaction import VALUE_PREVIEW_CHARS, shorten
from runner.values import json_safe

if TYPE_CHECKING:
    from runner.engine.events import ChangeLogEntry

GROUP_SPEC_MIN_MEMBERS = 50
"""A fan-out of at least this many jobs keeps one spec for the whole group (see `group_spec`); smaller ones
keep each job's own, like jobs that are not fanned out."""

attempt_row = attrgetter(*ATTEMPT_FIELDS)
"""An Attempt's fields as the journal keeps them, in one C-level call."""

MAP_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS recorded_jobs (
    recorder INTEGER NOT NULL,
    engine_id TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    attempt_offset INTEGER NOT NULL,
    PRIMARY KEY (recorder, engine_id)
) WITHOUT ROWID
"""
# CROSS JOIN: the JSON array is read first, in order (so rows go in in the order the engine logged them), and
# each of its rows is looked up in the map; left to itself the planner may do it the other way round.
_MAPPED = "CROSS JOIN temp.recorded_jobs AS m ON m.recorder = :recorder AND m.engine_id = {}.value ->> 0"

_MERGED_ATTEMPTS = (
    # The journal's attempts before the first one in the batch, then the batch's, renumbered after the journal's
    # own for a continued run whose earlier attempts the engine did not bring back.
    "(SELECT json_group_array(json(a)) FROM (SELECT value AS a, value ->> 0 AS n FROM json_each({old}) "
    "WHERE value ->> 0 < {first} + {offset} UNION ALL SELECT json_set(value, '$[0]', (value ->> 0) + {offset}), "
    "(value ->> 0) + {offset} FROM json_each({new}) ORDER BY n))"
)


@dataclass
class GroupSpec:
    """A big fan-out's shared spec, and the members (name, item) that have no job row until they first change."""

    group: str
    spec: dict[str, Any]
    kind: str
    members: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class JobRows:
    """The current rows of one deck's jobs that changed since the last flush."""

    deck_id: str
    engine_name: str
    continued: bool
    """Written through `recorded_jobs` (the run's rows exist, attempts may be renumbered) instead of upserted."""
    lazy_groups: frozenset[str] = frozenset()
    """The deck's big fan-outs whose members get their row when they first change."""
    plain: dict[tuple[str, str] | None, list[Any]] = field(default_factory=dict)
    """Rows of the commonest shape, by big fan-out as (group, kind), None for jobs that have had their row
    since the deck was loaded: jobs of a new run with at most one attempt, no error and no output tail to keep.
    Each list holds its rows one after another, PLAIN_ROW_FIELDS values a row:
    - name, state;
    - result, kept only for a succeeded job: its JSON, or the result itself if it is None or a 64-bit int;
    - item: a str, a 64-bit int or None (None for jobs not in a big fan-out);
    - the job's attempt list as JSON (`[[ATTEMPT_FIELDS]]`), None for a job with no attempt.
    They are the parameters of a many-row VALUES as they stand (see `_plain_rows_statements`): the writer
    thread does no work per row."""
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    """Rows of any other shape: (job name, or engine job id in a continued run; state, attempts, error, result
    JSON, output tail JSON, attempts from the first that may have changed since the last flush as lists of
    ATTEMPT_FIELDS, the first's number or None if the job has none), followed by (kind, group, item) for a big
    fan-out's member of a new run, which may have no row yet."""


@dataclass
class DeckLoad:
    """A deck the engine loaded: its jobs, to insert (or, for a continued run, to queue again)."""

    deck_id: str
    engine_name: str
    now: float
    jobs: list[list[Any]]
    """[name, kind, state, spec value] for a job with its own spec, [name, kind, state, None, group, item] for a
    member of a big fan-out (whose spec is its group's); in a continued run, each padded to six fields and
    followed by the number of attempts the engine brought back for it. In a new run, a big fan-out's members
    are not among them: their rows are written when they first change (see `GroupSpec.members`)."""
    group_specs: list[GroupSpec] = field(default_factory=list)
    continued: bool = False
    """Rows of this deck run may exist already: they keep their history and are queued again."""
    added: int = 0
    """How many jobs were added to a deck run already recorded (`jobdeck add`): `jobs` are only those."""


@dataclass
class Batch:
    """Rows waiting to be written, in the order the transaction writes them."""

    recorder: int
    decks: list[tuple[Any, ...]] = field(default_factory=list)
    """(id, name, path, loaded_at, pid, job_count) of new runs."""
    loads: list[DeckLoad] = field(default_factory=list)
    carried: list[tuple[str, str, list[str]]] = field(default_factory=list)
    """(journal id of the run resumed, journal id of the new run, names of the jobs carried over)."""
    changes: list[ChangeLogEntry] = field(default_factory=list)
    """The engine's change log entries, keyed by engine job id."""
    jobs: list[JobRows] = field(default_factory=list)
    now: float = 0.0
    forget: bool = False
    """The recorder is done: drop its rows of `recorded_jobs`."""


def json_text(value: Any) -> str:
    """`value` as JSON text. orjson encodes the journal's rows several times faster than json, and that counts:
    the writer thread holds the GIL while it encodes, which stalls the event loop and the job threads. What
    orjson refuses (integers beyond 64 bits) goes through json."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def spec_value(spec: JobSpec) -> dict[str, Any]:
    """The job's spec as the dashboard shows it, secrets redacted, ready for JSON."""
    return {
        "summary": dict(spec_summary(spec)),
        "after": list(spec.after),
        "group": spec.group,
        "item": json_safe(spec.item),
        "line": spec.line,
    }


def spec_json(spec: JobSpec) -> str:
    """The job's spec as the dashboard shows it: secrets redacted."""
    return json.dumps(spec_value(spec))


def group_spec(first: JobSpec, last: JobSpec) -> dict[str, Any]:
    """One spec for a big fan-out: its first job's, plus the summary lines that differ in its last job
    (`varies`). Redacting and summarising each of 50,000 jobs would cost the engine more than running them."""
    value = spec_value(first)
    other = dict(spec_summary(last))
    value["varies"] = [key for key, text in value["summary"].items() if key != "item" and other.get(key) != text]
    value["first"] = first.name
    return value


def member_spec(group: dict[str, Any], item: Any) -> dict[str, Any]:
    """A big fan-out's job's spec, rebuilt from its group's spec and its own item: the lines that vary with
    the item say so, and show the group's first job's."""
    summary = dict(group["summary"])
    if item != group["item"]:
        for key in group["varies"]:
            summary[key] = f"(varies with the item; for {group['first']}: {summary[key]})"
        if "item" in summary:
            summary["item"] = f"{shorten(repr(item), VALUE_PREVIEW_CHARS)} (of {group['group']})"
    return {"summary": summary, "after": group["after"], "group": group["group"], "item": item, "line": group["line"]}


def encode(batch: Batch) -> list[tuple[str, Any]]:
    """The statements that write one batch, in order, with their parameters."""
    statements: list[tuple[str, Any]] = []
    statements.extend(
        ("INSERT INTO decks (id, name, path, loaded_at, pid, job_count) VALUES (?, ?, ?, ?, ?, ?)", deck)
        for deck in batch.decks
    )
    if batch.loads or batch.changes or batch.forget:
        statements.append((MAP_TABLE, ()))  # on this connection (the first batch may concern unrecorded decks)
    for load in batch.loads:
        statements.extend(_load_statements(load, batch.recorder))
    for from_deck, to_deck, names in batch.carried:
        statements.append(
            (
                # A carried job is not in the new run's deck when its deck was cut down to the jobs still to run.
                "INSERT INTO jobs (deck_id, name, kind, spec, state, attempts, attempt_list, error, result, "
                "output_tail, updated_at, carried_over) SELECT ?, name, kind, spec, state, attempts, attempt_list, "
                "error, result, output_tail, updated_at, 1 FROM jobs WHERE deck_id = ? AND name IN "
                "(SELECT value FROM json_each(?)) ON CONFLICT (deck_id, name) DO UPDATE SET kind = excluded.kind, "
                "spec = excluded.spec, state = excluded.state, attempts = excluded.attempts, "
                "attempt_list = excluded.attempt_list, error = excluded.error, result = excluded.result, "
                "output_tail = excluded.output_tail, updated_at = excluded.updated_at, carried_over = 1",
                (to_deck, from_deck, json_text(names)),
            )
        )
    if batch.changes:
        statements.append(
            (
                "INSERT INTO change_batches (recording, changes) VALUES (?, ?)",
                (batch.recorder, json_text(list(map(tuple, batch.changes)))),  # orjson takes no NamedTuple
            )
        )
    for deck_rows in batch.jobs:
        if deck_rows.rows:
            statements.append(_job_rows_statement(deck_rows, batch.recorder, batch.now))
        for fan_out, rows in deck_rows.plain.items():
            statements.extend(_plain_rows_statements(deck_rows.deck_id, fan_out, rows, batch.now))
    if batch.forget:
        statements.append(("DELETE FROM temp.recorded_jobs WHERE recorder = ?", (batch.recorder,)))
    return statements


def _job_rows_statement(deck_rows: JobRows, recorder: int, now: float) -> tuple[str, Any]:
    parameters = {"recorder": recorder, "deck_id": deck_rows.deck_id, "rows": json_text(deck_rows.rows), "now": now}
    if deck_rows.continued:
        return (
            # The rows to update are gathered first, then each found in jobs by its key: left to itself the
            # planner may scan jobs and search the JSON array for each.
            "WITH u AS MATERIALIZED (SELECT m.job_id AS id, m.attempt_offset AS offset, r.value ->> 1 AS state, "
            "(r.value ->> 2) + m.attempt_offset AS attempts, r.value ->> 3 AS error, r.value ->> 4 AS result, "
            "r.value ->> 5 AS tail, r.value -> 6 AS list, r.value ->> 7 AS first "
            f"FROM json_each(:rows) AS r {_MAPPED.format('r')}) "
            "UPDATE jobs SET state = u.state, attempts = u.attempts, attempt_list = CASE "
            "WHEN u.first IS NULL THEN attempt_list WHEN u.first = 1 AND u.offset = 0 THEN u.list "
            f"ELSE {_merged_attempts('jobs.attempt_list', 'u.first', 'u.list', 'u.offset')} END, error = u.error, "
            "result = u.result, "
            "output_tail = COALESCE(u.tail, output_tail), updated_at = :now FROM u WHERE jobs.id = u.id",
            parameters,
        )
    return (
        # A new run numbers attempts as the engine does. The row of a big fan-out's member is inserted when it
        # first changes (kind and spec are only for that: other rows exist). A job's attempts from a later one
        # than its first are merged with the row's (it exists: the first attempt's start was written with it).
        "INSERT INTO jobs (deck_id, name, kind, spec, state, attempts, attempt_list, error, result, output_tail, "
        "updated_at) SELECT :deck_id, u.name, COALESCE(u.kind, ''), CASE WHEN u.grp IS NULL THEN '' "
        "ELSE json_object('group', u.grp, 'item', json(u.item)) END, u.state, u.attempts, CASE WHEN u.first IS NULL "
        "THEN '[]' WHEN u.first = 1 THEN u.list ELSE json_object('first', u.first, 'list', json(u.list)) END, "
        "u.error, u.result, u.tail, :now FROM (SELECT r.value ->> 0 AS name, r.value ->> 1 AS state, "
        "r.value ->> 2 AS attempts, r.value ->> 3 AS error, r.value ->> 4 AS result, r.value ->> 5 AS tail, "
        "r.value -> 6 AS list, r.value ->> 7 AS first, r.value ->> 8 AS kind, r.value ->> 9 AS grp, "
        "r.value -> 10 AS item FROM json_each(:rows) AS r) AS u WHERE true "
        "ON CONFLICT (deck_id, name) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, "
        "attempt_list = CASE WHEN substr(excluded.attempt_list, 1, 1) = '{' THEN "
        + _merged_attempts("attempt_list", "excluded.attempt_list ->> 'first'", "excluded.attempt_list -> 'list'", "0")
        + " ELSE excluded.attempt_list END, error = excluded.error, result = excluded.result, "
        "output_tail = COALESCE(excluded.output_tail, output_tail), updated_at = excluded.updated_at",
        parameters,
    )


PLAIN_ROWS_PER_STATEMENT = 256
"""The most rows of the commonest shape one statement writes (a power of two: see `_plain_rows_statements`)."""
PLAIN_ROW_FIELDS = 5
"""Values per row in `JobRows.plain`."""
PLAIN_ITEM_TYPES = (str, int, type(None))
"""Items a plain row can carry as they are; an int must also fit in 64 bits (see `plain_row_item`)."""
_PLAIN_CONSTANTS = 4
"""The parameters every row of a plain rows statement shares: deck id, kind, group (or NULL), time."""
_PLAIN_COLUMNS = ("deck_id", "name", "kind", "spec", "state", "attempts", "attempt_list", "result", "updated_at")


def fits_in_64_bits(smallest: int, largest: int) -> bool:
    """Whether ints from `smallest` to `largest` bind in SQLite (wider ones raise OverflowError)."""
    return smallest >= -(2**63) and largest < 2**63


def plain_row_item(item: Any) -> bool:
    """Whether a plain row can carry this item: SQLite binds it as it is."""
    return type(item) in PLAIN_ITEM_TYPES and (type(item) is not int or fits_in_64_bits(item, item))


def _plain_rows_statements(
    deck_id: str, fan_out: tuple[str, str] | None, rows: list[Any], now: float
) -> list[tuple[str, Any]]:
    """Rows of the commonest shape go in as plain parameters of a many-row VALUES, not as JSON: taking the
    fields out of each row's JSON cost SQLite as much as writing the row, and making each row on the writer
    thread held the GIL there. SQLite makes a fan-out member's spec itself (`json_object`). Statements come
    in a few sizes (the rows in chunks of PLAIN_ROWS_PER_STATEMENT, the rest in halving powers of two), so that
    each is prepared once and then reused from the connection's statement cache."""
    # A big fan-out's member may have no row yet: its spec names its group and item (see `member_spec`). A job
    # with its own spec has had its row since its deck was loaded, so only the update applies to it.
    group, kind = fan_out or (None, "")
    constants = [deck_id, kind, group, now]
    statements: list[tuple[str, Any]] = []
    count = len(rows) // PLAIN_ROW_FIELDS
    start, size = 0, PLAIN_ROWS_PER_STATEMENT
    while start < count:
        while count - start < size:
            size //= 2
        values = rows[start * PLAIN_ROW_FIELDS : (start + size) * PLAIN_ROW_FIELDS]
        statements.append((_plain_values_sql(size), constants + values))
        start += size
    return statements


@cache
def _plain_values_sql(rows: int) -> str:
    """The statement for `rows` plain rows: ?1-?4 are the constants, then each row's PLAIN_ROW_FIELDS."""
    values = []
    for row in range(rows):
        name, state, result, item, attempts = (
            _PLAIN_CONSTANTS + row * PLAIN_ROW_FIELDS + field for field in range(1, PLAIN_ROW_FIELDS + 1)
        )
        values.append(
            f"(?1, ?{name}, ?2, CASE WHEN ?3 IS NULL THEN '' ELSE json_object('group', ?3, 'item', ?{item}) END, "
            f"?{state}, ?{attempts} IS NOT NULL, COALESCE(?{attempts}, '[]'), "
            f"CASE WHEN ?{state} = '{JobState.SUCCEEDED.value}' THEN COALESCE(CAST(?{result} AS TEXT), 'null') END, ?4)"
        )
    return (
        f"INSERT INTO jobs ({', '.join(_PLAIN_COLUMNS)}) VALUES {', '.join(values)} "
        "ON CONFLICT (deck_id, name) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, "
        "attempt_list = excluded.attempt_list, error = NULL, result = excluded.result, "
        "updated_at = excluded.updated_at"
    )


def _merged_attempts(old: str, first: str, new: str, offset: str) -> str:
    return _MERGED_ATTEMPTS.format(old=old, first=first, new=new, offset=offset)


def _load_statements(load: DeckLoad, recorder: int) -> list[tuple[str, Any]]:
    parameters = {
        "recorder": recorder,
        "deck_id": load.deck_id,
        "prefix": f"{load.engine_name}/",
        "jobs": json_text(load.jobs),
        "now": load.now,
    }
    statements: list[tuple[str, Any]] = [
        (
            "INSERT OR REPLACE INTO group_specs (deck_id, grp, spec, kind, members) VALUES (?, ?, ?, ?, ?)",
            (load.deck_id, group.group, json_text(group.spec), group.kind, json_text(group.members)),
        )
        for group in load.group_specs
    ]
    statements.append(
        (
            "INSERT OR REPLACE INTO deck_names (recording, engine_name, deck_id) VALUES (?, ?, ?)",
            (recorder, load.engine_name, load.deck_id),
        )
    )
    if load.continued:
        statements.append(
            (
                "INSERT INTO change_batches (changes) SELECT json_group_array(json_array(j.id, j.state, "
                "v.value ->> 2, j.attempts, NULL, :now)) FROM json_each(:jobs) AS v "
                "CROSS JOIN jobs AS j ON j.deck_id = :deck_id AND j.name = v.value ->> 0 "
                "WHERE j.state <> v.value ->> 2 HAVING count(*) > 0",
                parameters,
            )
        )
    statements.append(
        (
            # A continued run's job keeps its history; its error and result only while it stays finished.
            "INSERT INTO jobs (deck_id, name, kind, spec, state, updated_at) "
            "SELECT :deck_id, value ->> 0, value ->> 1, CASE WHEN value ->> 3 IS NULL "
            "THEN json_object('group', value ->> 4, 'item', value -> 5) ELSE json(value -> 3) END, value ->> 2, :now "
            "FROM json_each(:jobs) WHERE true "
            "ON CONFLICT (deck_id, name) DO UPDATE SET kind = excluded.kind, spec = excluded.spec, "
            "error = CASE WHEN excluded.state = state THEN error END, "
            "result = CASE WHEN excluded.state = state THEN result END, "
            "state = excluded.state, updated_at = excluded.updated_at",
            parameters,
        )
    )
    statements.append(
        (
            # A continued run's jobs go on numbering attempts after the journal's, unless the engine brought
            # those back (then it numbers after them itself).
            "INSERT OR REPLACE INTO temp.recorded_jobs (recorder, engine_id, job_id, attempt_offset) "
            "SELECT :recorder, :prefix || (v.value ->> 0), j.id, max(0, j.attempts - COALESCE(v.value ->> 6, 0)) "
            "FROM json_each(:jobs) AS v CROSS JOIN jobs AS j ON j.deck_id = :deck_id AND j.name = v.value ->> 0",
            parameters,
        )
    )
    if load.added:
        statements.append(
            (
                "UPDATE decks SET job_count = job_count + :added WHERE id = :deck_id AND job_count IS NOT NULL",
                {**parameters, "added": load.added},
            )
        )
    if load.continued:
        statements.append(
            (
                "UPDATE decks SET job_count = (SELECT count(*) FROM jobs WHERE deck_id = :deck_id) WHERE id = :deck_id",
                parameters,
            )
        )
        statements.append(
            (
                "INSERT OR REPLACE INTO attempt_offsets (recording, engine_id, offset) SELECT recorder, engine_id, "
                "attempt_offset FROM temp.recorded_jobs WHERE recorder = :recorder AND attempt_offset > 0 "
                "AND substr(engine_id, 1, length(:prefix)) = :prefix",
                parameters,
            )
        )
    return statements
