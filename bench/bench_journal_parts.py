"""Where the journal's cost goes: the deck of bench_journal.py run plain, then with more and more of the
Recorder switched on, as the median over rounds of each round's ratio to the plain run.

    changes  the engine's change log is taken at every flush tick, nothing else
    rows     + the job rows made on the event loop, but nothing written
    full     + the writes: the whole journal

    .venv/bin/python bench/bench_journal_parts.py [--repeat 10] [--jobs 50000]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _common import median, repeat_parser, write_echo_deck

from runner.deck import load_deck
from runner.engine import Engine
from runner.journal import Journal, Recorder
from runner.model import Deck

MODES = ("plain", "changes", "rows", "full")
MODULE = "bench_journal_parts_tasks"
THREAD_LIMIT = 8


def run(deck: Deck, mode: str, folder: Path) -> float:
    async def main() -> None:
        engine = Engine()
        if mode == "plain":
            async with engine:
                await engine.add_deck(deck)
                await engine.wait_until_settled()
            return
        db = folder / f"journal-{time.monotonic_ns()}.db"
        with Journal.open(db) as journal:
            recorder = Recorder(engine, journal)
            if mode in ("changes", "rows"):
                journal.write = lambda batch: None  # type: ignore[method-assign]
            if mode == "changes":

                async def take_changes_only() -> None:
                    engine.take_changes()

                recorder._collect = take_changes_only  # type: ignore[method-assign]
            async with recorder, engine:
                await engine.add_deck(deck)
                await engine.wait_until_settled()
        for path in folder.glob(f"{db.name}*"):
            path.unlink()

    started = time.perf_counter()
    anyio.run(main)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = repeat_parser(__doc__.splitlines()[0], 10)
    parser.add_argument("--jobs", type=int, default=50_000)
    options = parser.parse_args(argv)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder_name:
        folder = Path(folder_name)
        deck = load_deck(write_echo_deck(folder, "bench-journal", MODULE, options.jobs, THREAD_LIMIT))
        run(deck, "plain", folder)  # warm up
        for round_number in range(options.repeat):
            order = MODES if round_number % 2 == 0 else MODES[::-1]
            for mode in order:
                times[mode].append(run(deck, mode, folder))
    print(f"journal parts: {options.jobs} jobs, {options.repeat} rounds; plain median {median(times['plain']):.3f} s")
    for mode in MODES[1:]:
        ratios = [with_part / plain for with_part, plain in zip(times[mode], times["plain"], strict=True)]
        quartiles = statistics.quantiles(ratios, n=4)
        print(f"  {mode:8} ratio {median(ratios):.3f} (quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
