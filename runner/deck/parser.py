"""Job files (TOML) in, a validated `Deck` out; or a `DeckError` that lists every problem with its line.

```toml
[deck]
name = "nightly"

[[job]]
name = "page"
fetch = "https://example.org/page/{item}"
headers = { Authorization = "Bearer ${TOKEN}" }
each = [1, 2, 3]
```

Nothing here imports user code or touches the network. `${VAR}` templates stay unexpanded in the specs;
`expand_env` fills them in when a request is actually sent, so secrets never sit in specs or messages.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import os
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from runner.errors import DeckError, Problem, describe_error
from runner.model import CallSpec, Deck, FetchSpec, JobSpec, Kind, Settings, ShellSpec, WorkSpec

__all__ = ["env_references", "expand_env", "load_deck", "parse_deck"]

TOP_LEVEL_KEYS = ("deck", "job")
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
)
LIMIT_KEYS = ("fetch_limit", "process_limit", "thread_limit", "shell_limit", "dask_limit")
COMMON_JOB_KEYS = ("name", "after", "retries", "backoff", "timeout", "each")
KIND_KEYS: dict[Kind, tuple[str, ...]] = {
    Kind.FETCH: ("fetch", "method", "headers", "body", "save", "expect"),
    Kind.CALL: ("call", "args", "kwargs", "on"),
    Kind.SHELL: ("shell",),
}
ALL_JOB_KEYS = COMMON_JOB_KEYS + tuple(key for keys in KIND_KEYS.values() for key in keys)
KIND_OF_KEY = {key: kind for kind, keys in KIND_KEYS.items() for key in keys}
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
CALL_PLACES = ("process", "thread", "dask")
DASK_INLINE = "dask://"
LOCAL_CLUSTER = "local"
SCHEDULER_SCHEMES = ("tcp", "tls")
FORBIDDEN_NAME_CHARS = ("/", "[", "]")
KIND_NAMES = frozenset(kind.value for kind in Kind)
ITEM = "{item}"

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)$")
_TABLE_HEADER = re.compile(r"""^\s*(\[\[?)\s*([A-Za-z0-9_\-."' ]+?)\s*(\]\]?)\s*(?:#.*)?$""")
_KEY_START = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*[.=]""")
_KEY_PART = re.compile(r""""[^"]*"|'[^']*'|[^.\s]+""")
_MISSING: Any = object()


# --- ${VAR} templates -------------------------------------------------------------------------------------------


def env_references(template: str) -> list[str]:
    """The names of the `${NAME}` variables a template uses, in order of first use."""
    return list(dict.fromkeys(_ENV_REFERENCE.findall(template)))


def expand_env(template: str, environ: Mapping[str, str]) -> str:
    """Replace each `${NAME}` in `template` by the variable's value.

    Raises KeyError naming the first variable that is not set in `environ` (load_deck has already refused
    decks that use unset variables, so this only happens when the environment changed since).
    """
    return _ENV_REFERENCE.sub(lambda match: environ[match.group(1)], template)


# --- entry points -----------------------------------------------------------------------------------------------


def load_deck(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Deck:
    """Read and check the job file at `path`; raises DeckError listing every problem found."""
    file_path = _absolute(Path(path))
    with _bugs_as_problems(file_path):
        text = _read_job_file(file_path)
    return parse_deck(text, file_path, environ=environ)


def parse_deck(text: str, path: Path, *, environ: Mapping[str, str] | None = None) -> Deck:
    """Check the text of a job file that lives at `path`; raises DeckError listing every problem found."""
    path = _absolute(path)
    problems = _Problems(path)
    with _bugs_as_problems(path):
        deck = _DeckParser(text, path, os.environ if environ is None else environ, problems).parse()
    problems.raise_if_any()
    assert deck is not None
    return deck


@contextmanager
def _bugs_as_problems(path: Path) -> Iterator[None]:
    """Even a bug in this module must reach the user as a message, never as a traceback."""
    try:
        yield
    except DeckError:
        raise
    except Exception as exc:
        message = f"could not load the job file: {describe_error(exc)}"
        hint = "this is a bug in jobdeck; please report it with the job file"
        raise DeckError([Problem(path, message, hint=hint)]) from exc


def _absolute(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, no home folder, a NUL in the path
        return path.absolute()


# --- reading the file -------------------------------------------------------------------------------------------


def _read_job_file(path: Path) -> str:
    def fail(message: str, hint: str | None = None, line: int | None = None) -> DeckError:
        return DeckError([Problem(path, message, line=line, hint=hint)])

    if "\0" in str(path):
        raise fail("the path contains a NUL character", "check how the path was typed or generated")
    if path.is_dir():
        raise fail("this is a folder, not a job file", _toml_files_hint(path))
    if not path.exists():
        raise fail("no such job file", _similar_file_hint(path) or "check the path; job files are TOML (.toml) files")
    try:
        data = path.read_bytes()
    except PermissionError:
        raise fail("cannot read the job file: permission denied", "check the file's permissions") from None
    except OSError as exc:
        raise fail(f"cannot read the job file: {exc.strerror or exc}") from None
    if b"\0" in data:
        raise fail("this is a binary file, not a TOML job file", "give the path of a .toml text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise fail(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded)",
            "save the file with UTF-8 encoding",
            line,
        ) from None


def _toml_files_hint(folder: Path) -> str:
    try:
        found = sorted(child.name for child in folder.glob("*.toml"))
    except OSError:
        found = []
    if not found:
        return "give the path of a .toml job file"
    listed = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
    return f"give the path of a job file inside it: {listed}"


def _similar_file_hint(path: Path) -> str | None:
    # Compare stems: a shared ".toml" would make any two short names look alike.
    try:
        siblings = {child.stem: child.name for child in path.parent.iterdir() if child.suffix == path.suffix}
    except OSError:
        return None
    matches = difflib.get_close_matches(path.stem, list(siblings), n=1)
    return f"did you mean {siblings[matches[0]]!r}?" if matches else None


def _did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {matches[0]!r}?" if matches else None


# --- problems ---------------------------------------------------------------------------------------------------


class _Problems:
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


def _toml_syntax_problem(error: tomllib.TOMLDecodeError, text: str, path: Path) -> Problem:
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


# --- describing values in messages ------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return f"a string ({_short(value)!r})" if value else "an empty string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a date/time ({value})"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _item_text(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)


# --- finding lines ----------------------------------------------------------------------------------------------


@dataclass
class _Block:
    """The lines under one table header: where the header is and where each of its keys is first set."""

    line: int | None
    key_lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)

    def note_key(self, key: str, line: int) -> None:
        self.key_lines.setdefault(key, line)


class _Lines:
    """Line numbers of tables and keys, found by scanning the text, since tomllib reports none.

    The i-th `[[job]]` header is the i-th job; `[job.headers]` sub-tables count as the last job's `headers`
    key. Multi-line strings are skipped so their contents are not taken for keys or headers.
    """

    def __init__(self, text: str) -> None:
        self.top = _Block(line=None)
        self.deck = _Block(line=None)
        self.jobs: list[_Block] = []
        self._scan(text)

    def job(self, index: int) -> _Block:
        return self.jobs[index] if index < len(self.jobs) else _Block(line=None)

    def _scan(self, text: str) -> None:
        current: _Block | None = self.top
        open_string: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if open_string:
                if line.count(open_string) % 2 == 1:
                    open_string = None
                continue
            header = _TABLE_HEADER.match(line)
            if header and len(header.group(1)) == len(header.group(3)):
                current = self._enter_table(_split_key_path(header.group(2)), header.group(1) == "[[", number)
            elif (key := _KEY_START.match(line)) and current is not None:
                current.note_key(_unquote(key.group(1)), number)
            open_string = next((quote for quote in ('"""', "'''") if line.count(quote) % 2 == 1), None)

    def _enter_table(self, key_path: list[str], is_array: bool, line: int) -> _Block | None:
        if not key_path:
            return None
        top, rest = key_path[0], key_path[1:]
        self.top.note_key(top, line)
        if top == "job" and not rest and is_array:
            self.jobs.append(_Block(line=line))
            return self.jobs[-1]
        if top == "deck" and not rest:
            self.deck.line = self.deck.line or line
            return self.deck
        owner = self.jobs[-1] if top == "job" and self.jobs else self.deck if top == "deck" else None
        if owner is not None and rest:
            owner.note_key(rest[0], line)
        return None  # keys inside sub-tables are not job or deck keys


def _split_key_path(text: str) -> list[str]:
    return [_unquote(part) for part in _KEY_PART.findall(text)]


def _unquote(key: str) -> str:
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        return key[1:-1]
    return key


# --- reading one table ------------------------------------------------------------------------------------------


class _Table:
    """Typed getters over one TOML table; each bad value becomes a Problem at its key's line.

    Getters return None when the key is missing or its value is bad, so callers fall back to defaults and
    keep checking the rest of the file.
    """

    def __init__(self, data: Mapping[str, Any], problems: _Problems, block: _Block, job: str | None) -> None:
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
        return self.data.get(key, _MISSING)

    def refuse_unknown_keys(self, valid: Sequence[str], *, table: str) -> None:
        for key in self.data:
            if key not in valid:
                hint = _did_you_mean(key, valid) or f"valid keys in {table} are: {', '.join(valid)}"
                self.report(key, f"unknown key in {table}", hint)

    def whole_number(self, key: str, *, minimum: int) -> int | None:
        value = self.raw(key)
        if value is _MISSING:
            return None
        if not _is_whole_number(value) or value < minimum:
            hint = "a limit of 0 would never run anything" if minimum == 1 and value == 0 else None
            self.report(key, f"must be a whole number >= {minimum}, not {_describe(value)}", hint)
            return None
        return int(value)

    def number(self, key: str, *, minimum: float, hint: str | None = None) -> float | None:
        value = self.raw(key)
        if value is _MISSING:
            return None
        if not _is_number(value) or not math.isfinite(value) or value < minimum:
            self.report(key, f"must be a number >= {minimum:g}, not {_describe(value)}", hint)
            return None
        return float(value)

    def text(self, key: str, *, example: str) -> str | None:
        """A non-empty string."""
        value = self.raw(key)
        if value is _MISSING:
            return None
        if not isinstance(value, str) or not value.strip():
            self.report(key, f"must be a non-empty string, not {_describe(value)}", f"e.g. {key} = {example}")
            return None
        return value

    def table(self, key: str, *, example: str) -> dict[str, Any] | None:
        value = self.raw(key)
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            self.report(key, f"must be a table, not {_describe(value)}", f"e.g. {key} = {example}")
            return None
        return value

    def array(self, key: str, *, example: str) -> list[Any] | None:
        value = self.raw(key)
        if value is _MISSING:
            return None
        if not isinstance(value, list):
            self.report(key, f"must be a list, not {_describe(value)}", f"e.g. {key} = {example}")
            return None
        return value


# --- the parts of a job before fan-out --------------------------------------------------------------------------


@dataclass(frozen=True)
class _FetchTemplate:
    url: str
    method: str
    headers: dict[str, str]
    body: str | None
    save: str | None
    expect: frozenset[int] | None


_Template = _FetchTemplate | CallSpec | ShellSpec


@dataclass
class _Draft:
    """One `[[job]]` table, checked, before fan-out and before `after` is resolved."""

    table: _Table
    name: str | None
    kind: Kind | None
    template: _Template | None
    after: list[str]
    retries: int
    backoff: float
    timeout: float
    each: list[Any] | None

    @property
    def line(self) -> int | None:
        return self.table.block.line

    def concrete_names(self) -> list[str]:
        if self.name is None:
            return []
        if self.each is None:
            return [self.name]
        return [f"{self.name}[{_item_text(item)}]" for item in self.each]

    def instances(self) -> list[tuple[str, Any]]:
        """(concrete name, item) pairs; the item is _MISSING for a job without `each`."""
        if self.each is None:
            return [(name, _MISSING) for name in self.concrete_names()]
        return list(zip(self.concrete_names(), self.each, strict=True))


# --- the parser -------------------------------------------------------------------------------------------------


class _DeckParser:
    def __init__(self, text: str, path: Path, environ: Mapping[str, str], problems: _Problems) -> None:
        self.text = text
        self.path = path
        self.folder = path.parent
        self.environ = environ
        self.problems = problems
        self.lines = _Lines(text)

    def parse(self) -> Deck | None:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            self.problems.items.append(_toml_syntax_problem(exc, self.text, self.path))
            return None
        top = _Table(data, self.problems, self.lines.top, job=None)
        self._refuse_unknown_top_level_keys(top)
        settings = self._settings(top)
        drafts = [self._draft(index, table, settings) for index, table in enumerate(self._job_tables(top))]
        named = self._first_of_each_name(drafts)
        self._check_concrete_names(drafts)
        resolved_after = self._resolve_all_after(named)
        self._check_cycles(named, resolved_after)
        jobs = [job for draft in drafts for job in self._fan_out(draft, settings, resolved_after)]
        self._check_shared_save_paths(jobs, named)
        if self.problems.items:
            return None
        return Deck(name=settings.name, path=self.path, settings=settings, jobs=tuple(jobs))

    def _refuse_unknown_top_level_keys(self, top: _Table) -> None:
        for key in top.data:
            if key in TOP_LEVEL_KEYS:
                continue
            if key in DECK_KEYS:
                hint = "put it under the [deck] header"
            elif key in ALL_JOB_KEYS:
                hint = "put it under a [[job]] header"
            else:
                hint = _did_you_mean(key, TOP_LEVEL_KEYS) or "a job file has only [deck] and [[job]] tables"
            top.report(key, "unknown table or key at the top of the job file", hint)

    # --- [deck] ---

    def _settings(self, top: _Table) -> Settings:
        raw = top.raw("deck")
        if raw is not _MISSING and not isinstance(raw, dict):
            top.report("deck", f"must be a table, not {_describe(raw)}", "write a [deck] section")
        deck = _Table(raw if isinstance(raw, dict) else {}, self.problems, self.lines.deck, job=None)
        deck.refuse_unknown_keys(DECK_KEYS, table="[deck]")
        given: dict[str, Any] = {}
        for key in LIMIT_KEYS:
            given[key] = deck.whole_number(key, minimum=1)
        given["retries"] = deck.whole_number("retries", minimum=0)
        given["backoff"] = deck.number("backoff", minimum=0)
        given["timeout"] = deck.number("timeout", minimum=0, hint="use 0 for no timeout")
        given["dask"] = self._deck_cluster(deck)
        settings_fields = {key: value for key, value in given.items() if value is not None}
        return Settings(name=self._deck_name(deck), out_dir=self._out_dir(deck), **settings_fields)

    def _deck_cluster(self, deck: _Table) -> str | None:
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

    def _deck_name(self, deck: _Table) -> str:
        name = deck.text("name", example='"nightly"')
        if name is None:
            return self.path.stem
        if "/" in name:
            deck.report("name", f"a deck name may not contain '/': {name!r}", "use '-' or '_' instead")
        return name

    def _out_dir(self, deck: _Table) -> Path:
        written = deck.text("out_dir", example='"downloads"')
        out_dir = _absolute(self.folder / Path(written or ".").expanduser())
        if written is not None and out_dir.exists() and not out_dir.is_dir():
            deck.report("out_dir", f"{str(out_dir)!r} is a file, not a folder", "give a folder for saved downloads")
        return out_dir

    # --- [[job]] tables ---

    def _job_tables(self, top: _Table) -> list[Mapping[str, Any]]:
        raw = top.raw("job")
        if raw is _MISSING or raw == []:
            self.problems.add(
                "the deck has no jobs",
                hint='add a [[job]] table with a name and one of fetch = "URL", call = "module:function" '
                'or shell = "command"',
            )
            return []
        if isinstance(raw, dict):
            top.report("job", "each job must be a [[job]] table (double brackets), not a single [job] table")
            return []
        if not isinstance(raw, list):
            top.report("job", f"must be a list of [[job]] tables, not {_describe(raw)}", "write [[job]] for each job")
            return []
        tables: list[Mapping[str, Any]] = []
        for index, entry in enumerate(raw):
            if isinstance(entry, dict):
                tables.append(entry)
            else:
                self.problems.add(
                    f"job #{index + 1} must be a table, not {_describe(entry)}",
                    line=self.lines.top.line_of("job"),
                    key="job",
                    hint="write [[job]] followed by its keys",
                )
        return tables

    def _draft(self, index: int, data: Mapping[str, Any], settings: Settings) -> _Draft:
        name = self._job_name(index, data)
        table = _Table(data, self.problems, self.lines.job(index), job=name or f"#{index + 1}")
        kind = self._job_kind(table)
        valid_keys = ALL_JOB_KEYS if kind is None else COMMON_JOB_KEYS + KIND_KEYS[kind]
        for key in data:
            if key not in ALL_JOB_KEYS:
                listing = f"valid keys{f' for a {kind} job' if kind else ''} are: {', '.join(valid_keys)}"
                table.report(key, "unknown key in [[job]]", _did_you_mean(key, valid_keys) or listing)
            elif key not in valid_keys:
                table.report(
                    key, f"key {key!r} applies only to {KIND_OF_KEY[key]} jobs, not to {kind} jobs", "remove it"
                )
        template = self._template(kind, table) if kind is not None else None
        return _Draft(
            table=table,
            name=name,
            kind=kind,
            template=template,
            after=self._after_names(table),
            retries=_or_default(table.whole_number("retries", minimum=0), settings.retries),
            backoff=_or_default(table.number("backoff", minimum=0), settings.backoff),
            timeout=_or_default(table.number("timeout", minimum=0, hint="use 0 for no timeout"), settings.timeout),
            each=self._each(table),
        )

    def _job_name(self, index: int, data: Mapping[str, Any]) -> str | None:
        table = _Table(data, self.problems, self.lines.job(index), job=f"#{index + 1}")
        if not table.has("name"):
            table.report(None, "the job has no name", 'add a line like name = "build" under its [[job]] header')
            return None
        name = table.text("name", example='"build"')
        if name is None:
            return None
        bad = [char for char in FORBIDDEN_NAME_CHARS if char in name]
        if bad:
            table.report(
                "name",
                f"a job name may not contain {' or '.join(map(repr, bad))}: {name!r}",
                "use letters, digits, '-' or '_'; fan-out names like page[2] are made from each",
            )
            return None
        return name

    def _job_kind(self, table: _Table) -> Kind | None:
        kinds = [Kind(key) for key in table.data if key in KIND_NAMES]
        if not kinds:
            table.report(
                None,
                "the job has nothing to do",
                'give it exactly one of fetch = "URL", call = "module:function" or shell = "command"',
            )
            return None
        if len(kinds) > 1:
            written = " and ".join(repr(kind.value) for kind in kinds)
            table.report(
                kinds[1].value,
                f"a job does exactly one thing, but this one has {written}",
                "split it into separate jobs and order them with after",
            )
            return None
        return kinds[0]

    def _after_names(self, table: _Table) -> list[str]:
        value = table.raw("after")
        if value is _MISSING:
            return []
        if isinstance(value, str):
            table.report("after", "must be a list of job names, not a string", f'write after = ["{value}"]')
            return []
        if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
            table.report("after", f"must be a list of job names, not {_describe(value)}", 'e.g. after = ["build"]')
            return []
        return list(dict.fromkeys(value))

    def _each(self, table: _Table) -> list[Any] | None:
        value = table.array("each", example="[1, 2, 3]")
        if value is None:
            return None
        if not value:
            table.report("each", "must list at least one item", "remove each for a single job")
            return None
        for position, item in enumerate(value, start=1):
            if not isinstance(item, str | int | float):
                table.report(
                    "each",
                    f"items must be strings, numbers or booleans, but item {position} is {_describe(item)}",
                )
                return None
        return value

    # --- the work of each kind ---

    def _template(self, kind: Kind, table: _Table) -> _Template | None:
        if kind is Kind.FETCH:
            return self._fetch_template(table)
        if kind is Kind.CALL:
            return self._call_template(table)
        return self._shell_template(table)

    def _fetch_template(self, table: _Table) -> _FetchTemplate | None:
        url = table.text("fetch", example='"https://example.org/"')
        method = self._method(table)
        headers = self._headers(table)
        body = table.raw("body")
        if body is not _MISSING and not isinstance(body, str):
            table.report("body", f"must be a string, not {_describe(body)}", "write the request body as a string")
        save = table.text("save", example='"pages/home.html"')
        expect = self._expect(table)
        if url is None:
            return None
        return _FetchTemplate(
            url=url,
            method=method,
            headers=headers,
            body=body if isinstance(body, str) else None,
            save=save,
            expect=expect,
        )

    def _method(self, table: _Table) -> str:
        method = table.text("method", example='"POST"')
        if method is None:
            return "GET"
        if method.upper() not in HTTP_METHODS:
            hint = _did_you_mean(method.upper(), HTTP_METHODS) or f"use one of {', '.join(HTTP_METHODS)}"
            table.report("method", f"{method!r} is not an HTTP method this runner sends", hint)
        return method.upper()

    def _headers(self, table: _Table) -> dict[str, str]:
        headers = table.table("headers", example='{ Accept = "text/html" }')
        if headers is None:
            return {}
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name):
                table.report("headers", f"{name!r} is not a valid HTTP header name", "use letters, digits and '-'")
            if not isinstance(value, str):
                table.report(
                    "headers",
                    f"header {name!r} must be a string, not {_describe(value)}",
                    f'write {name} = "{_item_text(value)}"' if _is_number(value) or isinstance(value, bool) else None,
                )
        return {name: value for name, value in headers.items() if isinstance(value, str)}

    def _expect(self, table: _Table) -> frozenset[int] | None:
        value = table.raw("expect")
        if value is _MISSING:
            return None
        statuses = value if isinstance(value, list) else [value]
        valid = statuses and all(_is_whole_number(status) and 100 <= status <= 599 for status in statuses)
        if not valid:
            table.report(
                "expect",
                f"must be an HTTP status (100 to 599) or a list of them, not {_describe(value)}",
                "e.g. expect = [200, 404]",
            )
            return None
        return frozenset(statuses)

    def _call_template(self, table: _Table) -> CallSpec | None:
        target = table.text("call", example='"tasks:count_primes"')
        args = table.array("args", example="[1, 2]")
        kwargs = table.table("kwargs", example="{ limit = 10 }")
        on, cluster = self._call_place(table)
        split = self._call_target(table, target) if target is not None else None
        if split is None:
            return None
        module, function = split
        if on != "dask":  # a Dask job's module need only exist on the workers, which check it before it runs
            self._check_module_findable(table, module)
        return CallSpec(
            module=module,
            function=function,
            args=tuple(args or ()),
            kwargs=kwargs or {},
            on=on,
            base_dir=self.folder,
            cluster=cluster,
        )

    def _call_place(self, table: _Table) -> tuple[str, str | None]:
        """Where the call runs, and for `on = "dask://host:port"` that scheduler's address."""
        on = table.raw("on")
        if on is _MISSING:
            return "process", None
        if isinstance(on, str) and on.startswith(DASK_INLINE):
            address, problem = scheduler_address(on.strip()[len(DASK_INLINE) :], schemes=())
            if problem is not None:
                table.report(
                    "on",
                    f"{on!r} is not a Dask scheduler address: {problem}",
                    'e.g. on = "dask://10.0.0.5:8786", or on = "dask" for the deck\'s cluster',
                )
            return "dask", address
        if on not in CALL_PLACES:
            hint = _did_you_mean(str(on).lower(), CALL_PLACES) if isinstance(on, str) else None
            places = '"process", "thread", "dask" or "dask://host:port"'
            table.report("on", f"must be {places}, not {_describe(on)}", hint)
            return "process", None
        return str(on), None

    def _call_target(self, table: _Table, target: str) -> tuple[str, str] | None:
        module, colon, function = target.strip().partition(":")
        if not colon:
            module, dot, function = target.strip().rpartition(".")
            hint = f'did you mean call = "{module}:{function}"?' if dot else 'e.g. call = "tasks:main"'
            table.report("call", f"must be written module:function, not {target!r}", hint)
            return None
        if not all(_IDENTIFIER.fullmatch(part) for part in module.split(".")):
            table.report("call", f"{module!r} is not a Python module name", 'e.g. call = "tasks:main"')
            return None
        if not _IDENTIFIER.fullmatch(function):
            table.report("call", f"{function!r} is not a Python function name", 'e.g. call = "tasks:main"')
            return None
        return module, function

    def _check_module_findable(self, table: _Table, module: str) -> None:
        """Find the module without importing any user code: beside the job file, or on the Python path."""
        top = module.split(".")[0]
        module_path = self.folder.joinpath(*module.split("."))
        beside = [module_path.with_suffix(".py"), module_path / "__init__.py", self.folder / top / "__init__.py"]
        if any(candidate.is_file() for candidate in beside) or _importable(top):
            return
        table.report(
            "call",
            f"module {module!r} not found beside the job file ({self.folder}) or on the Python path",
            _did_you_mean(top, self._python_files_beside()) or f"put {top}.py next to the job file",
        )

    def _python_files_beside(self) -> list[str]:
        try:
            return [child.stem for child in self.folder.iterdir() if child.suffix == ".py" or child.is_dir()]
        except OSError:
            return []

    def _shell_template(self, table: _Table) -> ShellSpec | None:
        command = table.text("shell", example='"make all"')
        return ShellSpec(command=command, cwd=self.folder) if command is not None else None

    # --- names, fan-out and after ---

    def _first_of_each_name(self, drafts: list[_Draft]) -> dict[str, _Draft]:
        named: dict[str, _Draft] = {}
        for draft in drafts:
            if draft.name is None:
                continue
            if draft.name in named:
                first = named[draft.name]
                where = f" on line {first.line}" if first.line is not None else ""
                draft.table.report(
                    "name", f"another job{where} is already named {draft.name!r}", "job names must be unique in a deck"
                )
                continue
            named[draft.name] = draft
        return named

    def _check_concrete_names(self, drafts: list[_Draft]) -> None:
        for draft in drafts:
            repeated = [name for name, count in Counter(draft.concrete_names()).items() if count > 1]
            if repeated:
                draft.table.report(
                    "each",
                    f"items give the same job name more than once: {', '.join(repeated)}",
                    "each item must be distinct",
                )

    def _resolve_all_after(self, named: Mapping[str, _Draft]) -> dict[str, list[str]]:
        groups = {name: draft.concrete_names() for name, draft in named.items() if draft.each is not None}
        items = [concrete for names in groups.values() for concrete in names]
        targets_of = {**{item: [item] for item in items}, **{name: [name] for name in named}, **groups}
        return {name: self._resolve_after(draft, targets_of) for name, draft in named.items()}

    def _resolve_after(self, draft: _Draft, targets_of: Mapping[str, list[str]]) -> list[str]:
        """The concrete names `draft` waits for; a fan-out name stands for all its items."""
        own = set(draft.concrete_names())
        resolved: dict[str, None] = {}  # ordered and without repeats
        for entry in draft.after:
            targets = targets_of.get(entry)
            if targets is None:
                hint = _did_you_mean(entry, targets_of) or f"known jobs: {_short(', '.join(targets_of))}"
                draft.table.report("after", f"there is no job named {entry!r}", hint)
            elif own.intersection(targets):
                draft.table.report("after", f"a job cannot wait for itself ({entry!r})", f"remove {entry!r} from after")
            else:
                resolved.update(dict.fromkeys(targets))
        return list(resolved)

    def _check_cycles(self, named: Mapping[str, _Draft], resolved_after: Mapping[str, list[str]]) -> None:
        group_of = {concrete: name for name, draft in named.items() for concrete in draft.concrete_names()}
        waits_for = {name: list(dict.fromkeys(group_of[target] for target in resolved_after[name])) for name in named}
        for cycle in _find_cycles(list(named), waits_for):
            first = named[cycle[0]]
            first.table.report(
                "after",
                f"jobs wait for each other in a circle: {' -> '.join([*cycle, cycle[0]])}",
                "remove one of these after entries",
            )

    def _fan_out(self, draft: _Draft, settings: Settings, resolved_after: Mapping[str, list[str]]) -> list[JobSpec]:
        if draft.template is None or draft.kind is None or draft.name is None:
            return []
        jobs: list[JobSpec] = []
        for name, item in draft.instances():
            work = self._work_for_item(draft.table, draft.template, item, settings.out_dir)
            if work is None:
                continue
            jobs.append(
                JobSpec(
                    name=name,
                    kind=draft.kind,
                    work=work,
                    after=tuple(resolved_after.get(draft.name, ())),
                    retries=draft.retries,
                    backoff=draft.backoff,
                    timeout=draft.timeout,
                    line=draft.line,
                    group=draft.name if draft.each is not None else None,
                    item=None if item is _MISSING else item,
                )
            )
        return jobs

    def _work_for_item(self, table: _Table, template: _Template, item: Any, out_dir: Path) -> WorkSpec | None:
        if isinstance(template, _FetchTemplate):
            return self._fetch_for_item(table, template, item, out_dir)
        if isinstance(template, CallSpec):
            return replace(
                template, args=tuple(_fill_value(list(template.args), item)), kwargs=_fill_value(template.kwargs, item)
            )
        command = _fill_text(template.command, item)
        if not command.strip():
            table.report("shell", "the command is empty for this item", "give each a non-empty value")
            return None
        return replace(template, command=command)

    def _fetch_for_item(self, table: _Table, template: _FetchTemplate, item: Any, out_dir: Path) -> FetchSpec | None:
        url = _fill_text(template.url, item)
        body = _fill_text(template.body, item) if template.body is not None else None
        headers = {name: _fill_text(value, item) for name, value in template.headers.items()}
        self._check_env_references(table, "fetch", url)
        self._check_env_references(table, "body", body or "")
        for value in headers.values():
            self._check_env_references(table, "headers", value)
        url_ok = self._check_url(table, url)
        save = self._save_path(table, _fill_text(template.save, item), out_dir) if template.save is not None else None
        if not url_ok or (template.save is not None and save is None):
            return None
        return FetchSpec(url=url, method=template.method, headers=headers, body=body, save=save, expect=template.expect)

    def _check_env_references(self, table: _Table, key: str, template: str) -> None:
        for name in env_references(template):
            if name not in self.environ:
                table.report(key, f"environment variable {name} is not set", f"export {name} before running jobdeck")

    def _check_url(self, table: _Table, url: str) -> bool:
        if any(name not in self.environ for name in env_references(url)):
            return True  # its shape is unknown until the variable is set, which is reported already
        # Variables are filled in only to check the URL's shape; messages show the template, never the values.
        problem = _url_problem(expand_env(url, self.environ).strip())
        if problem is None:
            return True
        table.report("fetch", f"{url!r} is not a valid URL: {problem}", _url_hint(url))
        return False

    def _save_path(self, table: _Table, save: str, out_dir: Path) -> Path | None:
        written = Path(save)
        if written.is_absolute() or save.startswith("~"):
            table.report("save", f"must be a path relative to out_dir ({out_dir}), not {save!r}", "drop the leading /")
            return None
        resolved = _absolute(out_dir / written)
        if resolved == out_dir:
            table.report(
                "save", f"must name a file inside out_dir ({out_dir}), not out_dir itself", 'e.g. save = "page.html"'
            )
            return None
        if not resolved.is_relative_to(out_dir):
            table.report(
                "save",
                f"{save!r} leads outside out_dir ({out_dir})",
                "keep save inside out_dir, or set out_dir in [deck]",
            )
            return None
        return resolved

    def _check_shared_save_paths(self, jobs: Sequence[JobSpec], named: Mapping[str, _Draft]) -> None:
        """Two fetches streaming into one file would garble it."""
        first_saver: dict[Path, JobSpec] = {}
        for job in jobs:
            if not isinstance(job.work, FetchSpec) or job.work.save is None:
                continue
            first = first_saver.setdefault(job.work.save, job)
            if first is job:
                continue
            same_fan_out = job.group is not None and job.group == first.group
            named[job.group or job.name].table.report(
                "save",
                f"saves to the same file as job {first.name!r}",
                "put {item} in save so each item gets its own file" if same_fan_out else None,
            )


def _or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _importable(top_level_name: str) -> bool:
    try:
        return importlib.util.find_spec(top_level_name) is not None
    except (ImportError, ValueError):
        return False


def _fill_text(text: str, item: Any) -> str:
    # str.replace, not str.format: shell commands and bodies are full of braces (awk '{print $1}', JSON).
    return text if item is _MISSING else text.replace(ITEM, _item_text(item))


def _fill_value(value: Any, item: Any) -> Any:
    """Substitute the item into call arguments; an argument that is exactly "{item}" gets the item itself."""
    if item is _MISSING:
        return value
    if isinstance(value, str):
        return item if value == ITEM else _fill_text(value, item)
    if isinstance(value, list):
        return [_fill_value(element, item) for element in value]
    if isinstance(value, dict):
        return {key: _fill_value(element, item) for key, element in value.items()}
    return value


def scheduler_address(text: str, *, schemes: Sequence[str] = SCHEDULER_SCHEMES) -> tuple[str | None, str | None]:
    """("tcp://host:port", None) for a Dask scheduler address, or (None, what is wrong with it).

    `host:port` alone means tcp; `schemes` are the ones that may be written (none after `dask://`).
    """
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "tcp", text
    elif scheme not in schemes:
        if not schemes:
            return None, "write only host:port after dask://"
        return None, f"{scheme}:// is not a scheduler protocol jobdeck can use (use {' or '.join(schemes)})"
    try:
        parts = urlsplit(f"{scheme}://{rest}")
        port = parts.port
    except ValueError:
        return None, "the port must be a number from 1 to 65535"
    if not parts.hostname or any(char.isspace() for char in rest):
        return None, "it has no host name" if not parts.hostname else "it contains a space"
    if port is None:
        return None, "it has no port (the scheduler's default is 8786)"
    if port == 0:
        return None, "the port must be a number from 1 to 65535"
    if parts.path or parts.query or parts.fragment:
        return None, "a scheduler address is only host:port"
    return f"{scheme}://{parts.netloc}", None


def _url_problem(url: str) -> str | None:
    # The fixed texts keep values from the environment out of messages.
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the host name is malformed"
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https"):
        return "it must start with http:// or https://"
    if not parts.hostname:
        return "it has no host name"
    if any(char.isspace() for char in parts.netloc):
        return "the host name contains a space"
    if not port_ok:
        return "the port must be a number from 1 to 65535"
    return None


def _url_hint(url: str) -> str:
    has_scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url) is not None
    if not has_scheme and not url.startswith(("$", "/")):
        return f"did you mean 'https://{url}'?"
    return 'write a full URL, e.g. fetch = "https://example.org/page"'


def _find_cycles(names: Sequence[str], waits_for: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The cycles a depth-first walk meets, each once, rotated to start at the earliest of `names`.

    Iterative, so a long chain of jobs cannot exhaust Python's recursion limit.
    """
    order = {name: position for position, name in enumerate(names)}
    finished: set[str] = set()
    seen: set[frozenset[str]] = set()
    cycles: list[list[str]] = []
    for start in names:
        if start in finished:
            continue
        path = [start]
        pending = [iter(waits_for.get(start, ()))]
        while pending:
            target = next(pending[-1], None)
            if target is None:
                finished.add(path.pop())
                pending.pop()
            elif target in path:
                cycle = path[path.index(target) :]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    first = min(range(len(cycle)), key=lambda position: order[cycle[position]])
                    cycles.append(cycle[first:] + cycle[:first])
            elif target not in finished:
                path.append(target)
                pending.append(iter(waits_for.get(target, ())))
    return cycles
