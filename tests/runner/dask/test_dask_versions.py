"""What jobdeck compares between a Dask client, scheduler and workers, and how a difference reads."""

from __future__ import annotations

from typing import Any

from runner.dask.versions import version_mismatch


def place(python: str = "3.11.7.final.0", **packages: str | None) -> dict[str, Any]:
    versions = {"dask": "2026.8.0", "distributed": "2026.8.0", "cloudpickle": "3.1.3", "numpy": "2.0"}
    return {"packages": {"python": python, **versions, **packages}}


def test_same_minor_python_and_same_packages_match() -> None:
    versions = {
        "client": place(),
        "scheduler": place(python="3.11.9.final.0", numpy="1.26"),  # other packages are not compared
        "workers": {"tcp://10.0.0.5:4000": place()},
    }
    assert version_mismatch(versions) is None


def test_every_difference_is_named_with_where_each_version_runs() -> None:
    versions = {
        "client": place(),
        "scheduler": place(python="3.12.1.final.0"),
        "workers": {
            "tcp://10.0.0.6:4000": place(distributed="2026.7.1"),
            "tcp://10.0.0.5:4000": place(cloudpickle=None),
        },
    }
    assert version_mismatch(versions) == (
        "python 3.11 here and on worker tcp://10.0.0.5:4000 and on worker tcp://10.0.0.6:4000, "
        "3.12 on the scheduler; "
        "distributed 2026.8.0 here and on the scheduler and on worker tcp://10.0.0.5:4000, "
        "2026.7.1 on worker tcp://10.0.0.6:4000; "
        "cloudpickle 3.1.3 here and on the scheduler and on worker tcp://10.0.0.6:4000, "
        "missing on worker tcp://10.0.0.5:4000"
    )


def test_many_workers_with_one_version_are_counted() -> None:
    workers = {f"tcp://10.0.0.{n}:4000": place() for n in range(1, 9)}
    versions = {"client": place(dask="2026.9.0"), "scheduler": place(), "workers": workers}
    assert version_mismatch(versions) == "dask 2026.9.0 here, 2026.8.0 on the scheduler and on 8 workers"
