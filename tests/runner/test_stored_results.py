"""Large results are kept in files beside the journal, with a preview inline; absurd ones fail their job."""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.stored_results import INLINE_BYTES, PREVIEW_CHARS, is_stored_result, needs_keeping, read_stored_result
from tests.helpers import jobdeck

WriteDeck = Callable[..., Path]

LARGE = INLINE_BYTES + 1000


def run_with_journal(deck: Path, db: Path) -> dict[str, dict[str, Any]]:
    db.parent.mkdir(exist_ok=True)
    done = jobdeck("run", "--json", "--db", db, deck, cwd=deck.parent)
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    return {job["name"]: job for job in report["jobs"]}


def journal_results(db: Path) -> dict[str, str | None]:
    with sqlite3.connect(db) as connection:
        return dict(connection.execute("SELECT name, result FROM jobs"))


def test_a_large_result_is_kept_in_a_private_file_beside_the_journal(write_deck: WriteDeck, tmp_path: Path) -> None:
    deck = write_deck(
        '[deck]\nname = "big"\n\n'
        f'[[job]]\nname = "on_process"\ncall = "tasks:text_of"\nargs = [{LARGE}]\n\n'
        f'[[job]]\nname = "on_thread"\ncall = "tasks:text_of"\non = "thread"\nargs = [{LARGE}]\n\n'
        '[[job]]\nname = "small"\ncall = "tasks:text_of"\nargs = [10]\n'
    )
    db = tmp_path / "state" / "journal.db"
    jobs = run_with_journal(deck, db)
    assert jobs["small"]["result"] == "x" * 10
    for name in ("on_process", "on_thread"):
        result = jobs[name]["result"]
        assert jobs[name]["state"] == "succeeded" and is_stored_result(result), jobs[name]
        file = Path(result["stored_result_file"])
        assert file.parent == db.parent / "results"
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        assert result["size_bytes"] == LARGE + 2 and result["preview"] == '"' + "x" * (PREVIEW_CHARS - 1)
        assert read_stored_result(result) == "x" * LARGE
    in_journal = journal_results(db)
    assert all(len(in_journal[name] or "") < PREVIEW_CHARS + 500 for name in ("on_process", "on_thread"))
    assert is_stored_result(json.loads(in_journal["on_process"] or ""))


def test_a_result_over_the_deck_s_limit_fails_its_job_with_a_clear_message(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    two_mb = 2 * 1000 * 1000
    deck = write_deck(
        '[deck]\nname = "absurd"\nresult_limit_mb = 1\n\n'
        f'[[job]]\nname = "on_process"\ncall = "tasks:text_of"\nargs = [{two_mb}]\n\n'
        f'[[job]]\nname = "on_thread"\ncall = "tasks:text_of"\non = "thread"\nargs = [{two_mb}]\n'
    )
    jobs = run_with_journal(deck, tmp_path / "journal.db")
    for name in ("on_process", "on_thread"):
        assert jobs[name]["state"] == "failed"
        assert jobs[name]["error"].startswith("result of 2 MB is over the 1 MiB limit; write it to a file instead")
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_result_files_whose_journal_rows_are_gone_are_swept(write_deck: WriteDeck, tmp_path: Path) -> None:
    from runner.journal.store import Journal
    from runner.stored_results import sweep_results

    deck = write_deck(
        '[deck]\nname = "big"\n\n'
        f'[[job]]\nname = "kept"\ncall = "tasks:text_of"\nargs = [{LARGE}]\n\n'
        f'[[job]]\nname = "forgotten"\ncall = "tasks:text_of"\nargs = [{LARGE + 1}]\n'
    )
    db = tmp_path / "state" / "journal.db"
    jobs = run_with_journal(deck, db)
    kept, forgotten = (Path(jobs[name]["result"]["stored_result_file"]) for name in ("kept", "forgotten"))
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM jobs WHERE name = 'forgotten'")  # as pruning the history would
    with Journal.open(db) as journal:
        assert sweep_results(db.parent / "results", journal) == 0  # too young: a run may not have committed it
        assert sweep_results(db.parent / "results", journal, older_than_s=0) == 1
    assert kept.exists() and not forgotten.exists()


def test_a_results_folder_open_to_others_or_a_link_is_not_used(tmp_path: Path) -> None:
    import pytest

    from runner.errors import JobError
    from runner.stored_results import keep_result

    open_folder = tmp_path / "open"
    open_folder.mkdir(mode=0o755)
    open_folder.chmod(0o755)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    for folder in (open_folder, link):
        with pytest.raises(JobError, match="not a private folder of yours"):
            keep_result("x" * LARGE, folder, 1024, "job")
    assert list(open_folder.iterdir()) == [] and list((tmp_path / "elsewhere").iterdir()) == []


def test_only_a_result_that_may_be_large_is_looked_at_closely() -> None:
    # Small for sure: kept inline without encoding it on a thread (a fetch's summary is such a dict).
    assert not needs_keeping({"status": 200, "bytes": 1234, "url": "http://127.0.0.1/x", "ok": True})
    assert not needs_keeping([1.5, None, "x" * 100, {"nested": [1, 2, 3]}])
    assert not needs_keeping({"stored_result_file": "/r/f", "size_bytes": 10**6, "preview": "…"})
    # May be large: keep_result encodes it and decides.
    assert needs_keeping("x" * INLINE_BYTES)
    assert needs_keeping(list(range(10_000)))
    assert needs_keeping(10**100_000)
    assert needs_keeping({"rows": [["x" * 100] * 10] * 100})
    assert needs_keeping(object())
