"""Benchmark: 2,000 fetches over 4 hosts with `host_limit = 4`, against 4 separate runs of 500 to one host each.

A counting server (runner.demo.counting_server) runs in its own process on 4 ports of 127.0.0.1 (4 hosts as
jobdeck counts them: host:port) with a latency per answer, and counts per port the requests in progress at once.

- together: one deck of 2,000 fetches, 500 to each host, `fetch_limit = 16`, `host_limit = 4`. The server must
  never see more than 4 requests (or connections) at once on any port.
- separate: the same 500 fetches to one host, `fetch_limit = 4`, as a deck of its own, the four one after another.
  Target: together's wall time <= 1.1x the four separate runs' (their sum): spreading the work over 4 hosts, each
  kept to 4 connections, costs no throughput against fetching from one host at a time.
- unlimited (no target): the together deck without `host_limit`, 16 fetches at once as well: what holding jobs
  back per host costs at the same concurrency (ideally 1.0x), and the counting server seeing 16 on one host.
- One separate run is shown too: with CPU to spare, together would take as long as one of them (4 hosts served
  side by side); on 2 shared cores 16 fetches at once are bound by CPU first.

    .venv/bin/python bench/bench_hosts.py [--repeat 3] [--latency 0.05] [--verbose]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import log, median, repeat_parser, report_line, run_deck, spread, write_deck

from runner.demo.counting_server import CountingServerProcess, Counts

HOSTS = 4
PER_HOST = 500
HOST_LIMIT = 4
TARGET = 1.1


def deck_text(name: str, urls: list[str], *, fetch_limit: int, host_limit: int | None) -> str:
    limit = f"host_limit = {host_limit}\n" if host_limit is not None else ""
    jobs = "".join(
        f'\n[[job]]\nname = "h{n}"\nfetch = "{url}/wait/0?n={{item}}"\neach = {list(range(PER_HOST))}\n'
        for n, url in enumerate(urls)
    )
    return f'[deck]\nname = "{name}"\nfetch_limit = {fetch_limit}\n{limit}{jobs}'


def peaks(counts: Counts) -> str:
    busy, opened = counts.peak_busy, counts.peak_open
    return ", ".join(f":{port} {busy[port]} busy/{opened[port]} open" for port in sorted(busy))


def main() -> None:
    parser = repeat_parser(__doc__.splitlines()[0], 3)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the server waits before each answer")
    options = parser.parse_args()
    together_s: list[float] = []
    sums_s: list[float] = []
    separate_s: list[float] = []
    unlimited_s: list[float] = []
    worst_busy = 0
    unlimited_peaks = ""
    with tempfile.TemporaryDirectory() as folder, CountingServerProcess(ports=HOSTS, latency=options.latency) as server:
        together = write_deck(
            Path(folder), "together", deck_text("together", server.urls, fetch_limit=16, host_limit=HOST_LIMIT)
        )
        singles = [
            write_deck(Path(folder), f"one{n}", deck_text(f"one{n}", [url], fetch_limit=HOST_LIMIT, host_limit=None))
            for n, url in enumerate(server.urls)
        ]
        unlimited = write_deck(
            Path(folder), "unlimited", deck_text("unlimited", server.urls, fetch_limit=16, host_limit=None)
        )
        for round_number in range(1, options.repeat + 1):
            server.reset()
            together_s.append(run_deck(together).engine_s)
            counts = server.counts
            assert len(counts.starts) == HOSTS * PER_HOST, len(counts.starts)
            worst_busy = max(worst_busy, *counts.peak_busy.values(), *counts.peak_open.values())
            log(f"round {round_number}: together {together_s[-1]:.3f} s; {peaks(counts)}", verbose=options.verbose)
            runs = [run_deck(single).engine_s for single in singles]
            separate_s += runs
            sums_s.append(sum(runs))
            log(f"round {round_number}: separate {' + '.join(f'{run:.3f}' for run in runs)} s", verbose=options.verbose)
            server.reset()
            unlimited_s.append(run_deck(unlimited).engine_s)
            unlimited_peaks = peaks(server.counts)
            log(f"round {round_number}: unlimited {unlimited_s[-1]:.3f} s; {unlimited_peaks}", verbose=options.verbose)
    name = "hosts (2,000 fetches over 4 hosts, host_limit 4)"
    print(report_line(name, median(together_s), "4 separate runs of 500, one after another", median(sums_s), TARGET))
    verdict = "PASS" if worst_busy <= HOST_LIMIT else "FAIL"
    print(f"  most requests or connections at once on one host, counted by the server: {worst_busy} {verdict}")
    print(
        f"  together {spread(together_s)} s; without host_limit {median(unlimited_s):.3f} s "
        f"(ratio {median(together_s) / median(unlimited_s):.2f}; {unlimited_peaks}); "
        f"one separate run {median(separate_s):.3f} s (ratio {median(together_s) / median(separate_s):.2f}); "
        f"latency {options.latency:g} s"
    )


if __name__ == "__main__":
    main()
