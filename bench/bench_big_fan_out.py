"""Benchmark: a fan-out of 1,000,000 items, checked (`jobdeck check`) and loaded into a real server.

- `check`: wall time and peak RSS of `jobdeck check FILE` as a user runs it. Target: under 3 s and 300 MB.
- `server`: a server with dispatching paused (nothing runs) loads the file; the time from the `load` request
  to its answer (the reply itself may be refused as too large: the deck is loaded anyway), and the server's RSS
  before and after. No target: reported.

    .venv/bin/python bench/bench_big_fan_out.py [--items 1000000] [--skip-server]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from _common import PYTHON

from runner.server.client import Client, ServerError

CHECK_TARGET_S = 3.0
CHECK_TARGET_BYTES = 300 * 2**20


def write_fan_out(folder: Path, items: int) -> Path:
    path = folder / "big.toml"
    listed = ", ".join(map(str, range(items)))
    path.write_text(
        f'[deck]\nname = "big"\nout_dir = "downloads"\n\n[[job]]\nname = "page"\n'
        f'fetch = "https://example.org/page/{{item}}"\nsave = "pages/{{item}}.html"\neach = [{listed}]\n'
    )
    return path


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def measure_check(path: Path) -> str:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run([PYTHON, "-m", "runner.cli", "check", str(path)], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    if before * 1024 >= peak:
        peak = -1  # an earlier child was bigger: ru_maxrss cannot tell
    met = elapsed < CHECK_TARGET_S and 0 < peak < CHECK_TARGET_BYTES
    return (
        f"check: {result.stdout.strip()} | {elapsed:.2f} s, peak RSS {peak / 2**20:.0f} MiB | "
        f"target < {CHECK_TARGET_S:g} s and < {CHECK_TARGET_BYTES // 2**20} MiB {'PASS' if met else 'FAIL'}"
    )


async def ask(socket: Path, op: str, **args: Any) -> Any:
    async with await Client.connect(socket) as client:
        return await client.request(op, **args)


def measure_server(folder: Path, path: Path, items: int) -> str:
    socket = folder / "s"
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        [PYTHON, "-m", "runner.server.server", "--socket", str(socket), "--db", str(folder / "journal.db")],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        while not socket.exists():
            time.sleep(0.05)
        anyio.run(lambda: ask(socket, "command", command="pause_all"))
        idle = rss_of(server.pid)
        started = time.perf_counter()
        try:
            anyio.run(lambda: ask(socket, "load", path=str(path), environ=dict(os.environ)))
        except ServerError as refused:
            if refused.kind != "too_large":
                raise
        elapsed = time.perf_counter() - started
        loaded = rss_of(server.pid)
        anyio.run(lambda: ask(socket, "stop"))
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
        log.close()
    return (
        f"server: load {elapsed:.1f} s | RSS idle {idle / 2**20:.0f} MiB, loaded {loaded / 2**20:.0f} MiB "
        f"({(loaded - idle) / items:.0f} B per item)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--skip-server", action="store_true")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jdbig", dir="/tmp") as folder_name:
        folder = Path(folder_name)
        path = write_fan_out(folder, options.items)
        print(measure_check(path), flush=True)
        if not options.skip_server:
            print(measure_server(folder, path, options.items), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
