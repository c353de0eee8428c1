"""Benchmark: what job logs cost. Four shell jobs, each writing 100,000 short lines as fast as it can (`seq`), run
by the engine with and without `JobLogs` writing their files (10 MiB cap: every line is kept). Target: the run
with logs takes at most 1.5x the one without (the median over rounds of each round's ratio; a round runs both,
taking turns to go first). Also prints the CPU seconds of each and the size of the files.

    .venv/bin/python bench/bench_logs.py [--repeat 5] [--verbose]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import anyio
from _common import log, median, repeat_parser, spread, verdict, write_deck

from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.joblogs.keeper import JobLogs
from runner.model import Deck, JobState

JOBS = 4
LINES = 100_000
TARGET = 1.5


def run(deck: Deck, logs: Path | None) -> tuple[float, float]:
    """Seconds from entering the engine until it has settled and shut down (the last lines written), and the
    CPU seconds the process used meanwhile (the writer's thread too)."""

    async def main() -> tuple[float, float]:
        started, cpu_started = time.perf_counter(), time.process_time()
        engine = Engine()
        if logs is not None:
            engine.logs = JobLogs(logs)
        async with engine:
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
    logged: list[float] = []
    plain_cpu: list[float] = []
    logged_cpu: list[float] = []
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder_name:
        folder = Path(folder_name)
        text = f'[deck]\nname = "loud"\nshell_limit = {JOBS}\n\n[[job]]\nname = "seq"\nshell = "seq 1 {LINES}"\n'
        deck = load_deck(write_deck(folder, "loud", text + f"each = {list(range(JOBS))}\n"))
        run(deck, None)  # warm up
        size = 0
        for round_number in range(1, options.repeat + 1):
            logs = folder / f"logs-{round_number}"
            modes = [(plain, plain_cpu, None), (logged, logged_cpu, logs)]
            if round_number % 2 == 0:
                modes.reverse()
            for times, cpus, where in modes:
                elapsed, cpu = run(deck, where)
                times.append(elapsed)
                cpus.append(cpu)
            size = sum(path.stat().st_size for path in logs.rglob("*") if path.is_file())
            ratios.append(logged[-1] / plain[-1])
            log(
                f"round {round_number}: without {plain[-1]:.3f} s ({plain_cpu[-1]:.2f} s CPU), "
                f"with logs {logged[-1]:.3f} s ({logged_cpu[-1]:.2f} s CPU), ratio {ratios[-1]:.3f}",
                verbose=options.verbose,
            )
    ratio = median(ratios)
    lines = JOBS * LINES
    print(
        f"logs: {lines:,} lines; without {median(plain):.3f} s ({spread(plain)}, {median(plain_cpu):.2f} s CPU) | "
        f"with logs {median(logged):.3f} s ({spread(logged)}, {median(logged_cpu):.2f} s CPU, files "
        f"{size / 1e6:.1f} MB) | ratio {ratio:.3f} (target <= {TARGET:g}) {verdict(ratio, TARGET)}"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
