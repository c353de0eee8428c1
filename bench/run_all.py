"""Run every benchmark one after another (never in parallel: they would disturb each other), then summarise.

    .venv/bin/python bench/run_all.py [--repeat N] [--only fetch process threads shell]

Each benchmark prints jobdeck's figure next to a baseline measured in the same run; the summary repeats
the verdict lines. Exit status 0 when every target was met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = ("fetch", "process", "threads", "shell")
HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, help="rounds per benchmark (default: each benchmark's own)")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, default=list(BENCHMARKS), help="benchmarks to run")
    options = parser.parse_args(argv)
    verdicts: list[str] = []
    for name in options.only:
        command = [sys.executable, str(HERE / f"bench_{name}.py")]
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
