"""Experiment: which arrangement of httpx clients makes jobdeck's fetches fastest under concurrency.

Runs the fetch benchmark's deck (1500 fetches, fetch_limit 50) through the Engine with FetchKind variants
that differ only in how clients are created, shared or borrowed, next to two plain scripts (one shared
client; one client per task), against demo server processes. Rounds are interleaved; medians are printed,
with the number of TCP connections each run opened (counted by wrapping httpcore's connect in this process).

`--origins 4` spreads the fetches over 4 origins, interleaved (two servers, each reached as 127.0.0.1 and
as localhost): that is where keeping idle clients by origin matters.

    .venv/bin/python bench/fetch_arrangements.py [--repeat 3] [--origins 1|2|4] [--only NAME ...]
"""

from __future__ import annotations

import itertools
import math
import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import httpcore
import httpx
from _common import median, repeat_parser, run_deck, write_deck
from bench_fetch import (
    CONCURRENCY,
    FETCHES,
    DemoServerProcess,
    Sample,
    demo_server,
    measure,
    shared_client_baseline,
)

from runner.kinds import fetch
from runner.kinds.base import AttemptContext, JobKind
from runner.kinds.call import CallKind
from runner.kinds.fetch import FetchKind
from runner.kinds.shell import ShellKind
from runner.model import FetchSpec, Kind

_SSL_CONTEXT: list[Any] = []
_CONNECTIONS = [0]


def _count_connections() -> None:
    """Count every TCP connection httpcore opens in this process (instrumentation for this experiment only)."""
    connection_class: Any = httpcore.AsyncHTTPConnection
    connect = connection_class._connect

    async def counting_connect(self: Any, request: Any) -> Any:
        _CONNECTIONS[0] += 1
        return await connect(self, request)

    connection_class._connect = counting_connect


def _new_client(max_connections: int, max_keepalive: int | None = None) -> httpx.AsyncClient:
    """A client like fetch.py makes: building an SSL context costs ~20 ms, so every client shares one."""
    if not _SSL_CONTEXT:
        _SSL_CONTEXT.append(httpx.create_ssl_context())
    keepalive = max_connections if max_keepalive is None else max_keepalive
    return httpx.AsyncClient(
        verify=_SSL_CONTEXT[0],
        timeout=fetch.CLIENT_TIMEOUT,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=keepalive),
        headers={"User-Agent": fetch.USER_AGENT},
    )


class StockKind(JobKind):
    """A stock of idle clients; each running fetch borrows any one (fetch.py before origins), with chosen limits."""

    def __init__(self, max_connections: int, max_keepalive: int) -> None:
        self.max_connections = max_connections
        self.max_keepalive = max_keepalive
        self.idle: list[httpx.AsyncClient] = []

    async def __aexit__(self, *exc_info: Any) -> None:
        with anyio.CancelScope(shield=True):
            for client in self.idle:
                await client.aclose()

    def slot(self, spec: Any, settings: Any) -> tuple[str, int]:
        return "fetch", settings.fetch_limit

    async def run(self, attempt: AttemptContext) -> Any:
        spec = attempt.job.spec.work
        assert isinstance(spec, FetchSpec)
        client = self.idle.pop() if self.idle else _new_client(self.max_connections, self.max_keepalive)
        try:
            return await fetch._fetch(client, spec, attempt)
        finally:
            self.idle.append(client)


class RoundRobinKind(StockKind):
    """`count` clients handed out in turn, each allowing ceil(limit / count) connections."""

    def __init__(self, count: int, limit: int = CONCURRENCY) -> None:
        super().__init__(math.ceil(limit / count), math.ceil(limit / count))
        self.idle = [_new_client(self.max_connections) for _ in range(count)]
        self._turn = itertools.cycle(self.idle)

    async def run(self, attempt: AttemptContext) -> Any:
        spec = attempt.job.spec.work
        assert isinstance(spec, FetchSpec)
        return await fetch._fetch(next(self._turn), spec, attempt)


class FreshClientKind(StockKind):
    """A new client for every fetch, closed after it: no connection reuse at all."""

    def __init__(self) -> None:
        super().__init__(1, 1)

    async def run(self, attempt: AttemptContext) -> Any:
        spec = attempt.job.spec.work
        assert isinstance(spec, FetchSpec)
        async with _new_client(1) as client:
            return await fetch._fetch(client, spec, attempt)


ARRANGEMENTS: dict[str, Callable[[], JobKind]] = {
    "fetch.py now": FetchKind,
    "any idle client, 4 conns/2 keepalive (before)": lambda: StockKind(4, 2),
    "any idle client, 1 conn each": lambda: StockKind(1, 1),
    "shared client, 50 conns": lambda: RoundRobinKind(1),
    "2 clients round-robin, 25 conns each": lambda: RoundRobinKind(2),
    "5 clients round-robin, 10 conns each": lambda: RoundRobinKind(5),
    "10 clients round-robin, 5 conns each": lambda: RoundRobinKind(10),
    "25 clients round-robin, 2 conns each": lambda: RoundRobinKind(25),
    "50 clients round-robin, 1 conn each": lambda: RoundRobinKind(50),
    "fresh client per fetch": FreshClientKind,
}
PLAIN_SHARED = "plain script, one shared client"
PLAIN_PER_TASK = "plain script, a client per task"


def mixed_deck(folder: Path, bases: list[str]) -> Path:
    """FETCHES fetches of /page/{n}, the n-th from bases[n % len(bases)], so origins interleave."""
    urls = ", ".join(f'"{bases[item % len(bases)]}/page/{item}"' for item in range(1, FETCHES + 1))
    text = f"""[deck]
name = "bench-fetch-origins"
fetch_limit = {CONCURRENCY}

[[job]]
name = "page"
fetch = "{{item}}"
each = [{urls}]
"""
    return write_deck(folder, "fetch-origins", text)


async def client_per_task(urls: list[str]) -> None:
    """The plain script giving each of CONCURRENCY tasks a client of its own."""
    items = iter(urls)

    async def worker() -> None:
        async with _new_client(1) as client:
            for url in items:
                async with client.stream("GET", url) as response:
                    response.raise_for_status()
                    async for _ in response.aiter_bytes():
                        pass

    async with anyio.create_task_group() as task_group:
        for _ in range(CONCURRENCY):
            task_group.start_soon(worker)


async def shared_client(urls: list[str]) -> None:
    """shared_client_baseline over any list of URLs."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        items = iter(urls)

        async def worker() -> None:
            for url in items:
                response = await client.get(url)
                response.raise_for_status()

        async with anyio.create_task_group() as task_group:
            for _ in range(CONCURRENCY):
                task_group.start_soon(worker)


def _servers(stack: ExitStack, origins: int, http: str) -> Iterator[DemoServerProcess]:
    for _ in range(math.ceil(origins / 2)):
        yield stack.enter_context(demo_server(http=http))


def main(argv: list[str] | None = None) -> int:
    parser = repeat_parser(__doc__.splitlines()[0], 3)
    parser.add_argument("--only", nargs="*", default=None, help="substrings of arrangement names to run")
    parser.add_argument("--origins", type=int, choices=(1, 2, 4), default=1, help="origins the fetches go to")
    parser.add_argument("--http", choices=("auto", "h11", "httptools"), default="auto", help="the server's parser")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain scripts")
    parser.add_argument("--shuffle", action="store_true", help="run the arrangements in a new random order each round")
    options = parser.parse_args(argv)
    _count_connections()
    chosen = {
        name: make
        for name, make in ARRANGEMENTS.items()
        if options.only is None or any(part in name for part in options.only)
    }
    plain: dict[str, Callable[[list[str]], Any]] = {}
    if not options.no_baseline:
        plain = {PLAIN_SHARED: shared_client, PLAIN_PER_TASK: client_per_task}
    samples: dict[str, list[Sample]] = {name: [] for name in [*chosen, *plain]}
    connections: dict[str, list[int]] = {name: [] for name in samples}

    def record(name: str, server: DemoServerProcess, action: Callable[[], object]) -> None:
        _CONNECTIONS[0] = 0
        samples[name].append(measure(server, action))
        connections[name].append(_CONNECTIONS[0])
        if options.verbose:
            print(f"  {name}: {samples[name][-1].describe()}, {_CONNECTIONS[0]} connections", file=sys.stderr)

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jobdeck-bench-")))
        servers = list(_servers(stack, options.origins, options.http))
        server = servers[0]  # whose CPU is reported
        hosts = ("127.0.0.1", "localhost")
        bases = [each.url.replace("127.0.0.1", host) for each in servers for host in hosts][: options.origins]
        urls = [f"{bases[item % len(bases)]}/page/{item}" for item in range(1, FETCHES + 1)]
        deck = mixed_deck(folder, bases)
        anyio.run(shared_client_baseline, server.url, 100)
        for _ in range(options.repeat):
            order = list(chosen.items())
            if options.shuffle:
                random.shuffle(order)
            for name, make in order:

                def run(make: Callable[[], JobKind] = make) -> None:
                    # The kind is made inside the timed region: client creation counts.
                    run_deck(deck, kinds={Kind.FETCH: make(), Kind.CALL: CallKind(), Kind.SHELL: ShellKind()})

                record(name, server, run)
            for name, script in plain.items():
                record(name, server, lambda script=script: anyio.run(script, urls))
    print(f"{FETCHES} fetches, {CONCURRENCY} at once, over {options.origins} origin(s); {options.repeat} rounds")
    width = max(len(name) for name in samples)
    for name, runs in samples.items():
        walls = [run.wall_s for run in runs]
        client = median([run.client_cpu_s / run.wall_s for run in runs])
        server_load = median([run.server_cpu_s / run.wall_s for run in runs])
        print(
            f"{name:<{width}}  median {median(walls):.3f} s  (runs {min(walls):.3f}-{max(walls):.3f})  "
            f"connections {median(connections[name]):.0f}  client CPU {client:.2f}  server CPU {server_load:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
