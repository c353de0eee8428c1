"""Where the journal's cost goes: the deck of bench_journal.py run plain, then with more and more of the
Recorder switched on, as the median over rounds of each round's ratio to the plain run.

    changes  the engine's change log is taken at every flush tick, nothing else
    rows     + the job rows made on the event loop, but nothing written
    full     + the writes: the whole journal

Each mode also shows the CPU of the event loop's thread (the engine's bottleneck) and of all the other threads
(the job threads, and the journal's writer), from /proc/self/task (Linux only).

    .venv/bin/python bench/bench_journal_parts.py [--repeat 10] [--jobs 50000]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio
from _common import median, repeat_parser, write_echo_deck

from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.journal.recorder import Recorder
from runner.journal.store import Journal
from runner.model import Deck

MODES = ("plain", "changes", "rows", "full")
MODULE = "bench_journal_parts_tasks"
THREAD_LIMIT = 8


def thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each of this process's threads, by native thread id; empty without /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds: dict[int, float] = {}
    try:
        thread_ids = os.listdir("/proc/self/task")
    except OSError:
        return seconds
    for thread_id in thread_ids:
        try:
            fields = Path(f"/proc/self/task/{thread_id}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        seconds[int(thread_id)] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def run(deck: Deck, mode: str, folder: Path) -> tuple[float, float, float]:
    """Seconds the run took, and the CPU seconds of the event loop's thread and of all the others meanwhile."""

    async def main() -> dict[int, float]:
        await journal_and_run()
        return thread_cpu()  # while the loop's worker threads are still there to count

    async def journal_and_run() -> None:
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

    loop_thread = threading.get_native_id()  # anyio.run runs the loop on this thread
    cpu_before = thread_cpu()
    started = time.perf_counter()
    cpu_after = anyio.run(main)
    elapsed = time.perf_counter() - started
    used = {thread: cpu - cpu_before.get(thread, 0.0) for thread, cpu in cpu_after.items()}
    loop_cpu = used.pop(loop_thread, 0.0)
    return elapsed, loop_cpu, sum(used.values())


def main(argv: list[str] | None = None) -> int:
    parser = repeat_parser(__doc__.splitlines()[0], 10)
    parser.add_argument("--jobs", type=int, default=50_000)
    options = parser.parse_args(argv)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    loop_cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    other_cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder_name:
        folder = Path(folder_name)
        deck = load_deck(write_echo_deck(folder, "bench-journal", MODULE, options.jobs, THREAD_LIMIT))
        run(deck, "plain", folder)  # warm up
        for round_number in range(options.repeat):
            order = MODES if round_number % 2 == 0 else MODES[::-1]
            for mode in order:
                elapsed, loop, others = run(deck, mode, folder)
                times[mode].append(elapsed)
                loop_cpu[mode].append(loop)
                other_cpu[mode].append(others)
    print(f"journal parts: {options.jobs} jobs, {options.repeat} rounds; plain median {median(times['plain']):.3f} s")
    for mode in MODES:
        cpu = f"CPU: event loop {median(loop_cpu[mode]):.2f} s, other threads {median(other_cpu[mode]):.2f} s"
        if mode == "plain":
            print(f"  {mode:8} {'':33} {cpu}")
            continue
        ratios = [with_part / plain for with_part, plain in zip(times[mode], times["plain"], strict=True)]
        quartiles = statistics.quantiles(ratios, n=4)
        print(f"  {mode:8} ratio {median(ratios):.3f} (quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}) {cpu}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
