"""Expanding a fan-out from a result (`each = { result_of = "list_pages" }`) once that job has succeeded: its
items read from the result, and the members' specs made from them (the engine adds them to the deck).

A call job's result must be a list; a shell job's standard output must be a JSON list, or JSON values one a
line (blank lines skipped). Anything else fails the fan-out's stand-in with a message saying what was found.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from runner.deck.pending_fan_out import PendingFanOut
from runner.deck.templates import fill_text
from runner.model import Job, JobSpec, Kind, MemberSpec, item_text
from runner.stored_results import is_stored_result, read_stored_result

EXPANDED = "items"
"""The key of the stand-in's result that keeps the items (a restarted server expands the fan-out again from it)."""


class ExpansionError(Exception):
    """Why a fan-out from a result cannot be expanded: the message its stand-in fails with."""


def waiting_note(job: Job, waiting_for: str, more: int) -> str:
    """What a job that waits says in the panes and in `status`."""
    spec = job.spec
    if isinstance(spec, PendingFanOut) and waiting_for == spec.source:
        return f"waiting for {possessive(spec.source)} result"
    return f"waiting for {waiting_for}" + (f" and {more} more" if more else "")


def possessive(name: str) -> str:
    """`list's`, `list_pages'`."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def items_of(source: Job) -> list[Any]:
    """The items the succeeded job `source` gives. ExpansionError when it gives none that can be used."""
    if source.kind is Kind.SHELL:
        return _printed_items(source)
    result = source.result
    if is_stored_result(result):
        try:
            result = read_stored_result(result)
        except (OSError, ValueError) as failed:
            raise ExpansionError(f"cannot read {possessive(source.name)} result again: {failed}") from None
    if not isinstance(result, list):
        whose, found = possessive(source.name), _described(result)
        raise ExpansionError(f"{whose} result is not a list but {found}: each = {{ result_of }} needs a list")
    return result


def _printed_items(source: Job) -> list[Any]:
    tail = [line.text for line in source.output if line.stream == "stdout"] if source.output_total else []
    kept = len(source.output) if source.output_total else 0
    if source.output_total > kept:
        raise ExpansionError(
            f"{source.name} printed more lines than jobdeck keeps of a job ({kept}): "
            "write the items to a file and use each = { lines = ... }, or return them from a call job"
        )
    text = "\n".join(tail).strip()
    if not text:
        raise ExpansionError(f"{source.name} printed nothing: it should print a JSON list, or JSON values one a line")
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as bad:
            raise ExpansionError(f"{possessive(source.name)} output is not a JSON list: {bad}") from None
        if isinstance(value, list):
            return value
    items = []
    for number, line in enumerate(tail, start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError:
            raise ExpansionError(
                f"line {number} of {possessive(source.name)} output is not JSON: {line[:80]!r} "
                "(print one JSON value a line: strings in double quotes)"
            ) from None
    return items


def _described(value: Any) -> str:
    text = json.dumps(value, default=str)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def member_specs(
    pending: PendingFanOut,
    items: Sequence[Any],
    whole: Callable[[str], tuple[str, ...]],
    exists: Callable[[str], bool],
) -> list[JobSpec]:
    """The members' specs: each item's work and what it waits for. `whole(name)` is every job a name of `after`
    stands for (a fan-out's members); `exists(name)` says whether the deck has a job of that name."""
    assert pending.fan_out is not None and pending.make_work is not None
    shared = tuple(dict.fromkeys(name for entry in pending.entries for name in whole(entry)))
    base = pending.fan_out
    fan_out = base.with_after(shared)
    specs: list[JobSpec] = []
    seen: set[str] = set()
    for position, item in enumerate(items, start=1):
        name = f"{base.name}[{item_text(item)}]"
        if name in seen:
            source = possessive(pending.source)
            raise ExpansionError(f"item {position} of {source} result gives the name {name} a second time")
        seen.add(name)
        work = pending.make_work(item)
        if isinstance(work, str):
            raise ExpansionError(f"item {position} of {possessive(pending.source)} result: {work}")
        member: JobSpec = MemberSpec(fan_out, item, work)
        if pending.item_after:
            upstream = tuple(fill_text(entry, item) for entry in pending.item_after)
            for wanted in upstream:
                if not exists(wanted):
                    raise ExpansionError(
                        f"{name} waits for {wanted}, which does not exist (the chain: {name} -> {wanted})"
                    )
            member = member.with_after((*shared, *upstream))
        specs.append(member)
    return specs
