"""The spec side of a job kind: its TOML keys, how they are checked, filled in per fan-out item and shown.

A kind comes in two halves. `KindSpec` (here) is light: it reads and checks a `[[job]]` table at load time and
says what to show of a spec, without importing what runs the work (httpx, worker processes). `JobKind`
(runner.kinds.base) runs attempts; `KindSpec.runner` makes one, importing it only then. A new kind is one
module with both (or a `<kind>_spec.py` beside a heavy `<kind>.py`) plus its line in runner.kinds.registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from runner.deck.job_environment import NO_ENVIRONMENT, JobEnvironment
from runner.deck.lookalikes import Lookalike
from runner.deck.table import Table
from runner.deck.templates import TemplateText
from runner.model import Kind, WorkSpec

if TYPE_CHECKING:
    from runner.kinds.base import JobKind

TemplateT = TypeVar("TemplateT")
WorkT = TypeVar("WorkT", bound=WorkSpec)


@dataclass
class DeckPlace:
    """What a kind may need to know of the deck a job comes from while it checks the job."""

    folder: Path
    """The job file's folder."""
    out_dir: Path
    """Where files the jobs write are rooted (absolute, resolved)."""
    environ: Mapping[str, str]
    """The environment `${VAR}` references are checked against."""
    defaults: JobEnvironment = NO_ENVIRONMENT
    """The `[deck]` table's `env` and `cwd`, which each shell and call job's own are read over."""
    memo: dict[Any, Any] = field(default_factory=dict)
    """Answers a kind may keep for the rest of this one load (e.g. that a module is findable)."""


@dataclass(frozen=True)
class WrittenFile:
    """A file a job writes, and the key that names it: two jobs writing one file would garble it."""

    key: str
    path: Path


@dataclass(frozen=True)
class ItemsChecked:
    """A fan-out's items, checked (KindSpec.check_items)."""

    good: int
    """How many items have no problem."""
    files: Callable[[], list[tuple[int, WrittenFile]]] = list
    """The file each good item writes, by the item's index; asked for only when another job writes files too."""
    distinct: bool = True
    """No two items write one file (so `files` is needed only to compare with other jobs' files)."""


class KindSpec(Generic[TemplateT, WorkT]):
    """One job kind as a job file writes it. Subclasses set the class attributes and the methods below.

    Reading happens in two steps so that a fan-out of many items is checked fast: `read` checks the table once
    and returns a template (or None after reporting its problems on the table), then `for_item` makes the
    spec of each item from it, checking only what the item can change.
    """

    kind: Kind
    """The key that names the kind's work (`fetch = ...`); also the first of `keys`."""
    keys: tuple[str, ...]
    """Every `[[job]]` key this kind reads, its own name first."""
    example: str
    """How a job of this kind starts, for messages: 'fetch = "URL"'."""
    lookalikes: Mapping[str, Lookalike] = {}
    """Keys other tools use for what this kind's keys do (`url` for `fetch`), and what to write instead."""

    def read(self, table: Table, place: DeckPlace) -> TemplateT | None:
        raise NotImplementedError

    def template_texts(self, template: TemplateT) -> Iterable[TemplateText]:
        """The texts of a template that `{item}` is filled into, checked once per table for placeholders that
        would not be filled in (runner.deck.templates.placeholder_problems)."""
        return ()

    def for_item(self, template: TemplateT, item: Any, table: Table, place: DeckPlace) -> WorkT | None:
        """The spec of one job of the template; `item` is runner.deck.templates.NO_ITEM outside a fan-out."""
        raise NotImplementedError

    def for_items(
        self, template: TemplateT, items: Sequence[Any], texts: Sequence[str], table: Table, place: DeckPlace
    ) -> list[WorkT | None]:
        """The specs of a fan-out's items (None for an item with problems); `texts[i]` is `items[i]` as text.

        A kind may make them faster than one `for_item` call each, with the same specs and messages.
        """
        return [self.for_item(template, item, table, place) for item in items]

    refills: bool = False
    """Whether `refill` can make a fan-out item's work: then a fan-out member holds its work spec only while an
    attempt runs (runner.model.MemberSpec), and the parser makes no member's work at load."""
    writes_files: bool = False
    """Whether `written_file` can name a file (the parser then compares the files of every job)."""

    def refill(self, template: TemplateT, item: Any) -> WorkT:
        """An item's work made from the template, without checks: the spec `for_item` makes for an item that
        `check_items` passed. Only for a kind that `refills`: what it returns must depend on nothing but the
        template and the item."""
        raise NotImplementedError

    def check_items(
        self, template: TemplateT, items: Sequence[Any], texts: Sequence[str], table: Table, place: DeckPlace
    ) -> ItemsChecked:
        """What `jobdeck check` needs of a fan-out: report the problems `for_items` would, and say how many items
        are good and which files they write. A kind may do it without making the specs (a million of them cost
        seconds and hundreds of megabytes)."""
        specs = self.for_items(template, items, texts, table, place)
        files = []
        for index, spec in enumerate(specs):
            written = self.written_file(spec) if spec is not None else None
            if written is not None:
                files.append((index, written))
        return ItemsChecked(sum(spec is not None for spec in specs), lambda: files, distinct=False)

    def written_file(self, work: WorkT) -> WrittenFile | None:
        return None

    def target(self, work: WorkT) -> str:
        """One short line that says what the job works on (a URL, a function, a command)."""
        raise NotImplementedError

    def summary_lines(self, work: WorkT) -> Iterable[tuple[str, str]]:
        """The detail view's (key, value) lines of this kind's part of a spec, secrets redacted."""
        raise NotImplementedError

    def sent_lines(self, work: WorkT, environ: Mapping[str, str]) -> dict[str, str]:
        """Those of `summary_lines` that say something else once `environ` fills in their `${VAR}`s (what a
        request really goes to, say), by key, with that value, redacted like the line (not yet masked)."""
        return {}

    def wire_fields(self, work: WorkT) -> dict[str, Any]:
        """This kind's part of a job's spec as the server sends it to clients (plain JSON values)."""
        raise NotImplementedError

    def runner(self) -> JobKind:
        """A new JobKind that runs this kind's jobs, for an engine."""
        raise NotImplementedError
