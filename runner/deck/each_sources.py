"""Where a fan-out's items come from: `each` as a list written out, or as a table naming a source of data.

`each = { range = [0, 100, 10] }` (one to three whole numbers, as Python's range), `each = { lines = "urls.txt" }`
(the file's lines, relative to the job file; blank lines and `#` comments skipped), `each = { glob = "data/*.csv" }`
(the matching paths relative to the job file, sorted) are read when the file is loaded. `each = { result_of = "job" }`
names a job whose result gives the items once it has succeeded (runner.engine.expansion): here it is only read.
"""

from __future__ import annotations

import glob as globbing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.deck.problems import did_you_mean
from runner.deck.reading import read_regular_file
from runner.deck.table import Table, describe, is_whole_number, short
from runner.deck.templates import MISSING_FIELD, field_value
from runner.errors import DeckError, Problem

SOURCES = ("range", "lines", "glob", "result_of")
SOURCE_EXAMPLES = {
    "range": "each = { range = [0, 100, 10] }",
    "lines": 'each = { lines = "urls.txt" }',
    "glob": 'each = { glob = "data/*.csv" }',
    "result_of": 'each = { result_of = "list_pages" }',
}
SOURCE_LOOKALIKES = {"file": "lines", "files": "glob", "pattern": "glob", "from": "result_of", "result": "result_of"}
_PLAIN_TYPES = (str, int, float)
_ITEM_TYPES = {str, int, float, bool, dict}
MAX_RANGE_ITEMS = 10_000_000
"""A range larger than this is refused: surely a slip (a million-item fan-out is already large)."""


@dataclass(frozen=True)
class ResultOf:
    """`each = { result_of = "job" }`: the items are that job's result, known only once it has succeeded."""

    job: str


def read_each(table: Table, folder: Path) -> list[Any] | ResultOf | None:
    """The items of the table's `each` (or a ResultOf); None after reporting a problem on the table."""
    value = table.raw("each")
    if isinstance(value, dict):
        return _from_source(table, value, folder)
    items = table.array("each", example="[1, 2, 3]")
    if items is None:
        return None
    if not items:
        table.report("each", "must list at least one item", "remove each for a single job")
        return None
    if set(map(type, items)) <= _ITEM_TYPES:  # the usual case, at C speed
        return items
    for position, item in enumerate(items, start=1):
        if not isinstance(item, (*_PLAIN_TYPES, dict)):
            table.report(
                "each",
                f"items must be strings, numbers, booleans or tables, but item {position} is {describe(item)}",
            )
            return None
    return items


def _from_source(table: Table, value: dict[str, Any], folder: Path) -> list[Any] | ResultOf | None:
    keys = list(value)
    if len(keys) != 1 or keys[0] not in SOURCES:
        unknown = [key for key in keys if key not in SOURCES]
        if unknown:
            key = unknown[0]
            meant = SOURCE_LOOKALIKES.get(key.casefold())
            hint = f"did you mean {meant!r}?" if meant else did_you_mean(key, SOURCES)
            message = f"each = {{ {key} = ... }} is no source of items"
        else:
            hint = "split them into separate jobs"
            message = f"each takes one source of items, not {len(keys)} ({', '.join(keys)})"
        table.report("each", message, hint or "use one of: " + "; ".join(SOURCE_EXAMPLES.values()))
        return None
    key = keys[0]
    given = value[key]
    if key == "range":
        return _range(table, given)
    if key == "result_of":
        if not isinstance(given, str) or not given:
            table.report("each", f"result_of must name a job, not {describe(given)}", SOURCE_EXAMPLES["result_of"])
            return None
        return ResultOf(given)
    if not isinstance(given, str) or not given:
        table.report("each", f"{key} must be a path as a string, not {describe(given)}", SOURCE_EXAMPLES[key])
        return None
    return _lines(table, folder, given) if key == "lines" else _glob(table, folder, given)


def _range(table: Table, given: Any) -> list[Any] | None:
    if (
        not isinstance(given, list)
        or not 1 <= len(given) <= 3
        or not all(is_whole_number(number) and not isinstance(number, bool) for number in given)
    ):
        table.report(
            "each",
            f"range must be 1 to 3 whole numbers (stop; start, stop; start, stop, step), not {describe(given)}",
            SOURCE_EXAMPLES["range"],
        )
        return None
    if len(given) == 3 and given[2] == 0:
        table.report("each", "the step of a range cannot be 0", "e.g. range = [0, 100, 10]")
        return None
    numbers = range(*given)
    if not numbers:
        table.report("each", f"range {given} gives no items", "the start must come before the stop (for a step > 0)")
        return None
    if len(numbers) > MAX_RANGE_ITEMS:
        table.report("each", f"range {given} gives {len(numbers):,} items", f"at most {MAX_RANGE_ITEMS:,}")
        return None
    return list(numbers)


def _lines(table: Table, folder: Path, name: str) -> list[Any] | None:
    path = folder / Path(name).expanduser()

    def refuse(message: str, hint: str | None = None) -> DeckError:
        return DeckError([Problem(path, message, hint=hint)])

    try:
        # Opened without blocking and judged by what it is: a FIFO would hang `check` and every load for good.
        data = read_regular_file(path, refuse, what="file of items", text_hint="text file, one item a line")
        text = data.decode("utf-8")
    except FileNotFoundError:
        table.report("each", f"the file of items {str(path)!r} does not exist", "the path is relative to the job file")
        return None
    except DeckError as refused:
        problem = refused.problems[0]
        table.report("each", f"{str(path)!r}: {problem.message}", problem.hint)
        return None
    except (OSError, UnicodeDecodeError) as failed:
        table.report("each", f"cannot read the file of items {str(path)!r}: {failed}", None)
        return None
    items = [line.strip() for line in text.splitlines()]
    items = [line for line in items if line and not line.startswith("#")]
    if not items:
        table.report("each", f"the file of items {str(path)!r} has no items", "one item a line; # starts a comment")
        return None
    return items


def _glob(table: Table, folder: Path, pattern: str) -> list[Any] | None:
    absolute = Path(pattern).expanduser().is_absolute()
    root = "/" if absolute else str(folder)
    matches = sorted(globbing.glob(pattern, root_dir=root, recursive=True))
    if not matches:
        table.report(
            "each",
            f"glob {pattern!r} matches no file",
            f"the pattern is relative to the job file's folder ({root}); ** matches folders too (data/**/*.csv)",
        )
        return None
    return matches


def check_item_fields(table: Table, items: list[Any], fields: dict[str, list[str]]) -> bool:
    """Whether every item has the fields (`url`, `a.b`) the job's texts name, by key; each item that lacks one
    is reported (once per key, with how many more lack it)."""
    good = True
    for key, names in fields.items():
        for name in names:
            lacking = [index for index, item in enumerate(items) if field_value(item, name) is MISSING_FIELD]
            if not lacking:
                continue
            good = False
            first = items[lacking[0]]
            what = "is not a table" if not isinstance(first, dict) else f"has no field {name!r}"
            more = f" (and {len(lacking) - 1} more items)" if len(lacking) > 1 else ""
            table.report(
                key,
                f"{{item.{name}}}: item {lacking[0] + 1} of each ({short(repr(first))}) {what}{more}",
                f"give every item a {name} field, e.g. each = [{{ {name} = ... }}]",
            )
    return good
