"""Benchmark: jobdeck against the fastest thing a user could write instead, whole processes side by side.

    .venv/bin/python bench/bench_limits.py [--repeat 5] [--only fetch shell cpu threads] [--before DIR] [--verbose]

Each row times `jobdeck run DECK` as a user starts it (a fresh process, its journal on, its lines going to a
file) against a plain program doing the same work, from start to exit, taking turns to go first. The medians'
ratio is compared with the row's target:

- fetch: 1,500 fetches, 50 at once, of a local server answering after 20 ms, against one aiohttp ClientSession
  with TCPConnector(limit=50) (`pip install -e '.[bench]'` for aiohttp; the row is skipped and said so without).
- shell: 500 `touch` jobs, 4 at once, against `xargs -P4 sh -c`.
- cpu: 40 CPU-bound call jobs of about 27 ms on 2 worker processes, against ProcessPoolExecutor(2).map.
- threads: 10,000 trivial thread call jobs (thread_limit 8), against 8 tasks calling anyio.to_thread.run_sync.

The dashboard's row (5,000 tiny jobs in the TUI against `jobdeck run`) is in bench_tui.py, the journal's
(100,000 state changes with and without it) in bench_journal.py; bench/run_all.py runs all of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from _common import PYTHON, log, median, repeat_parser, spread, toml_list, verdict
from bench_fetch import DemoServerProcess
from bench_process import calibrate

FETCHES, FETCH_LIMIT, LATENCY_S = 1500, 50, 0.02
SHELL_JOBS, SHELL_LIMIT = 500, 4
CPU_JOBS, CPU_PROCESSES, CPU_JOB_S = 40, 2, 0.027
THREAD_JOBS, THREAD_LIMIT = 10_000, 8
MODULE = "bench_limits_tasks"

TASKS = '''"""Work for bench_limits: a pure-Python loop and a function that does nothing."""


def spin(rounds: int) -> int:
    total = 0
    for number in range(rounds):
        total += number * number
    return total


def echo(value: int) -> int:
    return value
'''

AIOHTTP_SCRIPT = """
import asyncio, sys
import aiohttp

async def main(url, fetches, limit):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit)) as session:
        items = iter(range(1, fetches + 1))

        async def worker():
            for item in items:
                async with session.get(f"{url}/page/{item}") as response:
                    response.raise_for_status()
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(limit)))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""

POOL_SCRIPT = f"""
import sys
from concurrent.futures import ProcessPoolExecutor
from {MODULE} import spin

if __name__ == "__main__":
    with ProcessPoolExecutor({CPU_PROCESSES}) as pool:
        list(pool.map(spin, [int(sys.argv[1])] * {CPU_JOBS}))
"""

TO_THREAD_SCRIPT = f"""
import anyio
from {MODULE} import echo

async def main():
    limiter = anyio.CapacityLimiter({THREAD_LIMIT})
    items = iter(range({THREAD_JOBS}))

    async def worker():
        for item in items:
            await anyio.to_thread.run_sync(echo, item, limiter=limiter)

    async with anyio.create_task_group() as task_group:
        for _ in range({THREAD_LIMIT}):
            task_group.start_soon(worker)

anyio.run(main)
"""


@dataclass
class Row:
    name: str
    work: str
    baseline_label: str
    target: float
    jobdeck: list[str]
    baseline: list[str]
    before_each: Callable[[], None] = lambda: None
    """Run before each side of each round (outside the timing): emptying the shell row's output folder."""


class Bench:
    """A scratch folder holding the decks, the tasks module, the journal and jobdeck's own state."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / f"{MODULE}.py").write_text(TASKS)
        self.environ = dict(os.environ)
        self.environ.update(
            XDG_STATE_HOME=str(folder / "state"),
            XDG_CONFIG_HOME=str(folder / "config"),
            XDG_RUNTIME_DIR=str(folder / "runtime"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])),
        )
        self.environ.pop("JOBDECK_DB", None)
        self.environ.pop("JOBDECK_CONFIG", None)
        # As an installed jobdeck runs: from compiled modules (the warm-up round writes them), not compiling
        # some 240 modules at every start, which a PYTHONDONTWRITEBYTECODE left in the shell would cause.
        self.environ.pop("PYTHONDONTWRITEBYTECODE", None)

    def deck(self, name: str, settings: str, job: str) -> list[str]:
        path = self.folder / f"{name}.toml"
        path.write_text(f'[deck]\nname = "bench-{name}"\n{settings}\n\n[[job]]\nname = "{name}"\n{job}\n')
        return [PYTHON, "-m", "runner.cli.main", "run", "--db", str(self.folder / "journal.db"), str(path)]

    def script(self, name: str, text: str, *arguments: str) -> list[str]:
        path = self.folder / f"{name}.py"
        path.write_text(text)
        return [PYTHON, str(path), *arguments]

    def environ_with_code(self, checkout: Path) -> dict[str, str]:
        """The environment that runs the jobdeck of another checkout (its `runner` first on the path)."""
        return dict(self.environ, PYTHONPATH=os.pathsep.join([str(self.folder), str(checkout)]))

    def timed(self, command: list[str], environ: dict[str, str]) -> float:
        """Seconds from starting `command` until it exits; its output goes to a file, as when run from cron."""
        with open(self.folder / "output.log", "wb") as output:
            started = time.perf_counter()
            # In the scratch folder: `python -m` puts the current folder first on the path, where a checkout's
            # own `runner` would shadow the one PYTHONPATH names (--before).
            result = subprocess.run(command, env=environ, stdout=output, stderr=subprocess.STDOUT, cwd=self.folder)
            elapsed = time.perf_counter() - started
        if result.returncode != 0:
            tail = (self.folder / "output.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(command)} exited with {result.returncode}:\n{tail}")
        return elapsed


def calibrate_spin(seconds: float) -> int:
    """Rounds of the spin loop that take about `seconds` in this process (the workers run the same code)."""
    namespace: dict[str, object] = {}
    exec(TASKS, namespace)
    spin: Callable[[int], int] = namespace["spin"]  # type: ignore[assignment]
    return calibrate(spin, seconds)


def fetch_row(bench: Bench, url: str) -> Row:
    return Row(
        "fetch",
        f"{FETCHES:,} fetches, {FETCH_LIMIT} in flight, {LATENCY_S * 1000:.0f} ms latency",
        f"aiohttp ClientSession, TCPConnector(limit={FETCH_LIMIT})",
        1.0,
        bench.deck(
            "fetch",
            f"fetch_limit = {FETCH_LIMIT}",
            f'fetch = "{url}/page/{{item}}"\neach = {{ range = [1, {FETCHES + 1}] }}',
        ),
        bench.script("aiohttp_fetch", AIOHTTP_SCRIPT, url, str(FETCHES), str(FETCH_LIMIT)),
    )


def shell_row(bench: Bench) -> Row:
    out = bench.folder / "touched"

    def empty_folder() -> None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()

    return Row(
        "shell",
        f"{SHELL_JOBS} `touch` shell jobs, {SHELL_LIMIT} at once",
        f"xargs -P{SHELL_LIMIT} sh -c",
        1.2,
        bench.deck(
            "shell",
            f"shell_limit = {SHELL_LIMIT}",
            f'shell = "touch {out}/{{item}}"\neach = {{ range = [1, {SHELL_JOBS + 1}] }}',
        ),
        ["sh", "-c", f"seq {SHELL_JOBS} | xargs -P{SHELL_LIMIT} -I{{}} sh -c 'touch {out}/{{}}'"],
        empty_folder,
    )


def cpu_row(bench: Bench) -> Row:
    rounds = calibrate_spin(CPU_JOB_S)
    return Row(
        "cpu",
        f"{CPU_JOBS} CPU jobs of ~{CPU_JOB_S * 1000:.0f} ms on {CPU_PROCESSES} processes",
        f"ProcessPoolExecutor({CPU_PROCESSES}).map",
        1.10,
        bench.deck(
            "cpu",
            f"process_limit = {CPU_PROCESSES}",
            f'call = "{MODULE}:spin"\non = "process"\nargs = [{rounds}]\neach = {toml_list(range(CPU_JOBS))}',
        ),
        bench.script("process_pool", POOL_SCRIPT, str(rounds)),
    )


def threads_row(bench: Bench) -> Row:
    return Row(
        "threads",
        f"{THREAD_JOBS:,} trivial thread calls",
        f"{THREAD_LIMIT} tasks on anyio.to_thread.run_sync",
        1.2,
        bench.deck(
            "threads",
            f"thread_limit = {THREAD_LIMIT}",
            f'call = "{MODULE}:echo"\non = "thread"\nargs = ["{{item}}"]\neach = {{ range = [1, {THREAD_JOBS + 1}] }}',
        ),
        bench.script("to_thread", TO_THREAD_SCRIPT),
    )


def has_aiohttp() -> bool:
    return subprocess.run([PYTHON, "-c", "import aiohttp"], capture_output=True).returncode == 0


@contextmanager
def fetch_server() -> Iterator[str]:
    server = DemoServerProcess(latency=LATENCY_S, http="auto")
    try:
        yield server.url
    finally:
        server.stop()


def measure(bench: Bench, row: Row, repeat: int, *, before: Path | None, verbose: bool) -> None:
    """Rounds of each side, in turns (the order rotates each round); with `before`, also the jobdeck at that
    checkout (the same deck, its code first on PYTHONPATH) as a third side of every round."""
    sides: dict[str, tuple[list[str], dict[str, str]]] = {
        "jobdeck": (row.jobdeck, bench.environ),
        "baseline": (row.baseline, bench.environ),
    }
    if before is not None:
        sides["before"] = (row.jobdeck, bench.environ_with_code(before))
    times: dict[str, list[float]] = {side: [] for side in sides}
    for command, environ in sides.values():  # warm-up: the page cache, the server's first connections
        row.before_each()
        bench.timed(command, environ)
    order = list(sides)
    for round_number in range(1, repeat + 1):
        turn = round_number % len(order)
        for side in order[turn:] + order[:turn]:  # no side always runs first, on a cooler (or quieter) machine
            row.before_each()
            times[side].append(bench.timed(*sides[side]))
        figures = ", ".join(f"{side} {values[-1]:.3f} s" for side, values in times.items())
        log(f"{row.name} round {round_number}: {figures}", verbose=verbose)
    jobdeck_s, baseline_s = median(times["jobdeck"]), median(times["baseline"])
    ratio = jobdeck_s / baseline_s
    print(
        f"{row.name}: {row.work}: jobdeck run {jobdeck_s:.3f} s | {row.baseline_label} {baseline_s:.3f} s | "
        f"ratio {ratio:.2f} (target <= {row.target:g}) {verdict(ratio, row.target)}"
    )
    print(f"  runs over {repeat} rounds: " + ", ".join(f"{side} {spread(values)} s" for side, values in times.items()))
    if before is not None:
        before_s = median(times["before"])
        print(f"  before ({before}): {before_s:.3f} s, ratio {before_s / baseline_s:.2f}", flush=True)


ROWS = ("fetch", "shell", "cpu", "threads")


def main(argv: list[str] | None = None) -> int:
    parser = repeat_parser(__doc__.splitlines()[0], 5)
    parser.add_argument("--only", nargs="*", choices=ROWS, default=list(ROWS), help="rows to run")
    parser.add_argument("--before", type=Path, help="another checkout of jobdeck, run as a third side of each round")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-limits-") as folder_name, ExitStack() as stack:
        bench = Bench(Path(folder_name))
        for name in options.only:
            if name == "fetch":
                if not has_aiohttp():
                    print("fetch: skipped: aiohttp is not installed (pip install -e '.[bench]') no verdict")
                    continue
                row = fetch_row(bench, stack.enter_context(fetch_server()))
            else:
                row = {"shell": shell_row, "cpu": cpu_row, "threads": threads_row}[name](bench)
            measure(bench, row, options.repeat, before=options.before, verbose=options.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
