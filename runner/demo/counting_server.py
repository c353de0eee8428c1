"""A loopback HTTP/1.1 server on several ports that counts, per port, the connections open and the requests in
progress at once (their peaks), and notes when each request started: what per-host limits are measured by.

Endpoints (GET; a query string is ignored): ``/bytes/{n}`` (n bytes, sent in 16 KiB writes), ``/wait/{s}``
(a short body after s seconds), ``/retry-after/{key}/{s}`` (the first request for key gets 429 with
``Retry-After: s``, later ones 200), ``/stats`` (JSON of the counts; not counted itself), ``/reset`` (zeroes them).
A server-wide latency is waited before every answer. Used by the tests and bench/bench_hosts.py in a
process of their own (`CountingServerProcess`: ``python -m runner.demo.counting_server --ports 4 --latency 0.02``
prints one base URL per line). Connections are counted once they carry a request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CHUNK = 16 * 1024
_START_TIMEOUT_S = 10.0


@dataclass
class Counts:
    """What happened since the last reset (the peaks start from what was open and busy then)."""

    peak_open: Counter[int] = field(default_factory=Counter)
    peak_busy: Counter[int] = field(default_factory=Counter)
    connections: Counter[int] = field(default_factory=Counter)
    """Connections ever opened, per port."""
    starts: list[tuple[int, str, float]] = field(default_factory=list)
    """(port, path, time.monotonic()) of each request, as its request line arrived."""
    ends: list[tuple[int, str, float]] = field(default_factory=list)
    """(port, path, time.monotonic()) of each request, once its whole answer was written."""
    retried: set[str] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        return {
            "peak_open": dict(self.peak_open),
            "peak_busy": dict(self.peak_busy),
            "connections": dict(self.connections),
            "starts": self.starts,
            "ends": self.ends,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Counts:
        def counter(name: str) -> Counter[int]:
            return Counter({int(port): count for port, count in data[name].items()})

        def stamps(name: str) -> list[tuple[int, str, float]]:
            return [(int(port), str(path), float(at)) for port, path, at in data[name]]

        return cls(
            peak_open=counter("peak_open"),
            peak_busy=counter("peak_busy"),
            connections=counter("connections"),
            starts=stamps("starts"),
            ends=stamps("ends"),
        )


class CountingServerProcess:
    """The counting server in a process of its own, so that its clock is not held up by the measured process's
    threads; use as a context manager. `counts` asks it what it counted."""

    def __init__(self, *, ports: int = 1, latency: float = 0.0) -> None:
        command = [sys.executable, "-m", "runner.demo.counting_server", "--ports", str(ports)]
        self.process = subprocess.Popen([*command, "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.urls = [self.process.stdout.readline().strip() for _ in range(ports)]
        if not all(url.startswith("http://") for url in self.urls):
            self.stop()
            raise RuntimeError(f"the counting server did not start (it said {self.urls!r})")

    def __enter__(self) -> CountingServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def port(self, index: int = 0) -> int:
        return int(self.urls[index].rsplit(":", 1)[1])

    def reset(self) -> None:
        self._get("/reset")

    @property
    def counts(self) -> Counts:
        return Counts.from_json(json.loads(self._get("/stats")))

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"{self.urls[0]}{path}", timeout=30) as answer:
            body: bytes = answer.read()
            return body

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class CountingServer:
    """Serves `ports` ports of 127.0.0.1 on a thread of its own; use as a context manager."""

    def __init__(self, *, ports: int = 1, latency: float = 0.0) -> None:
        self.latency = latency
        self.counts = Counts()
        self._open: Counter[int] = Counter()
        self._busy: Counter[int] = Counter()
        self.urls: list[str] = []
        self._ports = ports
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()

    def __enter__(self) -> CountingServer:
        self._thread = threading.Thread(target=asyncio.run, args=(self.serve(),), name="counting server", daemon=True)
        self._thread.start()
        if not self._started.wait(_START_TIMEOUT_S):
            raise RuntimeError("the counting server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def reset(self) -> None:
        self.counts = Counts(peak_open=Counter(self._open), peak_busy=Counter(self._busy))

    def port(self, index: int = 0) -> int:
        return int(self.urls[index].rsplit(":", 1)[1])

    async def serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        servers = []
        for _ in range(self._ports):
            server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=1024)
            servers.append(server)
            self.urls.append(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            for server in servers:
                server.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("sockname")[1]
        counted = False
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                path = line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "/"
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # headers: GETs have no body
                if path.partition("?")[0] in ("/stats", "/reset"):  # the measurer's own connection is not counted
                    if path == "/reset":
                        self.reset()
                    await _answer(writer, 200, json.dumps(self.counts.as_json()).encode())
                    continue
                if not counted:
                    counted = True
                    self._open[port] += 1
                    self.counts.connections[port] += 1
                    self.counts.peak_open[port] = max(self.counts.peak_open[port], self._open[port])
                self.counts.starts.append((port, path, time.monotonic()))
                self._busy[port] += 1
                self.counts.peak_busy[port] = max(self.counts.peak_busy[port], self._busy[port])
                try:
                    if self.latency:
                        await asyncio.sleep(self.latency)
                    await self._route(path, writer)
                finally:
                    self._busy[port] -= 1
                self.counts.ends.append((port, path, time.monotonic()))
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            if counted:
                self._open[port] -= 1
            writer.close()

    async def _route(self, path: str, writer: asyncio.StreamWriter) -> None:
        parts = path.partition("?")[0].strip("/").split("/")
        if parts[0] == "bytes" and len(parts) == 2:
            size = int(parts[1])
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
            for start in range(0, size, CHUNK):
                writer.write(bytes(min(CHUNK, size - start)))
                await writer.drain()
            await writer.drain()
        elif parts[0] == "wait" and len(parts) == 2:
            await asyncio.sleep(float(parts[1]))
            await _answer(writer, 200, b"waited")
        elif parts[0] == "retry-after" and len(parts) == 3:
            if parts[1] in self.counts.retried:
                await _answer(writer, 200, b"ok")
            else:
                self.counts.retried.add(parts[1])
                await _answer(writer, 429, b"slow down", f"Retry-After: {parts[2]}\r\n")
        else:
            await _answer(writer, 404, b"no such page")


async def _answer(writer: asyncio.StreamWriter, status: int, body: bytes, extra: str = "") -> None:
    reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests"}[status]
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body)
    await writer.drain()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.demo.counting_server")
    parser.add_argument("--ports", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0)
    options = parser.parse_args(argv)
    server = CountingServer(ports=options.ports, latency=options.latency)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with server:
        print("\n".join(server.urls), flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
