"""Where job logs live: a private folder beside the journal, a folder in it per deck run, files per attempt.

    <journal folder>/<journal name>.logs/      0700, e.g. ~/.local/state/jobdeck/journal.logs/
        <run id>/                              0700, one per deck run (the journal's run id)
            <job>~<hash>/                      0700, one per job that wrote something
                <attempt>.log                  0600, the attempt's output up to half its cap (its head)
                <attempt>.<k>.tail             0600, later output in numbered segments; the oldest are removed
                                               to keep the attempt within its cap

`<job>` is the job's name with anything but letters, digits, `-`, `_` and `.` made `_` (shortened), and `<hash>`
tells apart names that come out the same. A job that writes nothing has no folder. The folder of a journal is its
own (named after the journal's file), so two journals in one folder never touch each other's logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.journal.store import Journal

HEAD_SUFFIX = ".log"
SEGMENT_SUFFIX = ".tail"
SAFE_NAME_CHARS = 60
SWEEP_AGE_S = 3600.0


def logs_root(journal_path: Path) -> Path:
    """The folder of the job logs of the journal at `journal_path`: `journal.logs` beside `journal.db`."""
    journal_path = Path(journal_path)
    return journal_path.with_name(journal_path.stem + ".logs")


def job_stem(name: str) -> str:
    """The start of the names of a job's files: readable, safe in a file name, and unique per job name."""
    safe = "".join(char if char.isascii() and (char.isalnum() or char in "-_.") else "_" for char in name)
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe[:SAFE_NAME_CHARS]}~{digest}"


@dataclass(frozen=True)
class LogPlace:
    """Where one job's log files are: its own folder in its run's folder."""

    folder: Path

    @classmethod
    def of(cls, run_folder: Path, job_name: str) -> LogPlace:
        return cls(run_folder / job_stem(job_name))

    def head(self, attempt: int) -> Path:
        return self.folder / f"{attempt}{HEAD_SUFFIX}"

    def segment(self, attempt: int, number: int) -> Path:
        return self.folder / f"{attempt}.{number}{SEGMENT_SUFFIX}"


def make_private_folder(path: Path) -> None:
    """`path` and its missing parents, made 0700 (whatever the umask); an existing folder is left as it is."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
            os.chmod(folder, 0o700)  # mkdir's mode is cut by the umask; 0700 is meant whatever it is


def existing_segments(place: LogPlace, attempt: int) -> list[int]:
    """The numbers of the attempt's tail segments on disk, oldest first (the folder holds one job's files)."""
    prefix = f"{attempt}."
    numbers = []
    try:
        with os.scandir(place.folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(prefix) and name.endswith(SEGMENT_SUFFIX):
                    number = name[len(prefix) : -len(SEGMENT_SUFFIX)]
                    if number.isdigit():
                        numbers.append(int(number))
    except OSError:
        return []
    return sorted(numbers)


def remove_run_folders(root: Path, run_ids: Collection[str]) -> int:
    """Remove the log folders of these runs (blocking); returns how many there were."""
    removed = 0
    for run_id in run_ids:
        folder = root / run_id
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def sweep_logs(journal: Journal) -> int:
    """`sweep_run_folders` for the logs of `journal` against its runs (a server does it when it starts)."""
    removed = sweep_run_folders(logs_root(journal.path), journal.run_ids())
    if removed:
        logging.getLogger("jobdeck.server").info("removed the logs of %d run(s) the journal no longer has", removed)
    return removed


def sweep_run_folders(root: Path, known_runs: Collection[str], older_than_s: float = SWEEP_AGE_S) -> int:
    """Remove the log folders of runs the journal no longer has (pruned or lost while no server ran). A folder
    younger than `older_than_s` stays: a `jobdeck run` sharing the journal may not have committed its run yet."""
    try:
        entries = [entry for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return 0
    cutoff = time.time() - older_than_s
    stale = []
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.name not in known_runs and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                stale.append(entry.name)
    return remove_run_folders(root, stale)
