"""jobdeck's installed version, looked up only when asked (importlib.metadata costs every start-up tens of ms)."""

from __future__ import annotations

from functools import cache


@cache
def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jobdeck")
    except PackageNotFoundError:
        return "unknown"
