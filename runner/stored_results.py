"""Large results kept in files instead of memory, the journal and replies.

A job's result whose JSON is larger than INLINE_BYTES is written to a file of its own (mode 0600) in the
results folder: `results/` beside the journal, or a private temporary folder when there is no journal. The
job keeps a `StoredResult` in its place: a small dict (so JSON, the journal and the wire carry it as they are)
with the file's path, the full size and the start of the JSON as a preview. `read_stored_result` gives the
full value back. A result over the deck's `result_limit_mb` fails its job with a clear message instead.
A file outlives its job only as long as a journal row refers to it: a starting server sweeps the others
(`sweep_results`), so pruning or forgetting a deck's history frees its result files too.

Blocking (it encodes and writes): call `keep_result` from a worker thread, or in a worker process, which then
sends only the small StoredResult to jobdeck instead of the whole value.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import JobError
from runner.values import json_safe_text

if TYPE_CHECKING:
    import sqlite3

    from runner.journal.store import Journal
    from runner.model import Settings

INLINE_BYTES = 64 * 1024
"""Results whose JSON is at most this long stay inline."""
PREVIEW_CHARS = 2000
DEFAULT_LIMIT_MB = 1024
FILE_KEY = "stored_result_file"
SWEEP_AGE_S = 3600.0
_KEYS = frozenset({FILE_KEY, "size_bytes", "preview"})


class StoredResult(dict[str, Any]):
    """In place of a result kept in a file: {"stored_result_file": path, "size_bytes": n, "preview": text}."""

    @property
    def file(self) -> Path:
        return Path(self[FILE_KEY])


def is_stored_result(value: Any) -> bool:
    """True for a StoredResult, also as a plain dict (as the journal or the wire gives it back)."""
    return isinstance(value, dict) and value.keys() == _KEYS


def needs_keeping(value: Any) -> bool:
    """Whether `keep_result` has anything to decide: false for results that are small for sure (cheap to ask,
    so the common small result, such as a fetch's summary, costs no thread and no encoding)."""
    return not is_stored_result(value) and not _small_for_sure(value)


def _small_for_sure(value: Any, budget: int = INLINE_BYTES, most_items: int = 256) -> bool:
    """True when the JSON of `value` cannot be over `budget` bytes, by an upper bound on its size; False when
    it may be, or when telling would take more than `most_items` items (then `keep_result` encodes it)."""
    waiting = [value]
    size = 0
    for _ in range(most_items):
        if not waiting:
            return True
        item = waiting.pop()
        if isinstance(item, str):
            size += len(item) * 6 + 2  # \uXXXX at worst
        elif isinstance(item, bool) or item is None:
            size += 5
        elif isinstance(item, int):
            size += item.bit_length() // 3 + 2  # its digits, and a sign
        elif isinstance(item, float):
            size += 24
        elif isinstance(item, (list, tuple)):
            size += 2 + len(item)
            waiting.extend(item)
        elif isinstance(item, dict):
            size += 2 + 2 * len(item)
            waiting.extend(item.keys())
            waiting.extend(item.values())
        else:
            return False  # json_safe decides what it becomes
        if size > budget:
            return False
    return not waiting


def keep_result(value: Any, folder: Path, limit_mb: int, name: str) -> Any:
    """`value` itself when its JSON is small, else a StoredResult for a new file in `folder` holding it.

    Raises JobError (not retryable) when the JSON is over `limit_mb` megabytes (MiB)."""
    if not needs_keeping(value):
        return value
    text = json_safe_text(value)
    size = len(text)  # ASCII: json escapes the rest
    if size <= INLINE_BYTES:
        return value
    limit = limit_mb * 1024 * 1024
    if size > limit:
        raise JobError(
            f"result of {describe_size(size)} is over the {describe_size(limit)} limit; write it to a file "
            "instead (or raise result_limit_mb in the deck's [deck] table)"
        )
    try:
        path = _write_private(folder, name, text)
    except OSError as error:
        message = f"cannot keep the result of {describe_size(size)} in {folder}: {error}"
        raise JobError(message, retryable=True) from None
    return StoredResult({FILE_KEY: str(path), "size_bytes": size, "preview": text[:PREVIEW_CHARS]})


async def keep_result_in_thread(value: Any, folder: Path | None, settings: Settings, name: str) -> Any:
    """`keep_result` on a worker thread, into `folder` or the temporary folder."""
    import anyio.to_thread

    where = folder if folder is not None else temporary_results_folder()
    return await anyio.to_thread.run_sync(keep_result, value, where, settings.result_limit_mb, name)


def read_stored_result(value: dict[str, Any]) -> Any:
    """The full value a StoredResult stands for. Raises OSError when its file is gone."""
    return json.loads(Path(value[FILE_KEY]).read_text())


def sweep_unreferenced(folder: Path, referenced: Callable[[], set[str]], older_than_s: float = SWEEP_AGE_S) -> int:
    """Remove the result files in `folder` that no journal row refers to any more (their history was pruned
    or forgotten, or a job's result was replaced); returns how many. Files younger than `older_than_s` stay:
    a `jobdeck run` sharing the journal may not have committed theirs yet. `referenced` (the paths the journal
    holds) is asked only when there are files to look at."""
    try:
        files = [entry for entry in os.scandir(folder) if entry.name.endswith(".json") and entry.is_file()]
    except OSError:
        return 0
    if not files:
        return 0
    keep = referenced()
    cutoff = time.time() - older_than_s
    removed = 0
    for entry in files:
        with contextlib.suppress(OSError):
            if entry.path not in keep and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
    return removed


def sweep_results(folder: Path, journal: Journal, older_than_s: float = SWEEP_AGE_S) -> int:
    """`sweep_unreferenced` against the journal's rows (a server does it when it starts)."""
    removed = sweep_unreferenced(folder, lambda: referenced_in_journal(journal.connection), older_than_s)
    if removed:
        logging.getLogger("jobdeck.server").info("removed %d result files no journal row refers to", removed)
    return removed


def referenced_in_journal(connection: sqlite3.Connection) -> set[str]:
    """The result files the journal's job rows refer to."""
    rows = connection.execute(f"SELECT result FROM jobs WHERE result LIKE '{{\"{FILE_KEY}\"%'")
    found = set()
    for (text,) in rows:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            found.add(json.loads(text)[FILE_KEY])
    return found


def results_folder(journal_path: Path | None) -> Path:
    """`results/` beside the journal, or a private temporary folder (made once per process) without one."""
    if journal_path is not None:
        return journal_path.parent / "results"
    return temporary_results_folder()


def temporary_results_folder() -> Path:
    """This process's folder for large results when there is no journal; made (0700) only when first used."""
    return Path(tempfile.gettempdir()) / f"jobdeck-results-{os.getuid()}-{os.getpid()}"


def describe_size(size: int) -> str:
    """1.2 GB, 300 MB, 64 KB (decimal units, as people read file sizes); a limit of 2**30 reads "1 GiB"."""
    if size >= 1 << 30 and size % (1 << 30) == 0:
        return f"{size >> 30} GiB"
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def _check_private(folder: Path) -> None:
    """A folder someone else made (a name in /tmp is easy to guess) or opened to others is not used."""
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise JobError(
            f"cannot keep a large result in {folder}: it is not a private folder of yours (a link, another "
            "user's, or open to others); remove it, or run with a journal"
        )


def _write_private(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_private(folder)
    safe_name = "".join(char if char.isalnum() or char in "-_." else "_" for char in name)[:80]
    path = folder / f"{safe_name}-{uuid.uuid4().hex[:12]}.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(text)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return path
