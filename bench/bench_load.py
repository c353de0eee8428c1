"""Benchmark: loading big decks. `load_deck` of generated job files against `tomllib.load` of the same file, the
least any loader must do (read the file and parse its TOML), measured in the same round:

- `jobs`: 100,000 separate `[[job]]` tables, fetch, shell and call jobs in turn. tomllib alone needs more than
  1 s for so many tables on this machine, so the target is a ratio: load_deck at most 2x tomllib.
- `fan-out`: one fetch job with `each` of 100,000 items. Target: under 1 s.
- `fan-out-save`: one fetch job with `each` of 50,000 items and `save = "pages/{item}.html"`. Target: under 1 s.

Both sides read the file from the page cache; a round loads the deck and parses the TOML back to back, taking
turns to go first. `rtoml.loads` of the same text, the parser load_deck tries first, is shown too: the floor
of a load that reads the file at all.

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

import rtoml
from _common import log, median, repeat_parser, spread, toml_list, write_deck

from runner.deck import load_deck

SEPARATE_JOBS = 100_000
FAN_OUT_ITEMS = 100_000
SAVED_ITEMS = 50_000
TARGET_S = 1.0
TARGET_RATIO = 2.0
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


def fan_out_deck(folder: Path, name: str, items: int, *, save: bool) -> Path:
    save_line = 'save = "pages/{item}.html"\n' if save else ""
    text = f"""[deck]
name = "{name}"
out_dir = "downloads"

[[job]]
name = "page"
fetch = "https://example.org/page/{{item}}"
{save_line}each = {toml_list(range(items))}
"""
    return write_deck(folder, name, text)


def parse_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def parse_fast(path: Path) -> dict[str, Any]:
    return rtoml.loads(path.read_text(encoding="utf-8"))


def timed(load: Callable[[Path], Any], path: Path) -> float:
    gc.collect()  # the garbage of the previous load is not this one's cost
    started = time.perf_counter()
    load(path)
    return time.perf_counter() - started


def measure(name: str, path: Path, expected_jobs: int, *, ratio_target: bool, repeat: int, verbose: bool) -> str:
    jobs = len(load_deck(path).jobs)  # warm up: imports, the page cache
    if jobs != expected_jobs:
        raise RuntimeError(f"{name}: the deck has {jobs} jobs, not {expected_jobs}")
    loads: list[float] = []
    parses: list[float] = []
    fast_parses: list[float] = []
    for round_number in range(1, repeat + 1):
        sides: list[tuple[list[float], Callable[[Path], Any]]] = [
            (loads, load_deck),
            (parses, parse_toml),
            (fast_parses, parse_fast),
        ]
        if round_number % 2 == 0:
            sides.reverse()
        for times, load in sides:
            times.append(timed(load, path))
        log(
            f"{name} round {round_number}: load_deck {loads[-1]:.3f} s, tomllib {parses[-1]:.3f} s, "
            f"rtoml {fast_parses[-1]:.3f} s",
            verbose=verbose,
        )
    loaded, parsed = median(loads), median(parses)
    ratio = loaded / parsed
    if ratio_target:
        target, met = f"ratio <= {TARGET_RATIO:g}", ratio <= TARGET_RATIO
    else:
        target, met = f"< {TARGET_S:g} s", loaded < TARGET_S
    return (
        f"load {name}: {jobs} jobs | load_deck {loaded:.3f} s ({spread(loads)}) | baseline (tomllib.load) "
        f"{parsed:.3f} s | ratio {ratio:.2f} | rtoml.loads {median(fast_parses):.3f} s | target {target} "
        f"{'PASS' if met else 'FAIL'}"
    )


def main(argv: list[str] | None = None) -> int:
    options = repeat_parser(__doc__.splitlines()[0], 5).parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder_name:
        folder = Path(folder_name)
        decks = [
            ("jobs", separate_jobs_deck(folder), SEPARATE_JOBS, True),
            ("fan-out", fan_out_deck(folder, "bench-load-fan-out", FAN_OUT_ITEMS, save=False), FAN_OUT_ITEMS, False),
            ("fan-out-save", fan_out_deck(folder, "bench-load-save", SAVED_ITEMS, save=True), SAVED_ITEMS, False),
        ]
        for name, path, jobs, ratio_target in decks:
            line = measure(name, path, jobs, ratio_target=ratio_target, repeat=options.repeat, verbose=options.verbose)
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
