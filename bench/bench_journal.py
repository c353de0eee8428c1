"""Benchmark: the journal's cost. 50,000 trivial thread call jobs (100,000 state changes: queued -> running ->
succeeded) run by the engine with and without a Recorder writing to a fresh SQLite journal. Target: the
journaled run takes at most 1.05x the plain one (the median over rounds of each round's ratio; a round runs
both, back to back in one process, taking turns to go first). See the journal section of bench/README.md for
what the rest costs.

    .venv/bin/python bench/bench_journal.py [--repeat 5] [--verbose]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _common import log, median, repeat_parser, spread, verdict, write_echo_deck

from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.journal.recorder import Recorder
from runner.journal.store import Journal
from runner.model import Deck, JobState

JOBS = 50_000
THREAD_LIMIT = 8
TARGET = 1.05
MODULE = "bench_journal_tasks"


def run(deck: Deck, db: Path | None) -> tuple[float, float]:
    """Seconds from entering the engine until it has settled and shut down (and the journal is flushed), and
    the CPU seconds the process used meanwhile (all its threads: the journal's writer too)."""

    async def main() -> tuple[float, float]:
        started, cpu_started = time.perf_counter(), time.process_time()
        engine = Engine()
        if db is None:
            async with engine:
                await engine.add_deck(deck)
                await engine.wait_until_settled()
        else:
            with Journal.open(db) as journal:
                async with Recorder(engine, journal), engine:
                    await engine.add_deck(deck)
                    await engine.wait_until_settled()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if any(job.state is not JobState.SUCCEEDED for job in engine.jobs.values()):
            raise RuntimeError("some jobs did not succeed")
        return elapsed, cpu

    return anyio.run(main)


def main(argv: list[str] | None = None) -> int:
    options = repeat_parser(__doc__.splitlines()[0], 5).parse_args(argv)
    plain: list[float] = []
    journaled: list[float] = []
    plain_cpu: list[float] = []
    journaled_cpu: list[float] = []
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder_name:
        folder = Path(folder_name)
        deck = load_deck(write_echo_deck(folder, "bench-journal", MODULE, JOBS, THREAD_LIMIT))
        # Warm up both sides: imports, the thread pool, and the journal's own first-use costs (its SQL built and
        # cached, its code specialised), which would otherwise fall on the first journaled run only.
        run(deck, None)
        run(deck, folder / "warm-up.db")
        for round_number in range(1, options.repeat + 1):
            db = folder / f"journal-{round_number}.db"
            modes = [(plain, plain_cpu, None), (journaled, journaled_cpu, db)]
            if round_number % 2 == 0:
                modes.reverse()  # neither side always runs second, on a warmer (or busier) machine
            for times, cpus, path in modes:
                elapsed, cpu = run(deck, path)
                times.append(elapsed)
                cpus.append(cpu)
            log(
                f"round {round_number}: plain {plain[-1]:.3f} s ({plain_cpu[-1]:.2f} s CPU), "
                f"journaled {journaled[-1]:.3f} s ({journaled_cpu[-1]:.2f} s CPU), "
                f"ratio {journaled[-1] / plain[-1]:.3f}",
                verbose=options.verbose,
            )
        connection = sqlite3.connect(db)
        changes = connection.execute("SELECT count(*) FROM state_changes").fetchone()[0]
        succeeded = connection.execute("SELECT count(*) FROM jobs WHERE state = 'succeeded'").fetchone()[0]
        connection.close()
        size_mb = sum(path.stat().st_size for path in folder.glob(f"{db.name}*")) / 1e6
    # The ratio of each round's pair, run back to back, then their median: this machine's speed drifts by more
    # than the journal costs over a whole benchmark, much less within one pair.
    round_ratios = [with_journal / without for with_journal, without in zip(journaled, plain, strict=True)]
    ratio = median(round_ratios)
    print(
        f"journal: {JOBS} jobs, {changes} state changes recorded ({succeeded} jobs succeeded in the journal) | "
        f"plain {median(plain):.3f} s | journaled {median(journaled):.3f} s | "
        f"ratio {ratio:.3f} (median of {len(round_ratios)} rounds; target <= {TARGET:g}) {verdict(ratio, TARGET)}"
    )
    print(
        f"  round ratios {spread(round_ratios)}; ratio of the medians {median(journaled) / median(plain):.3f}; "
        f"database {size_mb:.1f} MB (with its WAL); runs: plain {spread(plain)} s, journaled {spread(journaled)} s"
    )
    print(
        f"  CPU (all threads, medians): plain {median(plain_cpu):.2f} s, journaled {median(journaled_cpu):.2f} s "
        f"(+{median(journaled_cpu) - median(plain_cpu):.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
