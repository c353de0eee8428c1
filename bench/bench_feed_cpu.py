"""The CPU an attached dashboard costs while it watches a busy deck: the server's and the dashboard's own.

    .venv/bin/python bench/bench_feed_cpu.py [--repeat 3] [--before DIR]

A server process runs 10,000 thread jobs of 12 ms (`thread_limit = 8`, about 1,000 state changes a second) while
a headless dashboard in this process is attached to it, until every job has succeeded. Printed per round: the
wall time, the server's CPU (from /proc/PID/stat) and this process's (the dashboard, its start included).
`--before DIR` runs the same round with another checkout's code in every process, taking turns with this one
(each round is a process of its own, with PYTHONPATH naming the checkout). No target: a figure to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOBS = 10_000
TASKS = "import time\n\n\ndef nap(seconds):\n    time.sleep(seconds)\n"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def one_round() -> None:
    """One attached run in this process; prints `wall server dashboard` in seconds."""
    import anyio
    from _common import toml_list, write_deck

    from runner.model import JobState
    from runner.server.client import Client, ensure_server
    from runner.server.remote import RemoteEngine
    from tui.app import JobdeckApp

    async def watch(folder: Path) -> None:
        (folder / "bench_feed_tasks.py").write_text(TASKS)
        deck = write_deck(
            folder,
            "busy",
            '[deck]\nname = "busy"\nthread_limit = 8\n\n[[job]]\nname = "nap"\ncall = "bench_feed_tasks:nap"\n'
            f'on = "thread"\nargs = [0.012]\neach = {toml_list(range(JOBS))}\n',
        )
        socket_path = folder / "run" / "s.sock"
        async with await ensure_server(socket_path, log_path=folder / "server.log") as client:
            server = client.server.pid
        server_before = cpu_seconds(server)
        app = JobdeckApp(files=[], engine_factory=lambda: RemoteEngine(socket_path, start_server=False))
        async with app.run_test(size=(120, 40)):
            async with await Client.connect(socket_path) as client:
                await client.request("load", path=str(deck), environ=dict(os.environ))
            started = time.monotonic()
            while app.engine is None or app.engine.counts()[JobState.SUCCEEDED] < JOBS:
                await anyio.sleep(0.2)
            wall = time.monotonic() - started
            server_cpu = cpu_seconds(server) - server_before
            dashboard_cpu = time.process_time()
            await app.stop_engine()  # the server too
        print(f"{wall:.2f} {server_cpu:.2f} {dashboard_cpu:.2f}")

    with tempfile.TemporaryDirectory(prefix="jdfeed", dir="/tmp") as name:  # a short socket path
        os.environ["JOBDECK_DB"] = str(Path(name) / "journal.db")
        anyio.run(watch, Path(name))


def run_side(code: Path) -> tuple[float, float, float]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed jobdeck runs: from compiled modules
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--one-round"],
        env=env,
        cwd="/tmp",  # not a checkout whose `runner` would come first on the path
        capture_output=True,
        text=True,
        check=True,
    )
    wall, server, dashboard = map(float, done.stdout.split()[-3:])
    return wall, server, dashboard


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each side (default 3)")
    parser.add_argument("--before", type=Path, help="another checkout, measured in turns with this one")
    parser.add_argument("--one-round", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.one_round:
        one_round()
        return 0
    here = Path(__file__).resolve().parent.parent
    sides = {"now": here, **({"before": options.before.resolve()} if options.before else {})}
    results: dict[str, list[tuple[float, float, float]]] = {side: [] for side in sides}
    for _ in range(options.repeat):
        for side, code in sides.items():
            results[side].append(run_side(code))
            wall, server, dashboard = results[side][-1]
            print(f"  {side}: wall {wall:.1f} s, server CPU {server:.2f} s, dashboard CPU {dashboard:.2f} s")
    for side, rounds in results.items():
        walls, servers, dashboards = zip(*rounds, strict=True)
        print(
            f"{side} ({sides[side]}): median of {len(rounds)} rounds: wall {statistics.median(walls):.1f} s, "
            f"server CPU {statistics.median(servers):.2f} s, dashboard CPU {statistics.median(dashboards):.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
