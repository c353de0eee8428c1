"""Benchmark: 500 `true` shell jobs, 4 at once, against GNU parallel -j4 (and, for reference, xargs -P4).

jobdeck runs each command with /bin/sh -c in its own process group; `seq 500 | parallel -j4 true` and
`seq 500 | xargs -P4 -n1 true` run the same 500 commands. Target: jobdeck at most 1x GNU parallel's wall
time. If GNU parallel is not installed (apt-get install parallel), that comparison is skipped and said so.

    .venv/bin/python bench/bench_shell.py [--repeat 5] [--verbose]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import log, median, repeat_parser, report_line, run_deck, spread, toml_list, write_deck

JOBS = 500
SHELL_LIMIT = 4
TARGET = 1.0


def shell_deck(folder: Path) -> Path:
    text = f"""[deck]
name = "bench-shell"
shell_limit = {SHELL_LIMIT}

[[job]]
name = "true"
shell = "true"
each = {toml_list(range(1, JOBS + 1))}
"""
    return write_deck(folder, "shell", text)


def gnu_parallel() -> str | None:
    """The path of GNU parallel, or None when missing (moreutils also ships a different `parallel`)."""
    path = shutil.which("parallel")
    if path is None:
        return None
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return path if "GNU parallel" in version else None


def time_pipeline(command: list[str]) -> float:
    """Wall time of `seq JOBS | command`, which must succeed."""
    started = time.perf_counter()
    seq = subprocess.Popen(["seq", str(JOBS)], stdout=subprocess.PIPE)
    assert seq.stdout is not None
    result = subprocess.run(command, stdin=seq.stdout, stdout=subprocess.DEVNULL)
    seq.stdout.close()
    seq.wait()
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or seq.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with status {result.returncode}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    options = repeat_parser(__doc__.splitlines()[0], 5).parse_args(argv)
    parallel = gnu_parallel()
    commands: dict[str, list[str]] = {"xargs -P4": ["xargs", f"-P{SHELL_LIMIT}", "-n1", "true"]}
    if parallel is not None:
        # --will-cite: parallel otherwise nags once per user about citing it.
        commands["GNU parallel -j4"] = [parallel, "--will-cite", f"-j{SHELL_LIMIT}", "true"]
    jobdeck: list[float] = []
    others: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder:
        deck = shell_deck(Path(folder))
        for round_number in range(1, options.repeat + 1):
            jobdeck.append(run_deck(deck).total_s)
            for name, command in commands.items():
                others[name].append(time_pipeline(command))
            figures = ", ".join(f"{name} {times[-1]:.3f} s" for name, times in others.items())
            log(f"round {round_number}: jobdeck {jobdeck[-1]:.3f} s, {figures}", verbose=options.verbose)
    jobdeck_s = median(jobdeck)
    if parallel is not None:
        parallel_s = median(others["GNU parallel -j4"])
        print(report_line("shell", jobdeck_s, "seq 500 | parallel -j4 true", parallel_s, TARGET))
    else:
        print(
            f"shell: jobdeck {jobdeck_s:.3f} s | baseline SKIPPED: GNU parallel is not installed "
            "(apt-get install -y parallel) | no verdict"
        )
    xargs_s = median(others["xargs -P4"])
    print(f"  for reference: seq 500 | xargs -P4 -n1 true {xargs_s:.3f} s (jobdeck / xargs {jobdeck_s / xargs_s:.2f})")
    runs = ", ".join(f"{name} {spread(times)} s" for name, times in others.items())
    print(f"  runs: jobdeck {spread(jobdeck)} s, {runs}, {options.repeat} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
