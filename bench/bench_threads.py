"""Benchmark: 10,000 trivial thread call jobs (thread_limit 8) against plain anyio.to_thread.run_sync loops.

Every measurement runs in a fresh Python process (this script re-run with --child), so each side's peak
memory (ru_maxrss) is its own. The ratio uses the concurrent baseline: 8 tasks pulling from one shared
iterator, each calling anyio.to_thread.run_sync with a CapacityLimiter(8). A strictly sequential
run_sync loop is shown for reference. Targets: jobdeck at most 2x the concurrent baseline's wall time,
and the jobdeck process's peak RSS under 250 MB.

    .venv/bin/python bench/bench_threads.py [--repeat 5] [--verbose]
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from _common import (
    PYTHON,
    log,
    median,
    repeat_parser,
    report_line,
    run_deck,
    spread,
    write_echo_deck,
)

JOBS = 10_000
THREAD_LIMIT = 8
TARGET = 2.0
MEMORY_LIMIT_MB = 250.0
MODULE = "bench_thread_tasks"
SIDES = ("jobdeck", "concurrent", "sequential")


async def concurrent_baseline(echo: Callable[[int], int]) -> None:
    limiter = anyio.CapacityLimiter(THREAD_LIMIT)
    items = iter(range(1, JOBS + 1))

    async def worker() -> None:
        for item in items:
            await anyio.to_thread.run_sync(echo, item, limiter=limiter)

    async with anyio.create_task_group() as task_group:
        for _ in range(THREAD_LIMIT):
            task_group.start_soon(worker)


async def sequential_baseline(echo: Callable[[int], int]) -> None:
    for item in range(1, JOBS + 1):
        await anyio.to_thread.run_sync(echo, item)


def child(side: str, folder: Path) -> dict[str, Any]:
    """One measurement in this (fresh) process: wall seconds and peak RSS in MB."""
    if side == "jobdeck":
        timing = run_deck(folder / "bench-threads.toml")
        elapsed, parse = timing.total_s, timing.parse_s
    else:
        sys.path.insert(0, str(folder))
        echo = importlib.import_module(MODULE).echo
        baseline = concurrent_baseline if side == "concurrent" else sequential_baseline
        started = time.perf_counter()
        anyio.run(baseline, echo)
        elapsed, parse = time.perf_counter() - started, 0.0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    return {"seconds": elapsed, "parse_seconds": parse, "peak_mb": peak_mb}


def measure(side: str, folder: Path) -> dict[str, Any]:
    output = subprocess.run(
        [PYTHON, __file__, "--child", side, "--folder", str(folder)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser: argparse.ArgumentParser = repeat_parser(__doc__.splitlines()[0], 5)
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        print(json.dumps(child(options.child, options.folder)))
        return 0
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder_name:
        folder = Path(folder_name)
        write_echo_deck(folder, "bench-threads", MODULE, JOBS, THREAD_LIMIT)
        for round_number in range(1, options.repeat + 1):
            for side in SIDES:
                runs[side].append(measure(side, folder))
            figures = ", ".join(f"{side} {runs[side][-1]['seconds']:.3f} s" for side in SIDES)
            log(f"round {round_number}: {figures}", verbose=options.verbose)
    seconds = {side: [run["seconds"] for run in runs[side]] for side in SIDES}
    peaks = {side: median([run["peak_mb"] for run in runs[side]]) for side in SIDES}
    jobdeck_s, concurrent_s = median(seconds["jobdeck"]), median(seconds["concurrent"])
    print(report_line("threads", jobdeck_s, f"{THREAD_LIMIT} tasks x anyio.to_thread.run_sync", concurrent_s, TARGET))
    memory_verdict = "PASS" if peaks["jobdeck"] < MEMORY_LIMIT_MB else "FAIL"
    print(
        f"threads memory: jobdeck peak RSS {peaks['jobdeck']:.0f} MB (target < {MEMORY_LIMIT_MB:.0f} MB) "
        f"{memory_verdict} | baselines {peaks['concurrent']:.0f} MB concurrent, {peaks['sequential']:.0f} MB sequential"
    )
    sequential_s = median(seconds["sequential"])
    parse_s = median([run["parse_seconds"] for run in runs["jobdeck"]])
    print(
        f"  for reference: sequential run_sync loop {sequential_s:.3f} s (jobdeck / sequential "
        f"{jobdeck_s / sequential_s:.2f}); jobdeck's figure includes {parse_s:.3f} s parsing the deck"
    )
    print("  runs: " + ", ".join(f"{side} {spread(seconds[side])} s" for side in SIDES) + f", {options.repeat} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
