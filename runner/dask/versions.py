"""Refuse a Dask cluster whose software differs from ours, naming what differs.

Dask itself only warns on a mismatch, and then a task pickled by one cloudpickle can fail to unpickle, or
hang, on a worker with another. Python is compared by major.minor (pickles of functions are tied to the
bytecode of a minor version); the packages by their exact version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COMPARED = ("python", "dask", "distributed", "cloudpickle")
LISTED_WORKERS = 3
"""More workers than this with one version are counted, not listed."""


def version_mismatch(versions: Mapping[str, Any]) -> str | None:
    """What differs between the client, scheduler and workers of `Client.get_versions()`, or None.

    E.g. "distributed 2026.8.0 here and on the scheduler, 2026.7.1 on worker tcp://10.0.0.5:40123".
    """
    places: dict[str, Mapping[str, Any]] = {"here": versions.get("client") or {}}
    places["on the scheduler"] = versions.get("scheduler") or {}
    for address, worker in sorted((versions.get("workers") or {}).items()):
        places[address] = worker if isinstance(worker, Mapping) else {}
    differences = []
    for package in COMPARED:
        by_version: dict[str, list[str]] = {}
        for place, info in places.items():
            version = _comparable(package, (info.get("packages") or {}).get(package))
            by_version.setdefault(version, []).append(place)
        if len(by_version) > 1:
            found = ", ".join(f"{version} {_where(where)}" for version, where in by_version.items())
            differences.append(f"{package} {found}")
    return "; ".join(differences) or None


def _comparable(package: str, version: Any) -> str:
    if not version:
        return "missing"
    text = str(version)
    return ".".join(text.split(".")[:2]) if package == "python" else text


def _where(places: list[str]) -> str:
    named = [place for place in places if place in ("here", "on the scheduler")]
    workers = [place for place in places if place not in named]
    if len(workers) > LISTED_WORKERS:
        named.append(f"on {len(workers)} workers")
    else:
        named += [f"on worker {address}" for address in workers]
    return " and ".join(named)
