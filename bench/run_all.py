"""Run the benchmarks one after another (never in parallel: they would disturb each other), then summarise.

    .venv/bin/python bench/run_all.py [--repeat N] [--only limits tui journal fetch process threads shell]

By default, the rows of the table "against the fastest alternative" in bench/README.md: bench_limits.py
(fetch against aiohttp, shell against xargs -P4, short CPU jobs against ProcessPoolExecutor, thread calls
against anyio.to_thread), the dashboard's run against `jobdeck run` (bench_tui.py --only run) and the journal
(bench_journal.py). `--only` picks from those and the older benchmarks against plain-Python baselines. Each
benchmark prints jobdeck's figure next to a baseline measured in the same run; the summary repeats the verdict
lines. Exit status 0 when every target was met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS: dict[str, list[str]] = {
    "limits": ["bench_limits.py"],
    "tui": ["bench_tui.py", "--only", "run"],
    "journal": ["bench_journal.py"],
    "fetch": ["bench_fetch.py"],
    "process": ["bench_process.py"],
    "threads": ["bench_threads.py"],
    "shell": ["bench_shell.py"],
}
DEFAULT = ("limits", "tui", "journal")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, help="rounds per benchmark (default: each benchmark's own)")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, default=list(DEFAULT), help="benchmarks to run")
    options = parser.parse_args(argv)
    verdicts: list[str] = []
    for name in options.only:
        script, *arguments = BENCHMARKS[name]
        command = [sys.executable, str(HERE / script), *arguments]
        if options.repeat is not None:
            command += ["--repeat", str(options.repeat)]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        sys.stdout.write(result.stdout)
        if result.returncode != 0:
            sys.stdout.write(result.stderr)
            verdicts.append(f"{name}: ERROR (exit status {result.returncode})")
        else:
            verdicts += [line for line in result.stdout.splitlines() if line.endswith(("PASS", "FAIL", "no verdict"))]
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    print("== summary")
    for line in verdicts:
        print(line)
    return 0 if all(line.endswith("PASS") for line in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
