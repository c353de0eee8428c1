"""Keeping the journal within its age and size limits: the oldest finished runs go, kept runs stay."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import anyio

from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.journal.pruning import DAY_S, JournalLimits, used_bytes
from runner.journal.recorder import Recorder
from runner.journal.store import Journal, prune

WriteDeck = Callable[..., Path]


def record_decks(db: Path, *decks: Path) -> dict[str, str]:
    """Run the decks to the end, one after the other, journaled; returns each engine deck's journal run id."""

    async def main() -> dict[str, str]:
        with Journal.open(db) as journal:
            engine = Engine()
            async with Recorder(engine, journal) as recorder, engine:
                for deck in decks:
                    await engine.add_deck(load_deck(deck))
                    await engine.wait_until_settled()
                    await recorder.flush()
            return dict(recorder.run_ids)

    return anyio.run(main)


def count(db: Path, sql: str, *parameters: object) -> int:
    connection = sqlite3.connect(db)
    try:
        value: int = connection.execute(sql, parameters).fetchone()[0]
        return value
    finally:
        connection.close()


def age(db: Path, run_id: str, days: float) -> None:
    """Make a run look as if it was loaded, and last changed, `days` ago."""
    then = time.time() - days * DAY_S
    connection = sqlite3.connect(db)
    with connection:
        connection.execute("UPDATE decks SET loaded_at = ? WHERE id = ?", (then, run_id))
        connection.execute("UPDATE jobs SET updated_at = ? WHERE deck_id = ?", (then, run_id))
    connection.close()


def fan_out(write_deck: WriteDeck, name: str, items: int) -> Path:
    return write_deck(
        f'[deck]\nname = "{name}"\n[[job]]\nname = "add"\ncall = "tasks:add"\non = "thread"\n'
        f"each = {list(range(items))}\nargs = ['{{item}}', 1]\n",
        name=f"{name}.toml",
    )


def test_runs_older_than_the_age_limit_are_pruned_with_their_rows(write_deck: WriteDeck, tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    runs = record_decks(db, *(fan_out(write_deck, name, 30) for name in ("old", "older", "new")))
    age(db, runs["old"], 91)
    age(db, runs["older"], 120)
    batches_before = count(db, "SELECT count(*) FROM change_batches")

    with Journal.open(db) as journal:
        pruned = prune(journal, JournalLimits(max_age_s=90 * DAY_S, max_bytes=None), keep=())
        history = [run.name for run in journal.history()]

    assert pruned == [runs["older"], runs["old"]]  # oldest first
    assert history == ["new"]
    for table in ("jobs", "group_specs", "deck_names"):
        assert count(db, f"SELECT count(*) FROM {table} WHERE deck_id != ?", runs["new"]) == 0, table
    assert count(db, "SELECT count(*) FROM jobs WHERE deck_id = ?", runs["new"]) == 30
    assert 0 < count(db, "SELECT count(*) FROM change_batches") < batches_before  # the new run's stay


def test_over_the_size_limit_the_oldest_runs_go_until_it_fits_and_kept_runs_stay(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    db = tmp_path / "journal.db"
    runs = record_decks(db, *(fan_out(write_deck, name, 300) for name in ("first", "second", "third", "fourth")))
    with Journal.open(db) as journal:
        size = used_bytes(journal.connection)
        # One page less than the journal takes: the oldest run not held by a live engine ("first" is) must go,
        # and then it fits.
        limit = JournalLimits(max_age_s=None, max_bytes=size - 4096)
        pruned = prune(journal, limit, keep={runs["first"]})
        history = [run.name for run in journal.history()]
        assert used_bytes(journal.connection) <= size - 4096
        assert prune(journal, limit, keep={runs["first"]}) == []  # within the limit now: nothing more goes

    assert pruned == [runs["second"]]
    assert history == ["fourth", "third", "first"]
    assert count(db, "SELECT count(*) FROM jobs WHERE deck_id = ?", runs["second"]) == 0
    changes = count(db, "SELECT count(*) FROM change_batches, json_each(changes) WHERE value ->> 0 LIKE 'second/%'")
    assert changes == 0
    assert count(db, "SELECT count(*) FROM change_batches, json_each(changes) WHERE value ->> 0 LIKE 'third/%'") > 0
