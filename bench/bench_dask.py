"""Benchmark: 200 CPU-bound call jobs of ~50 ms on a 2-worker Dask LocalCluster, against jobdeck's own pool.

Both decks run the same calibrated pure-Python loop from a tasks module beside them: one with
`process_limit = 2` (jobdeck's worker processes), one with `on = "dask"` and `dask = "local"` (a LocalCluster
of 2 single-threaded worker processes on 127.0.0.1, which jobdeck starts and stops inside the run). Start-up
and shutdown count on both sides. Dask is run twice: with the default `dask_limit` (= process_limit, so a
task is submitted only when one ends) and with 8 in flight, which hides Dask's round trip. Plain Dask is
measured too (a LocalCluster started the same way, `Client.map` of the same function, gather): what Dask
itself costs here, so that what jobdeck adds on top of it shows. No target: Dask costs some ms a task (more
on 2 cores, where its scheduler and client compete with the busy workers), and the figures say how many.

    .venv/bin/python bench/bench_dask.py [--repeat 3] [--verbose]
"""

from __future__ import annotations

import importlib
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import log, median, repeat_parser, run_deck, spread, toml_list, write_deck
from bench_process import TASKS, _time_call, calibrate

JOBS = 200
WORKERS = 2
JOB_SECONDS = 0.05
MODULE = "bench_dask_tasks"


def deck(folder: Path, name: str, rounds: int, *, dask_limit: int | None) -> Path:
    on_dask = dask_limit is not None
    settings = f'dask = "local"\ndask_limit = {dask_limit}\n' if on_dask else ""
    text = f"""[deck]
name = "{name}"
process_limit = {WORKERS}
{settings}
[[job]]
name = "spin"
call = "{MODULE}:spin"
{'on = "dask"' if on_dask else ""}
each = {toml_list(range(1, JOBS + 1))}
args = [{rounds}]
"""
    return write_deck(folder, name, text)


def plain_dask(spin: Callable[[int], int], rounds: int, folder: Path) -> float:
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    with (
        LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(sys.path.insert, 0, str(folder))  # so the workers can unpickle a reference to spin
        results = client.gather(client.map(spin, [rounds] * JOBS, pure=False))
    elapsed = time.perf_counter() - started
    assert len(results) == JOBS
    return elapsed


def main(argv: list[str] | None = None) -> int:
    options = repeat_parser(__doc__.splitlines()[0], 3).parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder_name:
        folder = Path(folder_name)
        (folder / f"{MODULE}.py").write_text(TASKS)
        sys.path.insert(0, str(folder))
        spin: Callable[[int], int] = importlib.import_module(MODULE).spin
        rounds = calibrate(spin, JOB_SECONDS)
        one_job = min(_time_call(spin, rounds) for _ in range(3))
        decks = {
            "process pool": deck(folder, "pool", rounds, dask_limit=None),
            f"dask, dask_limit {WORKERS}": deck(folder, "dask", rounds, dask_limit=WORKERS),
            "dask, dask_limit 8": deck(folder, "dask8", rounds, dask_limit=8),
        }
        times: dict[str, list[float]] = {label: [] for label in [*decks, "plain Dask"]}
        for round_number in range(1, options.repeat + 1):
            for label, path in decks.items():
                times[label].append(run_deck(path).total_s)
            times["plain Dask"].append(plain_dask(spin, rounds, folder))
            figures = ", ".join(f"{label} {values[-1]:.3f} s" for label, values in times.items())
            log(f"round {round_number}: {figures}", verbose=options.verbose)
    pool = median(times["process pool"])
    ideal = JOBS * one_job / WORKERS
    heading = f"dask: {JOBS} jobs of {one_job * 1000:.0f} ms on {WORKERS} workers; ideal {ideal:.2f} s"
    print(f"{heading}; medians of {options.repeat} rounds")
    for label, values in times.items():
        ratio = median(values) / pool
        overhead_ms = (median(values) - ideal) / JOBS * WORKERS * 1000
        print(
            f"  {label:<20} {median(values):.3f} s (runs {spread(values)}) | ratio to process pool {ratio:.2f} | "
            f"~{overhead_ms:.1f} ms a job over the ideal"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
