"""Every kind is listed once in the registry, and everything that depends on the kind asks it."""

from __future__ import annotations

from pathlib import Path

from runner.engine.engine import default_kinds
from runner.kinds.registry import KIND_SPECS
from runner.kinds.summary import spec_summary, wire_fields
from runner.model import CallSpec, FetchSpec, JobSpec, Kind, ShellSpec


def test_every_kind_has_one_spec_whose_first_key_is_its_name() -> None:
    assert set(KIND_SPECS) == set(Kind)
    for kind, spec in KIND_SPECS.items():
        assert spec.kind is kind and spec.keys[0] == kind.value
        assert spec.example.startswith(f"{kind.value} = ")


def test_the_engine_runs_each_registered_kind_with_the_runner_its_spec_makes() -> None:
    runners = default_kinds()
    assert set(runners) == set(KIND_SPECS)
    for kind, runner in runners.items():
        assert type(runner) is type(KIND_SPECS[kind].runner())


def test_every_kind_says_its_target_on_the_wire() -> None:
    specs = [
        JobSpec("f", Kind.FETCH, FetchSpec(url="https://x.org/a")),
        JobSpec("c", Kind.CALL, CallSpec(module="tasks", function="main")),
        JobSpec("s", Kind.SHELL, ShellSpec(command="make", cwd=Path("/src"))),
    ]
    assert [wire_fields(spec)["target"] for spec in specs] == ["https://x.org/a", "tasks:main", "make"]
    assert [spec_summary(spec)[0] for spec in specs] == [("kind", "fetch"), ("kind", "call"), ("kind", "shell")]
