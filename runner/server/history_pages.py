"""The journal's history as replies carry it: the runs with long texts cut, and a run's jobs a page at a time."""

from __future__ import annotations

from typing import Any

from runner.server.previews import LINE_BYTES, SHRUNK_TEXT_BYTES, cut_text, shrink, take_page
from runner.server.protocol import SNAPSHOT_BYTES

PAGE_BYTES = SNAPSHOT_BYTES


class RunJobPages:
    """One run's job list, read from the journal at its first page and kept for the pages after it (so that a
    run of 100,000 jobs is read once, not once per page)."""

    def __init__(self) -> None:
        self._run: str | None = None
        self._rows: list[dict[str, Any]] = []

    def page(self, run: str, start: int, read: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]], int | None]:
        """The page from job number `start`; `read` is the run's freshly read list (None: use the kept one)."""
        if read is not None:
            self._run, self._rows = run, [_bounded_job(row) for row in read]
        page, upnext = take_page(self._rows, start, PAGE_BYTES)
        if upnext is None:
            self._run, self._rows = None, []
        return page, upnext

    def holds(self, run: str) -> bool:
        return self._run == run


def bounded_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs (a bounded number: Journal.history's limit) with each text cut short."""
    return [shrink(run, SHRUNK_TEXT_BYTES) for run in runs]


def _bounded_job(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "name": cut_text(row["name"], LINE_BYTES),
        "error": cut_text(row["error"], LINE_BYTES, keep_end=True),
    }
