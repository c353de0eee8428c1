"""A job file in, a checked `Deck` out, with every problem reported at its table's line (`load_deck`).

The `[[job]]` keys every job has (name, after, retries, backoff, timeout, each) are read here; the keys of
each kind are read by that kind (runner.kinds.registry), first once per table, then once per fan-out item.
"""

from __future__ import annotations

import gc
import os
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from runner.deck.cycles import find_cycles
from runner.deck.durations import NO_TIMEOUT, duration
from runner.deck.each_sources import ResultOf, check_item_fields, read_each
from runner.deck.item_chains import ItemChains, check_result_of, is_per_item, resolve_item_after
from runner.deck.job_environment import read_deck_environment
from runner.deck.lines import Lines
from runner.deck.lookalikes import JOB_LOOKALIKES, Renamed, lookalike_hint
from runner.deck.pending_fan_out import pending_fan_out
from runner.deck.policies import JOB_POLICY_KEYS, hook_command, run_if
from runner.deck.problems import Problems, did_you_mean, toml_syntax_problem
from runner.deck.reading import absolute, read_job_file
from runner.deck.settings import DECK_KEYS, log_limit, read_settings
from runner.deck.table import MISSING, Table, describe, short
from runner.deck.templates import NO_ITEM, TemplateText, item_fields, item_text, placeholder_problems
from runner.deck.toml_parsing import parse_toml
from runner.errors import DeckError, Problem, describe_error
from runner.kinds.registry import KIND_SPECS
from runner.kinds.spec import DeckPlace, ItemsChecked, KindSpec, WrittenFile
from runner.model import Deck, FanOut, JobSpec, Kind, MemberSpec, Settings, WorkSpec, replaced
from runner.policies import RunIf
from runner.spelling import closest

TOP_LEVEL_KEYS = ("deck", "job")
COMMON_JOB_KEYS = ("name", "after", "retries", "backoff", "timeout", "each", "log_limit_mb", *JOB_POLICY_KEYS)
KIND_KEYS: dict[Kind, tuple[str, ...]] = {kind: spec.keys for kind, spec in KIND_SPECS.items()}
ALL_JOB_KEYS = COMMON_JOB_KEYS + tuple(dict.fromkeys(key for keys in KIND_KEYS.values() for key in keys))
KIND_OF_KEY = {
    key: " and ".join(kind for kind, keys in KIND_KEYS.items() if key in keys)
    for key in ALL_JOB_KEYS[len(COMMON_JOB_KEYS) :]
}
"""The kinds a kind's key applies to, for messages: "call and shell" for env."""
FORBIDDEN_NAME_CHARS = ("/", "[", "]")
KIND_BY_KEY = {kind.value: spec for kind, spec in KIND_SPECS.items()}
VALID_KEY_SETS: dict[Kind | None, frozenset[str]] = {
    None: frozenset(ALL_JOB_KEYS),
    **{kind: frozenset(COMMON_JOB_KEYS + keys) for kind, keys in KIND_KEYS.items()},
}
"""The keys a job of each kind may have (None: of a job whose kind is unknown), to test a table at once."""


def _one_of(examples: Sequence[str]) -> str:
    return ", ".join(examples[:-1]) + " or " + examples[-1] if len(examples) > 1 else examples[0]


ONE_OF_THE_KINDS = _one_of([spec.example for spec in KIND_SPECS.values()])
"""'fetch = "URL", call = "module:function" or shell = "command"', for messages."""


def load_deck(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Deck:
    """Read and check the job file at `path`; raises DeckError listing every problem found."""
    file_path = absolute(Path(path))
    with _bugs_as_problems(file_path):
        text = read_job_file(file_path)
    return parse_deck(text, file_path, environ=environ)


@dataclass(frozen=True)
class DeckCheck:
    """What `jobdeck check` says of a good job file: its deck's name, how many jobs and of which kinds."""

    name: str
    path: Path
    jobs: int
    kinds: frozenset[Kind]


def check_deck(path: str | Path, *, environ: Mapping[str, str] | None = None) -> DeckCheck:
    """Read and check the job file at `path` as `load_deck` does, with the same problems, without making each
    fan-out member's spec: a 1,000,000-item fan-out is checked in a fraction of the time and memory."""
    file_path = absolute(Path(path))
    problems = Problems(file_path)
    with _bugs_as_problems(file_path):
        text = read_job_file(file_path)
    with _bugs_as_problems(file_path), _collector_paused():
        checked = DeckParser(text, file_path, os.environ if environ is None else environ, problems).check()
    problems.raise_if_any()
    assert checked is not None
    return checked


def parse_deck(text: str, path: Path, *, environ: Mapping[str, str] | None = None) -> Deck:
    """Check the text of a job file that lives at `path`; raises DeckError listing every problem found."""
    path = absolute(path)
    problems = Problems(path)
    with _bugs_as_problems(path), _collector_paused():
        deck = DeckParser(text, path, os.environ if environ is None else environ, problems).parse()
    problems.raise_if_any()
    assert deck is not None
    return deck


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a deck loads.

    A big deck makes hundreds of thousands of objects that all live on; each collection would walk all of them
    again, which cost a third of a 100,000-item fan-out's load. Whatever a load leaves is collected after it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _bugs_as_problems(path: Path) -> Iterator[None]:
    """Even a bug in the loader must reach the user as a message, never as a traceback."""
    try:
        yield
    except DeckError:
        raise
    except Exception as exc:
        message = f"could not load the job file: {describe_error(exc)}"
        hint = "this is a bug in jobdeck; please report it with the job file"
        raise DeckError([Problem(path, message, hint=hint)]) from exc


@dataclass
class _Draft:
    """One `[[job]]` table, checked, before fan-out and before `after` is resolved."""

    table: Table
    name: str | None
    kind: KindSpec[Any, Any] | None
    template: Any
    """What the kind read from the table (None if it found the table bad)."""
    after: list[str]
    retries: int
    backoff: float
    timeout: float
    each: list[Any] | None
    log_limit_mb: float
    result_of: str | None = None
    """`each = { result_of = "job" }`: the items come from that job's result when it succeeds."""
    item_after: list[str] | None = None
    """The entries of `after` that name one member per item (`get[{item}]`), as written."""
    run_if: RunIf | None = None
    on_failure: str | None = None

    @property
    def line(self) -> int | None:
        return self.table.block.line

    @cached_property
    def item_texts(self) -> list[str]:
        """Each item as names and filled-in text show it (empty without `each`)."""
        if self.each is None:
            return []
        if not set(map(type, self.each)).isdisjoint((bool, dict)):
            return [item_text(item) for item in self.each]
        return list(map(str, self.each))  # the same, at C speed, when no item is a boolean

    @cached_property
    def concrete_names(self) -> list[str]:
        if self.name is None:
            return []
        if self.each is None:  # a single job, or a fan-out from a result, which is one job until it succeeds
            return [self.name]
        name = self.name
        return [f"{name}[{text}]" for text in self.item_texts]


class DeckParser:
    def __init__(self, text: str, path: Path, environ: Mapping[str, str], problems: Problems) -> None:
        self.text = text
        self.path = path
        self.folder = path.parent
        self.environ = environ
        self.problems = problems
        self.lines = Lines(text)
        self._single_job: JobSpec | None = None
        """The first job without `each`, which the others are copied from."""

    def parse(self) -> Deck | None:
        prepared = self._prepare()
        if prepared is None:
            return None
        settings, place, drafts, named, resolved_after, chains = prepared
        if any(draft.run_if is not None for draft in drafts):
            settings = replaced(settings, run_if_jobs=True)
        jobs = [job for draft in drafts for job in self._fan_out(draft, resolved_after, place, chains)]
        self._check_shared_files(jobs, named)
        if self.problems.items:
            return None
        return Deck(name=settings.name, path=self.path, settings=settings, jobs=tuple(jobs))

    def check(self) -> DeckCheck | None:
        """Every check `parse` makes, without making each fan-out member's spec (see KindSpec.check_items)."""
        prepared = self._prepare()
        if prepared is None:
            return None
        settings, place, drafts, named, resolved_after, chains = prepared
        count = 0
        kinds: set[Kind] = set()
        writes: list[tuple[WrittenFile, str, str | None]] = []
        fan_outs: list[tuple[_Draft, ItemsChecked]] = []
        for draft in drafts:
            if draft.each is None or draft.kind is None or draft.template is None or draft.name is None:
                for job in self._fan_out(draft, resolved_after, place, chains):
                    count += 1
                    kinds.add(job.kind)
                    written = KIND_SPECS[job.kind].written_file(job.work)
                    if written is not None:
                        writes.append((written, job.name, None))
                continue
            checked = draft.kind.check_items(draft.template, draft.each, draft.item_texts, draft.table, place)
            count += checked.good
            if checked.good:
                kinds.add(draft.kind.kind)
            fan_outs.append((draft, checked))
        if writes or len(fan_outs) > 1 or any(not checked.distinct for _, checked in fan_outs):
            for draft, checked in fan_outs:
                texts, name = draft.item_texts, draft.name
                writes.extend((written, f"{name}[{texts[index]}]", name) for index, written in checked.files())
            self._report_shared_files(writes, named)
        if self.problems.items:
            return None
        return DeckCheck(name=settings.name, path=self.path, jobs=count, kinds=frozenset(kinds))

    def _prepare(
        self,
    ) -> tuple[Settings, DeckPlace, list[_Draft], dict[str, _Draft], dict[str, list[str]], ItemChains] | None:
        """The file read and its tables checked, up to the fan-out: None when its TOML is bad."""
        try:
            data = parse_toml(self.text)
        except tomllib.TOMLDecodeError as exc:
            self.problems.items.append(toml_syntax_problem(exc, self.text, self.path))
            return None
        top = Table(data, self.problems, self.lines.top, job=None)
        self._refuse_unknown_top_level_keys(top)
        settings = read_settings(top, self.lines.deck, self.path)
        defaults = read_deck_environment(top, self.lines.deck, self.folder, self.environ)
        place = DeckPlace(folder=self.folder, out_dir=settings.out_dir, environ=self.environ, defaults=defaults)
        drafts = [self._draft(index, table, settings, place) for index, table in enumerate(self._job_tables(top))]
        named = self._first_of_each_name(drafts)
        self._check_concrete_names(drafts)
        check_result_of(named)
        resolved_after = self._resolve_all_after(named)
        chains = resolve_item_after(named)
        self._check_cycles(named, resolved_after, chains)
        return settings, place, drafts, named, resolved_after, chains

    def _refuse_unknown_top_level_keys(self, top: Table) -> None:
        for key in top.data:
            if key in TOP_LEVEL_KEYS:
                continue
            if key in DECK_KEYS:
                hint = "put it under the [deck] header"
            elif key in ALL_JOB_KEYS:
                hint = "put it under a [[job]] header"
            else:
                hint = did_you_mean(key, TOP_LEVEL_KEYS) or "a job file has only [deck] and [[job]] tables"
            top.report(key, "unknown table or key at the top of the job file", hint)

    # --- [[job]] tables ---

    def _job_tables(self, top: Table) -> list[Mapping[str, Any]]:
        raw = top.raw("job")
        if raw is MISSING or raw == []:
            self.problems.add(
                "the deck has no jobs", hint=f"add a [[job]] table with a name and one of {ONE_OF_THE_KINDS}"
            )
            return []
        if isinstance(raw, dict):
            top.report("job", "each job must be a [[job]] table (double brackets), not a single [job] table")
            return []
        if not isinstance(raw, list):
            top.report("job", f"must be a list of [[job]] tables, not {describe(raw)}", "write [[job]] for each job")
            return []
        tables: list[Mapping[str, Any]] = []
        for index, entry in enumerate(raw):
            if isinstance(entry, dict):
                tables.append(entry)
            else:
                self.problems.add(
                    f"job #{index + 1} must be a table, not {describe(entry)}",
                    line=self.lines.top.line_of("job"),
                    key="job",
                    hint="write [[job]] followed by its keys",
                )
        return tables

    def _draft(self, index: int, data: Mapping[str, Any], settings: Settings, place: DeckPlace) -> _Draft:
        table = Table(data, self.problems, self.lines.job(index), job=f"#{index + 1}")
        name = self._job_name(table)
        table.job = name or table.job  # later problems name the job
        kind = self._job_kind(table)
        if not data.keys() <= VALID_KEY_SETS[kind.kind if kind is not None else None]:
            self._refuse_keys(table, kind)
        template = kind.read(table, place) if kind is not None else None
        each = read_each(table, self.folder) if "each" in data else None
        result_of = each.job if isinstance(each, ResultOf) else None
        items = each if isinstance(each, list) else None
        if template is not None and kind is not None:
            texts = list(kind.template_texts(template))
            tables = result_of is not None or (items is not None and dict in set(map(type, items)))
            _check_placeholders(table, texts, in_fan_out="each" in data, tables=tables)
            if tables and items is not None:
                fields = {text.key: item_fields(text.text) for text in texts if "{item." in text.text}
                if fields and not check_item_fields(table, items, fields):
                    template = None
        after = self._after_names(table) if "after" in data else []
        item_after = [entry for entry in after if is_per_item(entry)]
        if item_after:
            after = [entry for entry in after if not is_per_item(entry)]
            if "each" not in data:
                table.report(
                    "after",
                    f"{item_after[0]!r} names one job per item, and this job has no each",
                    "add each to wait item by item, or name the whole fan-out (without [...])",
                )
                item_after = []
        # Getters only for keys the table has: a 100,000-table deck is mostly defaults.
        return _Draft(
            table=table,
            name=name,
            kind=kind,
            template=template,
            after=after,
            retries=_or_default(table.whole_number("retries", minimum=0), settings.retries)
            if "retries" in data
            else settings.retries,
            backoff=_or_default(duration(table, "backoff"), settings.backoff)
            if "backoff" in data
            else settings.backoff,
            timeout=_or_default(duration(table, "timeout", hint=NO_TIMEOUT), settings.timeout)
            if "timeout" in data
            else settings.timeout,
            each=items,
            log_limit_mb=_or_default(log_limit(table), settings.log_limit_mb)
            if "log_limit_mb" in data
            else settings.log_limit_mb,
            result_of=result_of,
            item_after=item_after or None,
            run_if=run_if(table) if "run_if" in data else None,
            on_failure=hook_command(table, "on_failure") if "on_failure" in data else None,
        )

    def _refuse_keys(self, table: Table, kind: KindSpec[Any, Any] | None) -> None:
        valid_keys = ALL_JOB_KEYS if kind is None else COMMON_JOB_KEYS + kind.keys
        for key in table.data:
            if key not in ALL_JOB_KEYS:
                listing = f"valid keys{f' for a {kind.kind} job' if kind else ''} are: {', '.join(valid_keys)}"
                hint = _unknown_key_hint(key, table.data[key], kind, table)
                table.report(key, "unknown key in [[job]]", hint or listing)
            elif key not in valid_keys:
                assert kind is not None
                table.report(
                    key, f"key {key!r} applies only to {KIND_OF_KEY[key]} jobs, not to {kind.kind} jobs", "remove it"
                )

    def _job_name(self, table: Table) -> str | None:
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

    def _job_kind(self, table: Table) -> KindSpec[Any, Any] | None:
        kinds = [KIND_BY_KEY[key] for key in table.data if key in KIND_BY_KEY]
        if not kinds:
            if not any(map(_meant_kind, table.data)):
                table.report(None, "the job has nothing to do", f"give it exactly one of {ONE_OF_THE_KINDS}")
            # else the unknown key's own problem says which kind it meant, which says more
            return None
        if len(kinds) > 1:
            written = " and ".join(repr(kind.kind.value) for kind in kinds)
            table.report(
                kinds[1].kind.value,
                f"a job does exactly one thing, but this one has {written}",
                "split it into separate jobs and order them with after",
            )
            return None
        return kinds[0]

    def _after_names(self, table: Table) -> list[str]:
        value = table.raw("after")
        if value is MISSING:
            return []
        if isinstance(value, str):
            table.report("after", "must be a list of job names, not a string", f'write after = ["{value}"]')
            return []
        if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
            table.report("after", f"must be a list of job names, not {describe(value)}", 'e.g. after = ["build"]')
            return []
        return list(dict.fromkeys(value))

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
            # A name is `name[text]`: names repeat exactly when item texts do (and the texts are at hand).
            if draft.each is None or len(set(draft.item_texts)) == len(draft.item_texts):
                continue  # nothing repeated
            repeated = [name for name, count in Counter(draft.concrete_names).items() if count > 1]
            if repeated:
                draft.table.report(
                    "each",
                    f"items give the same job name more than once: {', '.join(repeated)}",
                    "each item must be distinct",
                )

    def _resolve_all_after(self, named: Mapping[str, _Draft]) -> dict[str, list[str]]:
        if not any(draft.after for draft in named.values()):
            return {name: [] for name in named}  # no job waits: skip the map of every concrete name
        groups = {name: draft.concrete_names for name, draft in named.items() if draft.each is not None}
        items = [concrete for names in groups.values() for concrete in names]
        targets_of = {**{item: [item] for item in items}, **{name: [name] for name in named}, **groups}
        return {name: self._resolve_after(draft, targets_of) for name, draft in named.items()}

    def _resolve_after(self, draft: _Draft, targets_of: Mapping[str, list[str]]) -> list[str]:
        """The concrete names `draft` waits for; a fan-out name stands for all its items."""
        if not draft.after:
            return []
        own = set(draft.concrete_names)
        resolved: dict[str, None] = {}  # ordered and without repeats
        for entry in draft.after:
            targets = targets_of.get(entry)
            if targets is None:
                hint = did_you_mean(entry, targets_of) or f"known jobs: {short(', '.join(targets_of))}"
                draft.table.report("after", f"there is no job named {entry!r}", hint)
            elif own.intersection(targets):
                draft.table.report("after", f"a job cannot wait for itself ({entry!r})", f"remove {entry!r} from after")
            else:
                resolved.update(dict.fromkeys(targets))
        return list(resolved)

    def _check_cycles(
        self, named: Mapping[str, _Draft], resolved_after: Mapping[str, list[str]], chains: ItemChains
    ) -> None:
        waiting = {name: targets for name, targets in resolved_after.items() if targets}
        if not waiting and not chains.groups:
            return
        group_of = {concrete: name for name, draft in named.items() for concrete in draft.concrete_names}
        waits_for = {
            name: list(dict.fromkeys(group_of[target] for target in targets)) for name, targets in waiting.items()
        }
        for name, groups in chains.groups.items():  # per-item waits and fan-outs from results
            waits_for[name] = list(dict.fromkeys([*waits_for.get(name, []), *groups]))
        for cycle in find_cycles(list(named), waits_for):
            first = named[cycle[0]]
            first.table.report(
                "after",
                f"jobs wait for each other in a circle: {' -> '.join([*cycle, cycle[0]])}",
                "remove one of these after entries",
            )

    def _fan_out(
        self, draft: _Draft, resolved_after: Mapping[str, list[str]], place: DeckPlace, chains: ItemChains
    ) -> list[JobSpec]:
        if draft.template is None or draft.kind is None or draft.name is None:
            return []
        kind, table, template = draft.kind, draft.table, draft.template
        after = tuple(resolved_after.get(draft.name, ()))
        if draft.result_of is not None:
            fan_out = self._fan_out_of(draft, (), kind)
            pending_after = chains.pending_after.get(draft.name, (draft.result_of,))
            entries, item_after = draft.after, draft.item_after or []
            return [pending_fan_out(draft.result_of, fan_out, pending_after, entries, item_after, kind, table, place)]
        if draft.each is None:
            work = kind.for_item(template, NO_ITEM, table, place)
            return [] if work is None else [self._single_job_spec(draft, draft.name, work, after)]
        fan_out = self._fan_out_of(draft, after, kind)
        member_after = chains.member_after.get(draft.name)
        if kind.refills:  # each member's work is made when it runs: here its items are only checked
            checked = kind.check_items(template, draft.each, draft.item_texts, table, place)
            if checked.good < len(draft.each):
                return []  # the problems are reported: the deck is not loaded
            members: list[JobSpec] = [MemberSpec(fan_out, item, None) for item in draft.each]
        else:
            works = kind.for_items(template, draft.each, draft.item_texts, table, place)
            members = [
                MemberSpec(fan_out, item, work)
                for item, work in zip(draft.each, works, strict=True)
                if work is not None
            ]
        if member_after is None:
            return members
        # Each member waits for its own upstream members besides what the whole fan-out waits for.
        return [member.with_after((*after, *member_after.get(member.name, ()))) for member in members]

    @staticmethod
    def _fan_out_of(draft: _Draft, after: tuple[str, ...], kind: KindSpec[Any, Any]) -> FanOut:
        assert draft.name is not None
        return FanOut(
            name=draft.name,
            kind=kind.kind,
            after=after,
            retries=draft.retries,
            backoff=draft.backoff,
            timeout=draft.timeout,
            line=draft.line,
            template=draft.template,
            refill=kind.refill if kind.refills else None,
            log_limit_mb=draft.log_limit_mb,
            run_if=draft.run_if,
            on_failure=draft.on_failure,
        )

    def _single_job_spec(self, draft: _Draft, name: str, work: WorkSpec, after: tuple[str, ...]) -> JobSpec:
        kind = draft.kind
        assert kind is not None
        if self._single_job is None:
            self._single_job = self._job_spec(draft, name, work, after)
            return self._single_job
        # Every field set: a copy of the first is the JobSpec the constructor would make, made faster.
        return replaced(
            self._single_job,
            name=name,
            kind=kind.kind,
            work=work,
            after=after,
            retries=draft.retries,
            backoff=draft.backoff,
            timeout=draft.timeout,
            line=draft.line,
            log_limit_mb=draft.log_limit_mb,
            run_if=draft.run_if,
            on_failure=draft.on_failure,
        )

    @staticmethod
    def _job_spec(draft: _Draft, name: str, work: WorkSpec, after: tuple[str, ...]) -> JobSpec:
        kind = draft.kind
        assert kind is not None
        return JobSpec(
            name=name,
            kind=kind.kind,
            work=work,
            after=after,
            retries=draft.retries,
            backoff=draft.backoff,
            timeout=draft.timeout,
            line=draft.line,
            log_limit_mb=draft.log_limit_mb,
            run_if=draft.run_if,
            on_failure=draft.on_failure,
        )

    def _check_shared_files(self, jobs: Sequence[JobSpec], named: Mapping[str, _Draft]) -> None:
        """Two jobs writing one file would garble it."""
        writes = []
        for job in jobs:
            kind = KIND_SPECS[job.kind]
            if not kind.writes_files:
                continue
            written = kind.written_file(job.work)
            if written is not None:
                writes.append((written, job.name, job.group))
        self._report_shared_files(writes, named)

    @staticmethod
    def _report_shared_files(
        writes: Iterable[tuple[WrittenFile, str, str | None]], named: Mapping[str, _Draft]
    ) -> None:
        """`writes`: (the file, the job's name, its fan-out's name) of each job that writes a file."""
        first_writer: dict[Path, tuple[str, str | None]] = {}
        for written, name, group in writes:
            first = first_writer.setdefault(written.path, (name, group))
            if first[0] == name:
                continue
            same_fan_out = group is not None and group == first[1]
            named[group or name].table.report(
                written.key,
                f"saves to the same file as job {first[0]!r}",
                f"put {{item}} in {written.key} so each item gets its own file" if same_fan_out else None,
            )


def _check_placeholders(table: Table, texts: Iterable[TemplateText], *, in_fan_out: bool, tables: bool = False) -> None:
    """Placeholders that would not be filled in (a misspelt {item}, {item} without each), once per table."""
    for text in texts:
        for message, hint in placeholder_problems(text, in_fan_out=in_fan_out, tables=tables):
            table.report(text.key, message, hint)


def _unknown_key_hint(key: str, value: Any, kind: KindSpec[Any, Any] | None, table: Table) -> str | None:
    """What a key jobdeck does not know was probably meant to be: a lookalike from another tool (of the job's
    kind first, or of the kind another of its keys seems to mean), else a key a slip of the keyboard away."""
    if kind is None:
        kind = next(filter(None, map(_meant_kind, table.data)), None)
    lookalikes = [kind.lookalikes] if kind is not None else []
    lookalikes += [JOB_LOOKALIKES, *(spec.lookalikes for spec in KIND_SPECS.values() if spec is not kind)]
    for known in lookalikes:
        hint = lookalike_hint(key, value, known)
        if hint is not None:
            return hint
    valid_keys = ALL_JOB_KEYS if kind is None else COMMON_JOB_KEYS + kind.keys
    return did_you_mean(key, valid_keys)


def _meant_kind(key: str) -> KindSpec[Any, Any] | None:
    """The kind an unknown key was probably meant to name (`fetchh`, `command`), if any."""
    if key in ALL_JOB_KEYS:
        return None
    near = closest(key, KIND_BY_KEY)
    if near is not None:
        return KIND_BY_KEY[near]
    for spec in KIND_SPECS.values():
        lookalike = spec.lookalikes.get(key.casefold())
        if isinstance(lookalike, Renamed) and lookalike.key == spec.kind.value:
            return spec
    return None


def _or_default(value: Any, default: Any) -> Any:
    return default if value is None else value
