"""Benchmark: the memory a real server keeps per finished job, and what it gives back when the deck is forgotten.

A server process (journal on) runs one deck of N trivial thread calls to the end. Its resident set size (RSS,
from /proc) is read idle, once every job has finished, and after `forget`; the difference, divided by N, is
the memory per finished job kept. The baseline, measured in the same run: a fresh Python process holding a
plain list of N dicts with the same data (id, deck, name, kind, state, one attempt's numbers, result).

    .venv/bin/python bench/bench_memory.py [--jobs 100000] [--tables] [--rounds 1] [--verbose]

The deck is one fan-out (`each` of N items); `--tables` writes N separate `[[job]]` tables instead. With
`--rounds R` the deck is loaded, run and forgotten R times: what forgetting leaves behind is reused, so the
server's RSS after the last round stays near that after the first.

Target: under 1 KB per finished job kept, and the memory back (within 10%) after forgetting. Linux only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from _common import ECHO_TASKS, PYTHON, log, write_deck, write_echo_deck

from runner.server.client import Client, ServerError

TARGET_BYTES_PER_JOB = 1024
BASELINE = """
import sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
before = rss()
now = time.time()
jobs = [
    {"id": f"bench-memory/echo[{n}]", "deck": "bench-memory", "name": f"echo[{n}]", "kind": "call",
     "state": "succeeded", "attempts": [{"number": 1, "started_at": now + n, "ended_at": now + n + 0.001,
     "outcome": "succeeded", "error": None, "active_s": 0.001, "worker": None}], "result": n}
    for n in range(1, int(sys.argv[1]) + 1)
]
print(rss() - before)
"""


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def ask(socket: Path, op: str, **args: Any) -> Any:
    async with await Client.connect(socket) as client:
        return await client.request(op, **args)


def finished_count(socket: Path) -> int:
    snapshot = anyio.run(lambda: ask(socket, "snapshot", since=2**62))  # counts only: no job changed since then
    counts = snapshot["counts"]
    return sum(counts.get(state, 0) for state in ("succeeded", "failed", "cancelled", "skipped"))


def settled_rss(pid: int) -> int:
    """RSS once it has stopped moving (the journal's last writes, freed buffers)."""
    last = rss_of(pid)
    for _ in range(20):
        time.sleep(0.5)
        now = rss_of(pid)
        if abs(now - last) < 256 * 1024:
            return now
        last = now
    return last


def baseline_bytes(jobs: int) -> int:
    return int(subprocess.run([PYTHON, "-c", BASELINE, str(jobs)], capture_output=True, text=True, check=True).stdout)


def write_tables_deck(folder: Path, name: str, module: str, jobs: int, thread_limit: int) -> Path:
    """The same calls as write_echo_deck's fan-out, one `[[job]]` table each."""
    (folder / f"{module}.py").write_text(ECHO_TASKS)
    tables = "".join(
        f'[[job]]\nname = "echo-{n}"\ncall = "{module}:echo"\non = "thread"\nargs = [{n}]\n\n'
        for n in range(1, jobs + 1)
    )
    return write_deck(folder, name, f'[deck]\nname = "{name}"\nthread_limit = {thread_limit}\n\n{tables}')


def run_deck(socket: Path, deck: Path, jobs: int, pid: int, verbose: bool) -> tuple[int, int]:
    """Load the deck, wait for its jobs to finish, forget it: the settled RSS once finished and once forgotten."""
    started = time.perf_counter()
    try:
        anyio.run(lambda: ask(socket, "load", path=str(deck), environ=dict(os.environ)))
    except ServerError as refused:  # the reply lists every job id: too large, yet the deck is loaded
        if refused.kind != "too_large":
            raise
    while finished_count(socket) < jobs:
        time.sleep(0.5)
    log(f"{jobs} jobs ran in {time.perf_counter() - started:.1f} s", verbose=verbose)
    finished = settled_rss(pid)
    anyio.run(lambda: ask(socket, "forget", finished=True))
    return finished, settled_rss(pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the deck (default 100000)")
    parser.add_argument("--tables", action="store_true", help="separate [[job]] tables instead of one fan-out")
    parser.add_argument("--rounds", type=int, default=1, help="load, run and forget the deck this often")
    parser.add_argument("--verbose", action="store_true")
    options = parser.parse_args(argv)
    jobs = options.jobs
    with tempfile.TemporaryDirectory(prefix="jdmem", dir="/tmp") as folder_name:
        folder = Path(folder_name)
        socket = folder / "s"
        write = write_tables_deck if options.tables else write_echo_deck
        deck = write(folder, "bench-memory", "bench_memory_tasks", jobs, thread_limit=8)
        env = {**os.environ, "JOBDECK_FORGET_AFTER": "never"}
        server = subprocess.Popen(
            [PYTHON, "-m", "runner.server.server", "--socket", str(socket), "--db", str(folder / "journal.db")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(folder / "server.log", "wb"),  # noqa: SIM115 - closed with the folder
        )
        try:
            while not socket.exists():
                time.sleep(0.05)
            anyio.run(lambda: ask(socket, "status"))  # imports done, one request served
            idle = settled_rss(server.pid)
            finished, forgotten = run_deck(socket, deck, jobs, server.pid, options.verbose)
            for round_number in range(2, options.rounds + 1):
                again = run_deck(socket, deck, jobs, server.pid, options.verbose)
                log(
                    f"round {round_number}: all finished {again[0] / 2**20:.0f} MiB, "
                    f"forgotten {again[1] / 2**20:.0f} MiB",
                    verbose=True,
                )
            anyio.run(lambda: ask(socket, "stop"))
            server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
    baseline = baseline_bytes(jobs)
    kept = finished - idle
    per_job = kept / jobs
    left = forgotten - idle
    print(
        f"memory: {jobs} finished jobs{' (tables)' if options.tables else ''} | server idle {idle / 2**20:.0f} MiB, "
        f"all finished {finished / 2**20:.0f} MiB, "
        f"forgotten {forgotten / 2**20:.0f} MiB | per finished job {per_job:.0f} B "
        f"({per_job * 100_000 / 2**20:.0f} MiB per 100,000) | baseline (list of dicts) {baseline / jobs:.0f} B | "
        f"ratio {per_job / (baseline / jobs):.2f} | after forget {left / 2**20:.1f} MiB above idle | "
        f"target < {TARGET_BYTES_PER_JOB} B/job and back within 10%: "
        f"{'PASS' if per_job < TARGET_BYTES_PER_JOB and left <= 0.1 * kept else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
