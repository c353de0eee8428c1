"""A fan-out's members share their group's fields and make their work from the template when it is read."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from runner.deck import parse_deck
from runner.deck.templates import NO_ITEM
from runner.kinds.registry import KIND_SPECS
from runner.model import CallSpec, JobSpec, Kind, MemberSpec, ShellSpec

DECK = """
[deck]
name = "d"

[[job]]
name = "prep"
shell = "true"

[[job]]
name = "call"
call = "tasks:add"
on = "thread"
each = [1, "two", true, 2.5, "${{HOME}}"]
args = ["{{item}}", 1]
kwargs = {{ label = "n-{{item}}" }}
after = ["prep"]
retries = 2
timeout = 9

[[job]]
name = "sh"
shell = "echo {{item}} >> {out}"
each = ["a b", false, 7]
"""


def members(tmp_path: Path, out: str = "log.txt") -> dict[str, JobSpec]:
    (tmp_path / "tasks.py").write_text("def add(a, b, label=''):\n    return a\n")
    deck = parse_deck(DECK.format(out=out), tmp_path / "d.toml", environ={})
    return {spec.name: spec for spec in deck.jobs}


def made_at_load(spec: JobSpec) -> object:
    """The work the kind makes for this item with every check: what a member's work must equal."""
    assert isinstance(spec, MemberSpec)
    kind = KIND_SPECS[spec.kind]
    return kind.for_item(spec.fan_out.template, spec.item, None, None)  # type: ignore[arg-type]


def test_members_are_named_and_fielded_as_the_file_says(tmp_path: Path) -> None:
    specs = members(tmp_path)
    assert list(specs) == [
        "prep",
        "call[1]",
        "call[two]",
        "call[true]",
        "call[2.5]",
        "call[${HOME}]",
        "sh[a b]",
        "sh[false]",
        "sh[7]",
    ]
    member = specs["call[true]"]
    assert isinstance(member, MemberSpec)
    assert (member.kind, member.after, member.retries, member.timeout, member.group, member.item) == (
        Kind.CALL,
        ("prep",),
        2,
        9.0,
        "call",
        True,
    )
    assert member.line == 9
    assert isinstance(specs["prep"], JobSpec) and not isinstance(specs["prep"], MemberSpec)


def test_a_member_makes_its_work_when_read_as_the_kind_made_it(tmp_path: Path) -> None:
    specs = members(tmp_path)
    for spec in specs.values():
        if isinstance(spec, MemberSpec):
            assert spec._work is None  # nothing made at load
            assert spec.work == made_at_load(spec)
    assert specs["call[two]"].work == CallSpec(
        "tasks", "add", ("two", 1), {"label": "n-two"}, on="thread", base_dir=tmp_path
    )
    assert specs["sh[false]"].work == ShellSpec(command="echo false >> log.txt", cwd=tmp_path)


def test_a_running_member_holds_its_work_and_lets_it_go_after(tmp_path: Path) -> None:
    member = members(tmp_path)["call[1]"]
    member.keep_work()
    held = member.work
    assert member.work is held  # the same object for the whole attempt
    member.drop_work()
    assert member.work is not held and member.work == held
    assert member.outline.on == "thread"  # type: ignore[attr-defined]  # placed without making the work


def test_members_compare_by_what_they_run(tmp_path: Path) -> None:
    first, again = members(tmp_path), members(tmp_path)
    assert first == again  # a repeated load of the same file: the same jobs
    assert list(members(tmp_path, out="other.txt").values()) != list(first.values())
    assert first["call[1]"] != first["call[two]"]
    one = first["call[1]"]
    assert isinstance(one, MemberSpec)
    assert one != MemberSpec(one.fan_out, True, None), "item true is another job than item 1 (1 == True)"
    assert one != MemberSpec(one.fan_out, 1.0, None)
    assert one == MemberSpec(one.fan_out, 1, None)
    assert first["call[1]"] != JobSpec(name="call[1]", kind=Kind.CALL, work=first["call[1]"].work)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first["call[1]"].item = 3  # type: ignore[misc]


def test_a_member_with_other_dependencies_is_a_plain_job_spec(tmp_path: Path) -> None:
    member = members(tmp_path)["call[2.5]"]
    alone = member.with_after(())
    assert type(alone) is JobSpec and alone.after == ()
    assert (alone.name, alone.work, alone.group, alone.item, alone.retries) == (
        member.name,
        member.work,
        "call",
        2.5,
        2,
    )


def test_a_single_job_of_a_kind_that_refills_is_made_at_load(tmp_path: Path) -> None:
    prep = members(tmp_path)["prep"]
    assert prep.work == KIND_SPECS[Kind.SHELL].for_item(prep.work, NO_ITEM, None, None)  # type: ignore[arg-type]
