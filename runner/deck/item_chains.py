"""Per-item dependencies between fan-outs (`after = ["get[{item}]"]`: each member waits for its own upstream
member) and fan-outs from results (`each = { result_of = "job" }`), checked when a job file is read.

For fan-outs whose items are in the file, each member's upstream names are made here and checked against the
upstream fan-out's members: a member without one is a problem that shows the chain. A fan-out from a result is
one waiting job until its items are known (runner.deck.pending_fan_out); its per-item names are made then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runner.deck.problems import did_you_mean
from runner.deck.table import short
from runner.deck.templates import fill_text
from runner.model import Kind

if TYPE_CHECKING:
    from runner.deck.parser import _Draft

RESULT_KINDS = (Kind.CALL, Kind.SHELL)
"""The kinds whose result can give a fan-out its items: a call's returned list, a shell's printed JSON."""


def is_per_item(entry: str) -> bool:
    """Whether an `after` entry names one job per item (`get[{item}]`, `get[{item.name}]`)."""
    return "{item" in entry


@dataclass
class ItemChains:
    member_after: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    """By fan-out name: each member's upstream members (fan-outs with their items in the file)."""
    groups: dict[str, list[str]] = field(default_factory=dict)
    """By job name: the jobs it waits for item by item, or for its items; for finding circles."""
    pending_after: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """By name of a fan-out from a result: what its stand-in waits for before it is expanded."""


def check_result_of(named: Mapping[str, _Draft]) -> None:
    """`each = { result_of = "job" }` must name a single call or shell job of the deck, not itself."""
    for draft in named.values():
        source = draft.result_of
        if source is None:
            continue
        target = named.get(source)
        if target is None:
            hint = did_you_mean(source, named) or f"known jobs: {short(', '.join(named))}"
            draft.table.report("each", f"result_of names no job: there is no job named {source!r}", hint)
        elif target is draft:
            draft.table.report("each", "a fan-out cannot take its items from its own result", "name another job")
        elif target.each is not None or target.result_of is not None:
            draft.table.report(
                "each",
                f"result_of must name a single job, but {source!r} is a fan-out",
                "let one call or shell job list the items",
            )
        elif target.kind is not None and target.kind.kind not in RESULT_KINDS:
            draft.table.report(
                "each",
                f"result_of must name a call or shell job, but {source!r} is a {target.kind.kind} job",
                "a call job returns a list; a shell job prints JSON lines or a JSON list",
            )


def resolve_item_after(named: Mapping[str, _Draft]) -> ItemChains:
    chains = ItemChains()
    for name, draft in named.items():
        if draft.result_of is not None:
            if draft.result_of in named and draft.result_of != name:  # else check_result_of says what is wrong
                chains.groups.setdefault(name, []).append(draft.result_of)
            pending = [entry for entry in draft.after if entry in named and named[entry].result_of is not None]
            chains.pending_after[name] = (draft.result_of, *pending)
        for entry in draft.item_after or []:
            group = entry.partition("[")[0]
            target = named.get(group)
            if target is None or (target.each is None and target.result_of is None):
                _report_no_fan_out(draft, entry, group, named)
                continue
            if target is draft:
                draft.table.report("after", f"a job cannot wait for itself ({entry!r})", f"remove {entry!r} from after")
                continue
            chains.groups.setdefault(name, []).append(group)
            if draft.result_of is not None:  # its members, and their upstream names, are made when it expands
                if target.result_of is not None and group not in chains.pending_after[name]:
                    chains.pending_after[name] += (group,)
                continue
            if target.result_of is not None:
                draft.table.report(
                    "after",
                    f"{entry!r}: the members of {group} are made from {target.result_of}'s result when it succeeds, "
                    "so they cannot be matched to items written in the file",
                    f'take this job\'s items from the same place: each = {{ result_of = "{target.result_of}" }}',
                )
                continue
            _match_members(draft, entry, group, target, chains)
    return chains


def _report_no_fan_out(draft: _Draft, entry: str, group: str, named: Mapping[str, _Draft]) -> None:
    if group in named:
        draft.table.report(
            "after",
            f"{entry!r} names one job per item, but {group!r} is a single job",
            f'wait for it as a whole: after = ["{group}"]',
        )
        return
    fan_outs = [name for name, other in named.items() if other.each is not None or other.result_of is not None]
    hint = did_you_mean(group, fan_outs) or (
        f"fan-outs of this deck: {short(', '.join(fan_outs))}" if fan_outs else "this deck has no other fan-out"
    )
    draft.table.report("after", f"there is no fan-out named {group!r} (in {entry!r})", hint)


def _match_members(draft: _Draft, entry: str, group: str, target: _Draft, chains: ItemChains) -> None:
    """Each member's upstream member by filling `entry` with its item; the first member without one is
    reported, with the chain and how many more lack one."""
    assert draft.each is not None
    upstream = set(target.concrete_names)
    per_member = chains.member_after.setdefault(draft.name or "", {})
    missing: list[tuple[str, str]] = []
    for item, member in zip(draft.each, draft.concrete_names, strict=True):
        wanted = fill_text(entry, item)
        if wanted in upstream:
            per_member[member] = (*per_member.get(member, ()), wanted)
        else:
            missing.append((member, wanted))
    if not missing:
        return
    member, wanted = missing[0]
    more = f" ({len(missing) - 1} more members have no upstream member either)" if len(missing) > 1 else ""
    draft.table.report(
        "after",
        f"{member} waits for {wanted}, which does not exist: {group} has no such member{more}",
        f"the chain: {member} -> {wanted}; the members of {group} are {short(', '.join(target.concrete_names))}",
    )
