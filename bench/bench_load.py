"""Benchmark: loading big decks. `load_deck` of two generated job files against `tomllib.load` of the same file,
the least any loader must do (read the file and parse its TOML), measured in the same round:

- `jobs`: 100,000 separate `[[job]]` tables, fetch, shell and call jobs in turn. Target: under 1 s.
- `fan-out`: one fetch job with `each` of 50,000 items and `save = "pages/{item}.html"`. Target: under 1 s.

Both sides read the file from the page cache; a round loads the deck and parses the TOML back to back, taking
turns to go first. The ratio to tomllib is shown to say how much checking costs beyond parsing.

    .venv/bin/python bench/bench_load.py [--repeat 5] [--verbose]
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import log, median, repeat_parser, spread, toml_list, write_deck

from runner.deck import load_deck

SEPARATE_JOBS = 100_000
FAN_OUT_ITEMS = 50_000
TARGET_S = 1.0
MODULE = "bench_load_tasks"
TASKS = '''"""The function the call jobs of the load benchmark name (never run)."""


def work(value: int) -> int:
    return value
'''


def separate_jobs_deck(folder: Path) -> Path:
    (folder / f"{MODULE}.py").write_text(TASKS)
    tables = ['[deck]\nname = "bench-load-jobs"\n']
    for number in range(SEPARATE_JOBS):
        if number % 3 == 0:
            work = f'fetch = "https://example.org/page/{number}"\nretries = 2'
        elif number % 3 == 1:
            work = f'shell = "echo {number}"\ntimeout = 30'
        else:
            work = f'call = "{MODULE}:work"\nargs = [{number}]\non = "thread"'
        tables.append(f'[[job]]\nname = "job-{number}"\n{work}\n')
    return write_deck(folder, "bench-load-jobs", "\n".join(tables))


def fan_out_deck(folder: Path) -> Path:
    text = f"""[deck]
name = "bench-load-fan-out"
out_dir = "downloads"

[[job]]
name = "page"
fetch = "https://example.org/page/{{item}}"
save = "pages/{{item}}.html"
each = {toml_list(range(FAN_OUT_ITEMS))}
"""
    return write_deck(folder, "bench-load-fan-out", text)


def parse_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def timed(load: Callable[[Path], Any], path: Path) -> float:
    gc.collect()  # the garbage of the previous load is not this one's cost
    started = time.perf_counter()
    load(path)
    return time.perf_counter() - started


def measure(name: str, path: Path, expected_jobs: int, repeat: int, verbose: bool) -> str:
    jobs = len(load_deck(path).jobs)  # warm up: imports, the page cache
    if jobs != expected_jobs:
        raise RuntimeError(f"{name}: the deck has {jobs} jobs, not {expected_jobs}")
    loads: list[float] = []
    parses: list[float] = []
    for round_number in range(1, repeat + 1):
        sides: list[tuple[list[float], Callable[[Path], Any]]] = [(loads, load_deck), (parses, parse_toml)]
        if round_number % 2 == 0:
            sides.reverse()
        for times, load in sides:
            times.append(timed(load, path))
        log(f"{name} round {round_number}: load_deck {loads[-1]:.3f} s, tomllib {parses[-1]:.3f} s", verbose=verbose)
    loaded, parsed = median(loads), median(parses)
    verdict = "PASS" if loaded < TARGET_S else "FAIL"
    return (
        f"load {name}: {jobs} jobs | load_deck {loaded:.3f} s ({spread(loads)}) | baseline (tomllib.load) "
        f"{parsed:.3f} s | ratio {loaded / parsed:.2f} | target < {TARGET_S:g} s {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    options = repeat_parser(__doc__.splitlines()[0], 5).parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder_name:
        folder = Path(folder_name)
        print(measure("jobs", separate_jobs_deck(folder), SEPARATE_JOBS, options.repeat, options.verbose))
        print(measure("fan-out", fan_out_deck(folder), FAN_OUT_ITEMS, options.repeat, options.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
