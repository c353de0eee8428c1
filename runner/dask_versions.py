"""Refuse a Dask cluster whose software differs from ours, naming what differs.

Dask itself only warns on a mismatch, and then a task pickled by one cloudpickle can fail to unpickle, or
hang, on a worker with another. Python is compared by major.minor (pickles of functions are tied to the
bytecode of a minor version); the packages by their exact version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COMPARED = ("python", "dask", "distributed", "cloudpickle")


def _comparable(package: str, version: Any) -> str:
    text = str(version)
    return ".".join(text.split(".")[:2]) if package == "python" else text


def version_mismatch(versions: Mapping[str, Any]) -> str | None:
    """What differs between the client, scheduler and workers of `Client.get_versions()`, or None.

    E.g. "distributed 2026.8.0 here, 2026.7.1 on the scheduler and on worker tcp://10.0.0.5:40123".
    """
    places: dict[str, Mapping[str, Any]] = {"here": versions.get("client") or {}}
    places["on the scheduler"] = versions.get("scheduler") or {}
    for address, worker in sorted((versions.get("workers") or {}).items()):
        places[f"on worker {address}"] = worker if isinstance(worker, Mapping) else {}
    differences = []
    for package in COMPARED:
        by_version: dict[str, list[str]] = {}
        for place, info in places.items():
            packages = info.get("packages") or {}
            version = _comparable(package, packages.get(package) or "missing")
            by_version.setdefault(version, []).append(place)
        if len(by_version) > 1:
            differences.append(f"{package} " + ", ".join(f"{v} {' and '.join(p)}" for v, p in by_version.items()))
    return "; ".join(differences) or None
