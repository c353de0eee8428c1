"""A small real HTTP server on 127.0.0.1 for `jobdeck demo`, the test suite and the benchmarks.

A plain ASGI app served by uvicorn. Endpoints (GET and HEAD unless said):

- ``/page/{n}``: a deterministic HTML page of about 2 KB that mentions n.
- ``/bytes/{n}?chunk=K&delay=S&nolength=1``: n bytes (byte i is ``i % 256``) in chunks of K (default 64 KiB),
  S seconds apart (default 0); Content-Length unless ``nolength=1`` (then chunked).
- ``/status/{code}``: that status (200-599) with a short body.
- ``/flaky/{key}?fail=N&code=C``: the first N (default 1) requests for key get C (default 503), then 200 "ok".
- ``/retry-after/{key}?fail=N&after=S&code=C``: the first N (default 1) get C (default 429) with
  ``Retry-After: S`` (default 1), then 200 "ok".
- ``/slow?delay=S``: 200 after S seconds (default 1).
- ``/echo`` (any method): JSON with method, path, query (name -> last value), query_string,
  headers (lower-cased name -> value) and body (text).
- ``/drop``: the connection is closed without any response.
- ``/files/{name}`` and ``/sent/{name}``: a file of the server's files folder, with ranges, validators and
  misbehaviour on request, and how much of it was sent (runner.demo.files).

Flaky and retry-after share one hit log keyed by key; use distinct keys for distinct tests.
A server-wide ``latency`` is slept before every response. Every response stops early when the
client goes away, so a slow or streaming request never outlives its client.

Run ``python -m runner.demo.server [--port P] [--latency S]``: the base URL is the first line on stdout,
and SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import uvicorn

from runner.demo.files import FileLog, answer, file_path, send_file, sent_response

Scope = Mapping[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Respond = Callable[[Send], Awaitable[None]]
Address = tuple[str, int]
ConnectionDropper = Callable[[Address], bool]

DEFAULT_CHUNK = 64 * 1024
_STATUSES_WITHOUT_BODY = frozenset({204, 304})
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


class HttpError(Exception):
    """Ends a request early with a plain-text answer, before any response was started."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query_string: str
    query: dict[str, str]
    headers: list[tuple[str, str]]
    body: bytes
    client: Address | None


class Route(NamedTuple):
    handler: Callable[[Request, str], Respond]  # checks the request, returns what sends the answer
    needs_segment: bool = False  # /name/{segment} rather than /name
    any_method: bool = False


# ---------------------------------------------------------------- responses


def _header_pairs(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def send_response(
    send: Send,
    status: int,
    body: bytes = b"",
    *,
    content_type: str = "text/plain; charset=utf-8",
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    if status in _STATUSES_WITHOUT_BODY:
        all_headers = list(headers)
        body = b""
    else:
        all_headers = [("content-type", content_type), ("content-length", str(len(body))), *headers]
    await send({"type": "http.response.start", "status": status, "headers": _header_pairs(all_headers)})
    await send({"type": "http.response.body", "body": body})


def text_response(status: int, text: str, *, headers: Iterable[tuple[str, str]] = ()) -> Respond:
    return partial(send_response, status=status, body=text.encode(), headers=tuple(headers))


# ---------------------------------------------------------------- parameters


def parse_int(name: str, raw: str, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise HttpError(400, f"{name} must be at least {minimum}, got {raw!r}")
    return value


def parse_float(name: str, raw: str, minimum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise HttpError(400, f"{name} must be a number, got {raw!r}") from None
    if not minimum <= value < float("inf"):  # also rejects NaN
        raise HttpError(400, f"{name} must be a finite number of at least {minimum}, got {raw!r}")
    return value


def int_param(query: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = query.get(name)
    return default if raw is None else parse_int(name, raw, minimum)


def float_param(query: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = query.get(name)
    return default if raw is None else parse_float(name, raw, minimum)


def status_param(raw: str | None, name: str, default: int) -> int:
    code = default if raw is None else parse_int(name, raw, 200)
    if code > 599:
        raise HttpError(400, f"{name} must be between 200 and 599, got {raw!r}")
    return code


# ---------------------------------------------------------------- content

_PAGE_SENTENCES = (
    "The deck runs jobs side by side and shows each one as it goes.",
    "A fetch job reads a URL and reports its progress byte by byte.",
    "Paused jobs hold still until they are resumed or cancelled.",
    "Failed attempts are retried with a growing delay between them.",
    "Shell commands stream their output into the log pane.",
    "Python functions report progress through their job context.",
)


def render_page(n: int) -> str:
    paragraphs = "\n".join(
        f"  <p>Page {n}, paragraph {index + 1}: {sentence} This text is the same every time page {n} is asked for.</p>"
        for index, sentence in enumerate(_PAGE_SENTENCES * 2)
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en">\n<head><meta charset="utf-8"><title>Demo page {n}</title></head>\n'
        f"<body>\n  <h1>Demo page {n}</h1>\n{paragraphs}\n"
        f'  <p><a href="/page/{n + 1}">Next: page {n + 1}</a></p>\n</body>\n</html>\n'
    )


def byte_pattern(offset: int, size: int) -> bytes:
    """The bytes at [offset, offset + size) of an endless 0, 1, ..., 255, 0, 1, ... stream."""
    repeats = (offset % 256 + size) // 256 + 1
    start = offset % 256
    return (bytes(range(256)) * repeats)[start : start + size]


# ---------------------------------------------------------------- the app


class DemoApp:
    """The ASGI application. Thread-safe hit log; everything else runs on the server's event loop."""

    def __init__(self, *, latency: float = 0.0, files: Path | None = None) -> None:
        self.latency = latency
        self.files = files
        """The folder `/files/{name}` serves, if any."""
        self.file_log = FileLog()
        self.drop_connection: ConnectionDropper | None = None
        self._hits: dict[str, list[float]] = {}
        self._hits_lock = threading.Lock()
        self._routes: dict[str, Route] = {
            "page": Route(self._page, needs_segment=True),
            "pages": Route(self._pages),
            "bytes": Route(self._bytes, needs_segment=True),
            "status": Route(self._status, needs_segment=True),
            "flaky": Route(self._flaky, needs_segment=True),
            "retry-after": Route(self._retry_after, needs_segment=True),
            "slow": Route(self._slow),
            "echo": Route(self._echo, any_method=True),
            "drop": Route(self._drop),
            "files": Route(self._file, needs_segment=True),
            "sent": Route(self._sent, needs_segment=True),
        }

    def hits(self, key: str) -> list[float]:
        with self._hits_lock:
            return list(self._hits.get(key, ()))

    def reset(self) -> None:
        with self._hits_lock:
            self._hits.clear()

    def _record_hit(self, key: str) -> int:
        """Log a request for key; returns how many came before it."""
        with self._hits_lock:
            times = self._hits.setdefault(key, [])
            times.append(time.monotonic())
            return len(times) - 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        try:
            respond = self._route(request)
        except HttpError as error:
            respond = text_response(error.status, str(error))
        await run_until_disconnect(self._after_latency(respond, send), receive)

    async def _after_latency(self, respond: Respond, send: Send) -> None:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        await respond(send)

    def _route(self, request: Request) -> Respond:
        name, _, segment = request.path.strip("/").partition("/")
        route = self._routes.get(name)
        if route is None or "/" in segment or bool(segment) != route.needs_segment:
            raise HttpError(404, "not found")
        if not route.any_method and request.method not in ("GET", "HEAD"):
            raise HttpError(405, f"{request.method} not allowed")
        return route.handler(request, segment)

    def _page(self, request: Request, n_text: str) -> Respond:
        n = parse_int("n", n_text, 0)
        body = render_page(n).encode()
        return partial(send_response, status=200, body=body, content_type="text/html; charset=utf-8")

    def _pages(self, request: Request, segment: str) -> Respond:
        """`/pages?count=N`: a JSON list of the first N pages, each `{"name": "page-1", "path": "/page/1"}`."""
        count = int_param(request.query, "count", 12)
        pages = [{"name": f"page-{n}", "path": f"/page/{n}"} for n in range(1, count + 1)]
        body = json.dumps(pages).encode()
        return partial(send_response, status=200, body=body, content_type="application/json")

    def _bytes(self, request: Request, n_text: str) -> Respond:
        size = parse_int("n", n_text, 0)
        chunk = int_param(request.query, "chunk", DEFAULT_CHUNK, minimum=1)
        delay = float_param(request.query, "delay", 0.0)
        with_length = request.query.get("nolength") != "1"
        return partial(stream_bytes, size=size, chunk=chunk, delay=delay, with_length=with_length)

    def _status(self, request: Request, code_text: str) -> Respond:
        code = status_param(code_text, "code", 200)
        return text_response(code, f"status {code}")

    def _flaky(self, request: Request, key: str) -> Respond:
        fail = int_param(request.query, "fail", 1)
        code = status_param(request.query.get("code"), "code", 503)
        if self._record_hit(key) < fail:
            return text_response(code, f"failing on purpose ({key})")
        return text_response(200, "ok")

    def _retry_after(self, request: Request, key: str) -> Respond:
        fail = int_param(request.query, "fail", 1)
        after = request.query.get("after", "1")
        parse_float("after", after, 0.0)  # checked, then sent as given: "0.5" stays "0.5"
        code = status_param(request.query.get("code"), "code", 429)
        if self._record_hit(key) < fail:
            return text_response(code, f"retry after {after} s ({key})", headers=[("retry-after", after)])
        return text_response(200, "ok")

    def _slow(self, request: Request, segment: str) -> Respond:
        delay = float_param(request.query, "delay", 1.0)
        return partial(respond_after, delay=delay)

    def _echo(self, request: Request, segment: str) -> Respond:
        document = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "query_string": request.query_string,
            "headers": join_headers(request.headers),
            "body": request.body.decode("utf-8", errors="replace"),
        }
        body = json.dumps(document).encode()
        return partial(send_response, status=200, body=body, content_type="application/json")

    def _file(self, request: Request, name: str) -> Respond:
        path = file_path(self.files, name)
        if path is None:
            raise HttpError(404, f"no file {name!r}")
        headers = join_headers(request.headers)
        reply = answer(path, headers, request.query)
        entry = self.file_log.note(
            name, {"range": headers.get("range"), "if_range": headers.get("if-range"), "status": reply.status}
        )
        client, dropper = request.client, self.drop_connection

        def drop() -> bool:
            return dropper is not None and client is not None and dropper(client)

        return partial(
            send_file,
            name=name,
            reply=reply,
            query=request.query,
            log=self.file_log,
            entry=entry,
            head=request.method == "HEAD",
            drop=drop,
        )

    def _sent(self, request: Request, name: str) -> Respond:
        body = sent_response(self.file_log, name)
        return partial(send_response, status=200, body=body, content_type="application/json")

    def _drop(self, request: Request, segment: str) -> Respond:
        drop = self.drop_connection
        if drop is None or request.client is None:
            raise HttpError(501, "this server cannot drop connections")
        return partial(drop_and_wait, drop=drop, client=request.client)


async def read_request(scope: Scope, receive: Receive) -> Request:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    query_string = scope["query_string"].decode("latin-1")
    client = scope.get("client")
    return Request(
        method=scope["method"],
        path=scope["path"],
        query_string=query_string,
        query=dict(parse_qsl(query_string, keep_blank_values=True)),
        headers=[(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in scope["headers"]],
        body=bytes(body),
        client=(client[0], client[1]) if client else None,
    )


def join_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


async def run_until_disconnect(work: Coroutine[Any, Any, None], receive: Receive) -> None:
    """Run work, cancelling it if the client goes away first."""
    async with asyncio.TaskGroup() as group:
        work_task = group.create_task(work)
        watcher = group.create_task(cancel_on_disconnect(receive, work_task))
        work_task.add_done_callback(lambda _: watcher.cancel())


async def cancel_on_disconnect(receive: Receive, task: asyncio.Task[None]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    task.cancel()


async def stream_bytes(send: Send, *, size: int, chunk: int, delay: float, with_length: bool) -> None:
    headers = [("content-type", "application/octet-stream")]
    if with_length:
        headers.append(("content-length", str(size)))
    await send({"type": "http.response.start", "status": 200, "headers": _header_pairs(headers)})
    offset = 0
    while offset < size:
        if offset:
            # Even with no delay this yields, so other connections progress and a disconnect is noticed:
            # uvicorn's send() returns at once for a gone client.
            await asyncio.sleep(delay)
        piece = byte_pattern(offset, min(chunk, size - offset))
        offset += len(piece)
        # uvicorn waits here while the client's socket is full, so a reader that stops reading stops the stream.
        await send({"type": "http.response.body", "body": piece, "more_body": offset < size})
    if size == 0:
        await send({"type": "http.response.body", "body": b""})


async def respond_after(send: Send, *, delay: float) -> None:
    await asyncio.sleep(delay)
    await send_response(send, 200, f"slept {delay} s".encode())


async def drop_and_wait(send: Send, *, drop: ConnectionDropper, client: Address) -> None:
    if not drop(client):
        await send_response(send, 500, b"connection to drop not found")
        return
    # Wait to be cancelled by the disconnect, so uvicorn never answers on our behalf.
    await asyncio.Event().wait()


# ---------------------------------------------------------------- the server


def bind_socket(host: str, port: int) -> socket.socket:
    # Naming the protocol matters: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP,
    # and without it every response split over two writes waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def uvicorn_dropper(server: uvicorn.Server) -> ConnectionDropper:
    """Abort the connection whose peer is `client`. Reaches into uvicorn's set of open connections:
    ASGI has no way to close a connection without answering."""

    def drop(client: Address) -> bool:
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None and tuple(transport.get_extra_info("peername") or ())[:2] == client:
                transport.abort()
                return True
        return False

    return drop


class DemoServer:
    """The demo app served by uvicorn from a background thread with its own event loop."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        http: str = "auto",
        files: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.app = DemoApp(latency=latency, files=files)
        self._http = http
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the demo server is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def latency(self) -> float:
        return self.app.latency

    def hits(self, key: str) -> list[float]:
        """Monotonic times of the requests to /flaky/{key} and /retry-after/{key}."""
        return self.app.hits(key)

    def reset(self) -> None:
        self.app.reset()

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the demo server is already started")
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            http=self._http,
            ws="none",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        self._server = server = uvicorn.Server(config)
        self.app.drop_connection = uvicorn_dropper(server)
        self._thread = threading.Thread(target=self._serve, args=(server, sock), name="demo-server", daemon=True)
        self._thread.start()
        self._wait_until_started(server)

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as error:  # SystemExit included: uvicorn exits that way when startup fails
            self._failure = error
        finally:
            sock.close()

    def _wait_until_started(self, server: uvicorn.Server) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            thread_ended = self._thread is None or not self._thread.is_alive()
            if thread_ended or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the demo server did not start") from self._failure
            time.sleep(0.002)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        self._server = self._thread = None

    def __enter__(self) -> DemoServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m runner.demo.server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added before every response")
    parser.add_argument("--http", choices=("auto", "h11", "httptools"), default="auto", help="uvicorn HTTP parser")
    parser.add_argument("--files", type=Path, default=None, help="a folder to serve as /files/NAME")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_requested = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop_requested.set())
    with DemoServer(host=args.host, port=args.port, latency=args.latency, http=args.http, files=args.files) as server:
        print(server.url, flush=True)
        # A timeout keeps the wait interruptible on every platform.
        while not stop_requested.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
