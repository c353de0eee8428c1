"""A fan-out whose items are another job's result (`each = { result_of = "list_pages" }`), as the deck holds it
until that job has succeeded: one job, named as the fan-out, that waits for it (runner.engine.expansion then
makes the members from the result and this job's parts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.deck.problems import Problems
from runner.deck.table import Table
from runner.deck.templates import MISSING_FIELD, env_references, field_value, item_fields
from runner.kinds.spec import DeckPlace, KindSpec
from runner.model import FanOut, FetchSpec, JobSpec, WorkSpec

EXPANDED_KEYS = ("fetch", "headers", "body")
"""The keys whose `${VAR}`s jobdeck expands when it sends the request (a shell expands its own)."""
MakeWork = Callable[[Any], WorkSpec | str]
"""An item's work, or what is wrong with the item (a field it lacks, a URL that is no URL)."""


@dataclass(frozen=True)
class PendingFanOut(JobSpec):
    """The stand-in of a fan-out from a result. Its `after` is what it waits for before it can be expanded (the
    job whose result gives the items, and the other fan-outs from results it names); `entries` and `item_after`
    are its `after` as written, for its members."""

    source: str = ""
    """The job whose result gives the items."""
    fan_out: FanOut | None = field(default=None, compare=False)
    """What the members share; its `after` is left empty: each member's is made when the items are known."""
    entries: tuple[str, ...] = ()
    """Whole-job names of its `after` (a fan-out's name means all its members)."""
    item_after: tuple[str, ...] = ()
    """Per-item names of its `after` (`get[{item}]`)."""
    make_work: MakeWork | None = field(default=None, compare=False, repr=False)


def pending_fan_out(
    source: str,
    fan_out: FanOut,
    after: tuple[str, ...],
    entries: list[str],
    item_after: list[str],
    kind: KindSpec[Any, Any],
    table: Table,
    place: DeckPlace,
) -> PendingFanOut:
    template = fan_out.template
    texts = list(kind.template_texts(template))
    fields = [name for text in texts for name in item_fields(text.text)]
    for text in texts:  # what jobdeck itself expands (a URL, headers, a body): checked now, not when the items come
        if text.key in EXPANDED_KEYS:
            for variable in env_references(text.text):
                if variable not in place.environ:
                    table.report(
                        text.key,
                        f"environment variable {variable} is not set",
                        f"export {variable} before running jobdeck",
                    )

    def make_work(item: Any) -> WorkSpec | str:
        for name in fields:
            if field_value(item, name) is MISSING_FIELD:
                what = "is not a table" if not isinstance(item, dict) else f"has no field {name!r}"
                return f"{{item.{name}}}: the item {item!r} {what}"
        problems = Problems(table.problems.path)
        work = kind.for_item(template, item, Table(table.data, problems, table.block, table.job), place)
        if work is None:
            if not problems.items:
                return f"the item {item!r} makes no job"
            first = problems.items[0]
            return f"{first.key}: {first.message}" if first.key else first.message
        return work

    return PendingFanOut(
        name=fan_out.name,
        kind=fan_out.kind,
        work=_outline(template),
        after=after,
        retries=fan_out.retries,
        backoff=fan_out.backoff,
        timeout=fan_out.timeout,
        line=fan_out.line,
        log_limit_mb=fan_out.log_limit_mb,
        source=source,
        fan_out=fan_out,
        entries=tuple(entries),
        item_after=tuple(item_after),
        make_work=make_work,
    )


def _outline(template: Any) -> WorkSpec:
    """The fan-out's work as written, for the detail view until its items are known."""
    if isinstance(template, WorkSpec):
        return template
    return FetchSpec(
        url=template.url, method=template.method, headers=template.headers, body=template.body, expect=template.expect
    )
