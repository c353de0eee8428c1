"""Benchmark: what a job added from the shell (`jobdeck add`) costs a real server, next to the same job written in
a job file, and how fast jobs are added.

A fresh server process (journal on) runs N trivial shell jobs (`true`) each way: a deck of N separate `[[job]]`
tables loaded at once, or N jobs added one `add` request at a time over one connection (as a script calling
`jobdeck add` in a loop would, less the start of a process per job). Its resident set size (RSS) is read idle
and once every job has finished; the growth divided by N is the memory per finished job. Also printed: adds
per second over one connection, and the wall time of one `jobdeck add` command (a process of its own, as a
user runs it).

    .venv/bin/python bench/bench_add.py [--jobs 3000] [--verbose]

Target: an added job costs at most 10% more than the same job in a file. Linux only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _common import PYTHON, log, write_deck
from bench_memory import ask, finished_count, settled_rss

from runner.server.client import Client
from runner.server.messages import Add
from runner.umask import current_umask

TARGET_RATIO = 1.10


def wait_finished(socket: Path, jobs: int) -> None:
    while finished_count(socket) < jobs:
        time.sleep(0.2)


async def add_jobs(socket: Path, folder: Path, jobs: int) -> float:
    """Add `jobs` shell jobs, one request each, over one connection; the seconds it took."""
    environ, umask = dict(os.environ), current_umask()
    started = time.perf_counter()
    async with await Client.connect(socket) as client:
        for _ in range(jobs):
            await client.call(Add(str(folder), environ, umask, deck="bench-added", shell="true"))
    return time.perf_counter() - started


def measure(folder: Path, jobs: int, *, added: bool, verbose: bool) -> tuple[int, float]:
    """A fresh server's growth from idle to N finished jobs, loaded from a file or added; and how long adding
    them took (0 for the file)."""
    socket = folder / ("added.sock" if added else "file.sock")
    env = {**os.environ, "JOBDECK_FORGET_AFTER": "never", "XDG_RUNTIME_DIR": str(folder)}
    journal = folder / ("added.db" if added else "file.db")
    server = subprocess.Popen(
        [PYTHON, "-m", "runner.server.server", "--socket", str(socket), "--db", str(journal)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "server.log", "ab"),  # noqa: SIM115 - closed with the folder
    )
    seconds = 0.0
    try:
        while not socket.exists():
            time.sleep(0.05)
        anyio.run(lambda: ask(socket, "status"))
        idle = settled_rss(server.pid)
        if added:
            seconds = anyio.run(add_jobs, socket, folder, jobs)
        else:
            tables = "".join(f'[[job]]\nname = "true-{n}"\nshell = "true"\n\n' for n in range(1, jobs + 1))
            deck = write_deck(folder, "bench-tables", f'[deck]\nname = "bench-tables"\n\n{tables}')
            anyio.run(lambda: ask(socket, "load", path=str(deck), environ=dict(os.environ)))
        wait_finished(socket, jobs)
        grown = settled_rss(server.pid) - idle
        log(f"{'added' if added else 'file'}: {grown / jobs:.0f} B/job", verbose=verbose)
        anyio.run(lambda: ask(socket, "stop"))
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    return grown, seconds


def command_time(folder: Path) -> float:
    """The wall time of one `jobdeck add` command, into a server that runs already."""
    socket = folder / "command.sock"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(folder), "JOBDECK_SOCKET": str(socket)}
    env["JOBDECK_DB"] = str(folder / "command.db")
    command = [PYTHON, "-m", "runner.cli"]
    subprocess.run([*command, "start-server"], env=env, check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run([*command, "add", "--", "true"], env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    subprocess.run([*command, "stop-server"], env=env, check=True, capture_output=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000, help="jobs each way (default 3000)")
    parser.add_argument("--verbose", action="store_true")
    options = parser.parse_args(argv)
    jobs = options.jobs
    with tempfile.TemporaryDirectory(prefix="jdadd", dir="/tmp") as folder_name:
        folder = Path(folder_name)
        in_file, _ = measure(folder, jobs, added=False, verbose=options.verbose)
        added, seconds = measure(folder, jobs, added=True, verbose=options.verbose)
        command_s = command_time(folder)
    ratio = added / in_file
    print(
        f"add: {jobs} finished shell jobs | in a file {in_file / jobs:.0f} B/job | added {added / jobs:.0f} B/job | "
        f"ratio {ratio:.2f} (target <= {TARGET_RATIO:.2f}: {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}) | "
        f"{jobs / seconds:.0f} adds/s over one connection | one `jobdeck add` command {command_s * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
