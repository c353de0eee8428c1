"""Benchmark: 40 CPU-bound call jobs of ~0.1 s on 2 worker processes, against ProcessPoolExecutor(2).map.

The job is a pure-Python loop in a tasks.py beside the generated deck, calibrated on this machine to take
about 0.1 s. Both sides include starting and stopping their processes. Target: jobdeck at most 1.1x.

    .venv/bin/python bench/bench_process.py [--repeat 5] [--verbose]
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _common import log, median, repeat_parser, report_line, run_deck, spread, toml_list, write_deck

JOBS = 40
PROCESSES = 2
JOB_SECONDS = 0.1
TARGET = 1.1
MODULE = "bench_process_tasks"
TASKS = '''"""CPU work for bench_process: a pure-Python loop."""


def spin(rounds: int) -> int:
    total = 0
    for number in range(rounds):
        total += number * number % 7
    return total
'''


def calibrate(spin: Callable[[int], int], seconds: float) -> int:
    """How many rounds of `spin` take about `seconds` here (the best of a few tries, so load only slows it)."""
    probe = 200_000
    best = min(_time_call(spin, probe) for _ in range(5))
    rounds = int(probe * seconds / best)
    best = min(_time_call(spin, rounds) for _ in range(3))
    return int(rounds * seconds / best)


def _time_call(spin: Callable[[int], int], rounds: int) -> float:
    started = time.perf_counter()
    spin(rounds)
    return time.perf_counter() - started


def process_deck(folder: Path, rounds: int) -> Path:
    text = f"""[deck]
name = "bench-process"
process_limit = {PROCESSES}

[[job]]
name = "spin"
call = "{MODULE}:spin"
each = {toml_list(range(1, JOBS + 1))}
args = [{rounds}]
"""
    return write_deck(folder, "process", text)


def baseline(spin: Callable[[int], int], rounds: int) -> float:
    started = time.perf_counter()
    with ProcessPoolExecutor(PROCESSES) as pool:
        results = list(pool.map(spin, [rounds] * JOBS))
    elapsed = time.perf_counter() - started
    assert len(results) == JOBS
    return elapsed


def main(argv: list[str] | None = None) -> int:
    options = repeat_parser(__doc__.splitlines()[0], 5).parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder_name:
        folder = Path(folder_name)
        (folder / f"{MODULE}.py").write_text(TASKS)
        sys.path.insert(0, str(folder))  # so the pool's workers can unpickle a reference to spin
        spin: Callable[[int], int] = importlib.import_module(MODULE).spin
        rounds = calibrate(spin, JOB_SECONDS)
        one_job = min(_time_call(spin, rounds) for _ in range(3))
        deck = process_deck(folder, rounds)
        jobdeck: list[float] = []
        baselines: list[float] = []
        for round_number in range(1, options.repeat + 1):
            jobdeck.append(run_deck(deck).total_s)
            baselines.append(baseline(spin, rounds))
            figures = f"jobdeck {jobdeck[-1]:.3f} s, baseline {baselines[-1]:.3f} s"
            log(f"round {round_number}: {figures}", verbose=options.verbose)
    print(report_line("process", median(jobdeck), "ProcessPoolExecutor(2).map", median(baselines), TARGET))
    print(f"  jobdeck runs {spread(jobdeck)} s, baseline runs {spread(baselines)} s, {options.repeat} rounds")
    paired = [mine / theirs for mine, theirs in zip(jobdeck, baselines, strict=True)]
    print(f"  per-round ratios {spread(paired)}, median {median(paired):.2f} (less sensitive to load that drifts)")
    print(
        f"  one job: spin({rounds:,}) took {one_job:.3f} s in this process; "
        f"ideal {JOBS} x {one_job:.3f} / {PROCESSES} = {JOBS * one_job / PROCESSES:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
