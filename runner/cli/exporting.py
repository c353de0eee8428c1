"""`jobdeck history` (the journal's runs) and `jobdeck export RUN` (one run's jobs, like GNU parallel's joblog).

Both read the journal read-only (runner.journal.reading), so they work with or without a server, beside a server
writing the same journal, and never start one.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import paths
from runner.cli.exits import EXIT_BAD_INPUT, EXIT_JOBS_FAILED, EXIT_OK

if TYPE_CHECKING:
    from runner.journal.store import DeckRun

EXPORT_COLUMNS = (
    "name",
    "kind",
    "state",
    "attempts",
    "started_at",
    "ended_at",
    "duration_s",
    "bytes",
    "exit_code",
    "signal",
    "error",
    "result",
)
"""A job of `export`, one CSV column or JSON key each (README, "From the shell")."""
PREVIEW_CHARS = 200
HISTORY_LIMIT = 50


def journal_of(db: Path | None) -> Path:
    """--db, else $JOBDECK_DB, else the default journal (the one a server started without options uses)."""
    return db if db is not None else paths.journal_path()


def history_command(db: Path | None, *, limit: int, as_json: bool) -> int:
    out = sys.stdout
    from runner.journal.faults import JournalError
    from runner.journal.reading import open_read_only, short_run_ids

    try:
        with open_read_only(journal_of(db)) as journal:
            runs = journal.history(limit)
    except JournalError as error:
        print(f"jobdeck history: {error}", file=sys.stderr)
        return EXIT_JOBS_FAILED
    if as_json:
        json.dump([run_object(run) for run in runs], out)
        out.write("\n")
        return EXIT_OK
    if not runs:
        out.write(f"the journal {journal.path} has no runs yet\n")
        return EXIT_OK
    ids = short_run_ids([run.id for run in runs])
    rows = [
        (
            ids[run.id],
            datetime.fromtimestamp(run.loaded_at).strftime("%Y-%m-%d %H:%M"),
            run.name,
            str(run.total),
            counts_text(run.counts),
            run.path,
        )
        for run in runs
    ]
    widths = [max(len(row[column]) for row in [HISTORY_HEADER, *rows]) for column in range(len(HISTORY_HEADER) - 1)]
    for row in [HISTORY_HEADER, *rows]:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + f"  {row[-1]}\n")
    return EXIT_OK


HISTORY_HEADER = ("run", "loaded", "deck", "jobs", "outcome", "file")


def run_object(run: DeckRun) -> dict[str, Any]:
    """A run as `history --json` shows it: the same keys as the server's history reply."""
    return {
        "id": run.id,
        "name": run.name,
        "path": run.path,
        "loaded_at": run.loaded_at,
        "counts": dict(run.counts),
        "total": run.total,
        "unfinished": run.unfinished,
    }


def counts_text(counts: Mapping[str, int]) -> str:
    """`3 succeeded, 1 failed`, in the order of the states' lives, then any the journal alone has."""
    from runner.model import JobState

    order = [state.value for state in JobState]
    known = sorted(counts, key=lambda state: order.index(state) if state in order else len(order))
    return ", ".join(f"{counts[state]} {state}" for state in known if counts[state]) or "no jobs"


def export_command(run: str, db: Path | None, *, as_json: bool) -> int:
    out = sys.stdout
    from runner.journal.faults import JournalError
    from runner.journal.reading import find_run, open_read_only

    try:
        with open_read_only(journal_of(db)) as journal:
            found = find_run(journal, run)
            if isinstance(found, str):
                print(f"jobdeck export: {found}", file=sys.stderr)
                return EXIT_BAD_INPUT
            rows = journal.jobs(found.id)
    except JournalError as error:
        print(f"jobdeck export: {error}", file=sys.stderr)
        return EXIT_JOBS_FAILED
    if found.unfinished:
        print(
            f"jobdeck export: note: run {found.id} of {found.name} has {found.unfinished} unfinished job(s) (it "
            "still runs, or its server was stopped); they are exported as they stand",
            file=sys.stderr,
        )
    jobs = export_rows(rows.values())
    if as_json:
        for job in jobs:
            out.write(json.dumps(job) + "\n")
    else:
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(jobs)
    return EXIT_OK


def export_rows(rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """The journal's job rows (Journal.jobs) as `export` shows them, in the deck's order."""
    for row in sorted(rows, key=lambda row: (row["spec"] or {}).get("line") or 0):
        yield export_row(row)


def export_row(row: Mapping[str, Any]) -> dict[str, Any]:
    from runner.procs.process_groups import exit_of
    from runner.stored_results import is_stored_result

    attempts = row["attempt_list"]
    last = attempts[-1] if attempts else {}
    started, ended = last.get("started_at"), last.get("ended_at")
    result, kind, state = row["result"], row["kind"], row["state"]
    size: int | None = None
    if is_stored_result(result):
        size, preview = result["size_bytes"], result["preview"]
    elif kind == "fetch" and isinstance(result, dict):
        size, preview = result.get("bytes"), json.dumps(result)
    elif kind == "shell":
        tail = row["output_tail"] or []
        preview = tail[-1][1] if tail else None
    else:
        text = None if result is None and state != "succeeded" else json.dumps(result)
        size, preview = (None if text is None else len(text.encode())), text
    status, signum = (0, None) if kind == "shell" and state == "succeeded" else (None, None)
    if kind == "shell" and state != "succeeded":
        status, signum = exit_of(last.get("error"))
    return {
        "name": row["name"],
        "kind": kind,
        "state": state,
        "attempts": row["attempts"],
        "started_at": None if started is None else round(started, 3),
        "ended_at": None if ended is None else round(ended, 3),
        "duration_s": None if started is None or ended is None else round(max(0.0, ended - started), 3),
        "bytes": size,
        "exit_code": status,
        "signal": signum,
        "error": row["error"],
        "result": None if preview is None else cut(preview),
    }


def cut(text: str) -> str:
    line = " ".join(text.split()) if "\n" in text or "\r" in text else text
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"
