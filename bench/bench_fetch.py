"""Benchmark: 1500 fetches of /page/{n}, 50 at once, against a plain script sharing one httpx.AsyncClient.

The demo server runs in its own process (`python -m runner.demo.server --latency 0.02`). Each round runs
jobdeck's deck and the baseline against the same server; the medians are compared. Target: jobdeck's
wall time at most 0.6x the baseline's. The server's and this process's CPU use per phase are printed too,
to tell whether the client or the server is the bottleneck.

    .venv/bin/python bench/bench_fetch.py [--repeat 5] [--http auto|h11|httptools] [--verbose]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
from _common import PYTHON, median, repeat_parser, report_line, run_deck, spread, toml_list, write_deck

FETCHES = 1500
CONCURRENCY = 50
LATENCY_S = 0.02
TARGET = 0.6
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float

    def describe(self) -> str:
        return (
            f"{self.wall_s:.3f} s wall, client CPU {self.client_cpu_s / self.wall_s:.2f} cores, "
            f"server CPU {self.server_cpu_s / self.wall_s:.2f} cores"
        )


class DemoServerProcess:
    """`python -m runner.demo.server` in a child process; its URL is the first line it prints."""

    def __init__(self, *, latency: float, http: str) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "runner.demo.server", "--latency", str(latency), "--http", http],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.stop()
            raise RuntimeError(f"the demo server did not start (said {self.url!r})")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def demo_server(*, latency: float = LATENCY_S, http: str = "auto") -> Iterator[DemoServerProcess]:
    server = DemoServerProcess(latency=latency, http=http)
    try:
        yield server
    finally:
        server.stop()


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(server: DemoServerProcess, action: Callable[[], object]) -> Sample:
    server_before, client_before = server.cpu_seconds(), _own_cpu_seconds()
    started = time.perf_counter()
    action()
    wall = time.perf_counter() - started
    return Sample(wall, _own_cpu_seconds() - client_before, server.cpu_seconds() - server_before)


def fetch_deck(folder: Path, url: str, *, fetches: int = FETCHES, concurrency: int = CONCURRENCY) -> Path:
    text = f"""[deck]
name = "bench-fetch"
fetch_limit = {concurrency}

[[job]]
name = "page"
fetch = "{url}/page/{{item}}"
each = {toml_list(range(1, fetches + 1))}
"""
    return write_deck(folder, "fetch", text)


async def shared_client_baseline(url: str, fetches: int = FETCHES, concurrency: int = CONCURRENCY) -> None:
    """The plain script: one shared AsyncClient allowing `concurrency` connections, `concurrency` tasks."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        items = iter(range(1, fetches + 1))

        async def worker() -> None:
            for item in items:
                response = await client.get(f"{url}/page/{item}")
                response.raise_for_status()

        async with anyio.create_task_group() as task_group:
            for _ in range(concurrency):
                task_group.start_soon(worker)


def main(argv: list[str] | None = None) -> int:
    parser: argparse.ArgumentParser = repeat_parser(__doc__.splitlines()[0], 5)
    parser.add_argument("--http", choices=("auto", "h11", "httptools"), default="auto", help="the server's parser")
    options = parser.parse_args(argv)
    jobdeck: list[Sample] = []
    baseline: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder, demo_server(http=options.http) as server:
        deck = fetch_deck(Path(folder), server.url)
        anyio.run(shared_client_baseline, server.url, 100)  # warm the server up
        for round_number in range(1, options.repeat + 1):
            jobdeck.append(measure(server, lambda: run_deck(deck)))
            baseline.append(measure(server, lambda: anyio.run(shared_client_baseline, server.url)))
            if options.verbose:
                print(f"  round {round_number}: jobdeck {jobdeck[-1].describe()}", file=sys.stderr)
                print(f"  round {round_number}: baseline {baseline[-1].describe()}", file=sys.stderr)
    jobdeck_s = median([sample.wall_s for sample in jobdeck])
    baseline_s = median([sample.wall_s for sample in baseline])
    print(report_line("fetch", jobdeck_s, "one shared httpx.AsyncClient", baseline_s, TARGET))
    for label, samples in (("jobdeck", jobdeck), ("baseline", baseline)):
        walls = [sample.wall_s for sample in samples]
        client = median([sample.client_cpu_s / sample.wall_s for sample in samples])
        server_load = median([sample.server_cpu_s / sample.wall_s for sample in samples])
        print(
            f"  {label}: runs {spread(walls)} s over {len(walls)} rounds; median CPU: client {client:.2f} cores, "
            f"server {server_load:.2f} cores (one event loop saturates at ~1.0)"
        )
    ideal = FETCHES / CONCURRENCY * LATENCY_S
    print(f"  floor from latency alone: {ideal:.2f} s ({FETCHES} / {CONCURRENCY} x {LATENCY_S} s); 2 cores shared")
    return 0


if __name__ == "__main__":
    sys.exit(main())
