"""`replaced` copies a spec with some fields changed, exactly as dataclasses.replace does, only faster."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from runner.model import FetchSpec, JobSpec, Kind, ShellSpec, replaced


def test_a_copy_equals_what_dataclasses_replace_gives() -> None:
    spec = JobSpec(name="a", kind=Kind.SHELL, work=ShellSpec(command="x", cwd=Path("/tmp")), retries=2, group="g")
    copy = replaced(spec, name="b", item=3)
    assert copy == dataclasses.replace(spec, name="b", item=3)
    assert list(vars(copy)) == [field.name for field in dataclasses.fields(JobSpec)]
    assert spec.name == "a" and spec.item is None  # the original is untouched


def test_a_copy_is_frozen_and_hashable_like_the_original() -> None:
    copy = replaced(ShellSpec(command="x"), command="y")
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.command = "z"  # type: ignore[misc]
    assert hash(copy) == hash(ShellSpec(command="y"))


def test_a_change_that_names_no_field_is_refused() -> None:
    with pytest.raises(TypeError, match="FetchSpec has no field 'nope'"):
        replaced(FetchSpec(url="https://x.org/"), nope=1)
