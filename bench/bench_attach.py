"""Attaching to a busy server: how long a mirror of 10,000 jobs takes, and how soon a command shows.

    .venv/bin/python bench/bench_attach.py [--repeat 5]

A real server process (temporary socket and journal) runs a deck of 10,000 short thread jobs, about
1,000 state changes a second. Measured, as a client process sees it:
1. attach: connect and mirror every job (RemoteEngine), against the same deck's jobs encoded in-process
   (`job_to_dict` of 10,000 jobs, the floor of any snapshot) — reported as a plain time and a ratio;
2. command round trip: `pause` sent until the mirror shows the job paused, against the same command on an
   in-process engine until `changed_since` shows it (targets: median under 100 ms, worst under 250 ms,
   the dashboard's key-latency targets).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import anyio
from _common import median, repeat_parser, toml_list, write_deck

from runner.deck.parser import load_deck
from runner.engine.engine import Engine
from runner.model import JobState
from runner.server.client import ensure_server, stop_server
from runner.server.protocol import job_to_dict
from runner.server.remote import RemoteEngine

JOBS = 10_000
TASKS = "import time\n\n\ndef nap(seconds):\n    time.sleep(seconds)\n"


def deck_text() -> str:
    return (
        '[deck]\nname = "busy"\nthread_limit = 8\n\n'
        '[[job]]\nname = "nap"\ncall = "bench_attach_tasks:nap"\non = "thread"\nargs = [0.015]\n'
        f"each = {toml_list(range(JOBS))}\n"
    )


async def command_latency(engine: Engine | RemoteEngine, rounds: int) -> list[float]:
    """Seconds from sending pause until a queued job reads paused (then resume it)."""
    times: list[float] = []
    for _ in range(rounds):
        # The last queued job: far from starting, so a mirror that is a pull behind still reads it right.
        queued = max(
            (job for job in engine.jobs.values() if job.state is JobState.QUEUED),
            key=lambda job: job.order,
            default=None,
        )
        if queued is None:
            break
        started = time.perf_counter()
        await engine.pause(queued.id)
        while engine.jobs[queued.id].state is not JobState.PAUSED:
            await anyio.sleep(0.001)
        times.append(time.perf_counter() - started)
        await engine.resume(queued.id)
        await anyio.sleep(0.05)
    return times


async def measure(folder: Path, rounds: int) -> None:
    deck_path = write_deck(folder, "busy", deck_text())
    (folder / "bench_attach_tasks.py").write_text(TASKS)
    socket_path = folder / "run" / "s.sock"
    os.environ["JOBDECK_DB"] = str(folder / "journal.db")

    deck = load_deck(deck_path)
    async with Engine() as engine:
        await engine.add_deck(deck)
        started = time.perf_counter()
        [job_to_dict(job) for job in engine.jobs.values()]
        encode_s = time.perf_counter() - started
        local = await command_latency(engine, rounds)
        await engine.cancel_all()

    async with await ensure_server(socket_path) as client:
        await client.request("load", path=str(deck_path), environ=dict(os.environ))
    await anyio.sleep(1.0)  # let it get busy
    attach_times = []
    remote: list[float] = []
    for _ in range(3):
        started = time.perf_counter()
        async with RemoteEngine(socket_path, start_server=False) as mirror:
            attach_times.append(time.perf_counter() - started)
            assert len(mirror.jobs) == JOBS
            remote += await command_latency(mirror, rounds // 3)
    await anyio.to_thread.run_sync(stop_server, socket_path)

    attach = median(attach_times)
    print(
        f"attach: mirror of {JOBS:,} jobs in {attach:.2f} s (median of 3) | encoding them in-process {encode_s:.2f} s"
        f" | ratio {attach / encode_s:.1f}"
    )
    for name, values in (("in-process", local), ("attached", remote)):
        print(
            f"command round trip, {name}: median {statistics.median(values) * 1000:.1f} ms, "
            f"worst {max(values) * 1000:.1f} ms ({len(values)} commands)"
        )


def main(argv: list[str] | None = None) -> int:
    options = repeat_parser(__doc__.splitlines()[0], 30).parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jd", dir="/tmp") as folder:
        anyio.run(measure, Path(folder), options.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
