"""Fetch jobs: one HTTP request with httpx, the body streamed to a file or discarded.

How clients are arranged, and why (bench/bench_fetch.py and bench/fetch_arrangements.py: 1500 fetches of
/page/{n}, 50 at once, from the demo server in its own process with 20 ms latency, on 2 shared cores; medians
of 5-9 rounds, several runs, so given as ranges):

- One shared AsyncClient allowing 50 connections: 7.5-9 s, with this process's CPU saturated and the server
  nearly idle (0.1 core). httpcore 1.0's pool rescans all its connections on every request and response,
  counting idle ones inside that scan (quadratic: 5 million is_idle() calls for 1500 requests), polls every
  idle socket (has_expired), and lets queued requests race for each freed connection and retry (httpx issue
  3215; httpcore PRs 924, 929 and 1035). Smaller pools are what help: 2 clients x 25 connections 4.3-5.4 s,
  5 x 10 2.3-2.7 s, 10 x 5 1.5-2.1 s, 25 x 2 1.5-1.8 s, 50 x 1 round-robin 1.4-1.8 s.
- So each running fetch borrows an idle client of its own, whose pool then holds one request and one
  connection: 1.5-1.9 s, level with the best round-robin within the noise (and within 1% of borrowing any idle
  client regardless of origin, in a 15-round A/B) and near a plain script giving each of 50 tasks its own
  client (1.2-1.4 s; the rest is the engine's per-job work). Unlike
  round-robin it never queues a fetch behind another fetch's connection (with the pool timeout off, behind a
  slow download for good). A fresh client per fetch, without keep-alive: 2.6-3.1 s; 34 s if each client
  builds its own SSL context (~20 ms), so all clients share one.
- Idle clients are kept by the origin of the connection they hold, and a fetch borrows one for its own
  origin: with fetches interleaved over 4 origins, 70 connections were opened for 1500 fetches, where
  borrowing any idle client opened ~800 (and took 2.4-2.6 s against 1.6-2.0 s on loopback; over TLS each new
  connection also costs a handshake). Beyond SPARE_IDLE_CLIENTS idle clients, a fetch to an origin with none
  idle takes over the least recently used one instead of making another, so a deck spanning many hosts
  keeps few sockets open.
"""

from __future__ import annotations

import email.utils
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
from anyio.abc import TaskGroup

from runner.deck.templates import expand_env
from runner.errors import JobError
from runner.kinds.base import AttemptContext, JobKind
from runner.kinds.fetch_resume import Download, Step
from runner.kinds.stalls import Flow, StallWatch
from runner.kinds.transfer_book import TransferBook, forget_parts
from runner.model import Deck, FetchSpec, JobSpec, Settings
from runner.redaction import redact_text, redact_url

RETRYABLE_STATUSES = frozenset({408, 429})
CLIENT_TIMEOUT = httpx.Timeout(30.0, read=60.0, pool=None)
USER_AGENT = "jobdeck/0.1"
STALL_WATCHED_TIMEOUT = httpx.Timeout(30.0, read=None, pool=None)
"""With a stall limit, it alone judges a silent server (counting only active time), not httpx's read timeout."""
PAUSE_HOLD_S = 2.0
"""How long a paused download that can be resumed keeps its connection (TCP flow control holds the sender)
before it lets it go, to ask for the rest with Range once resumed. A download that cannot be resumed keeps its
connection for as long as it is paused, as every download did before."""
SPARE_IDLE_CLIENTS = 64
"""Idle clients kept before a fetch to an origin with none idle takes over the least recently used one."""
CLIENT_LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=1)
"""A borrowed client serves one request at a time, so one connection is all it uses; the spare room means a
connection left busy by some mishap cannot stall the client's next fetch (the pool timeout is off)."""


class FetchKind(JobKind):
    def __init__(self) -> None:
        self._idle_clients: OrderedDict[httpx.AsyncClient, str] = OrderedDict()
        """Every idle client with the origin its kept-alive connection leads to, least recently used first."""
        self._idle_by_origin: dict[str, list[httpx.AsyncClient]] = {}
        """The same clients by origin, most recently used last."""
        self._ssl_context: Any = None
        self._stalls = StallWatch()
        self._watching: TaskGroup | None = None

    async def __aenter__(self) -> FetchKind:
        self._watching = anyio.create_task_group()
        await self._watching.__aenter__()
        self._watching.start_soon(self._stalls.run, name="download stall watch")
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        watching, self._watching = self._watching, None
        if watching is not None:
            watching.cancel_scope.cancel()
            await watching.__aexit__(None, None, None)
        clients = list(self._idle_clients)
        self._idle_clients.clear()
        self._idle_by_origin.clear()
        with anyio.CancelScope(shield=True):
            for client in clients:
                await client.aclose()

    def slot(self, spec: JobSpec, settings: Settings) -> tuple[str, int]:
        return "fetch", settings.fetch_limit

    async def deck_forgotten(self, deck: Deck, transfers: TransferBook | None) -> None:
        """No job of the deck continues its download now: remove the partial files they kept (one an attempt of
        another deck is writing stays) and what the book says of them."""
        await anyio.to_thread.run_sync(forget_parts, deck, transfers)

    def _borrow_client(self, origin: str) -> httpx.AsyncClient:
        """An idle client for this origin if there is one, else a new one or the least recently used one."""
        same_origin = self._idle_by_origin.get(origin)
        if same_origin:
            client = same_origin[-1]
        elif len(self._idle_clients) >= SPARE_IDLE_CLIENTS:
            client = next(iter(self._idle_clients))  # its pool closes the connection it kept elsewhere
        else:
            return self._new_client()
        self._take_idle(client)
        return client

    def _take_idle(self, client: httpx.AsyncClient) -> None:
        origin = self._idle_clients.pop(client)
        clients = self._idle_by_origin[origin]
        if clients[-1] is client:
            clients.pop()
        else:
            clients.remove(client)
        if not clients:
            del self._idle_by_origin[origin]

    def _give_back(self, client: httpx.AsyncClient, origin: str) -> None:
        self._idle_clients[client] = origin
        self._idle_by_origin.setdefault(origin, []).append(client)

    def _new_client(self) -> httpx.AsyncClient:
        if self._ssl_context is None:
            # Building an SSL context costs milliseconds; every client shares one.
            self._ssl_context = httpx.create_ssl_context()
        return httpx.AsyncClient(
            verify=self._ssl_context,
            timeout=CLIENT_TIMEOUT,
            limits=CLIENT_LIMITS,
            headers={"User-Agent": USER_AGENT},
        )

    async def run(self, attempt: AttemptContext) -> Any:
        spec = attempt.job.spec.work
        assert isinstance(spec, FetchSpec)
        origin = _origin(spec.url)
        client = self._borrow_client(origin)
        try:
            return await _fetch(client, spec, attempt, self._stalls)
        finally:
            self._give_back(client, origin)


def _origin(url: str) -> str:
    """Scheme and host:port of a URL as written (`${VAR}` templates unexpanded): which idle client suits it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


async def _fetch(
    client: httpx.AsyncClient, spec: FetchSpec, attempt: AttemptContext, stalls: StallWatch
) -> dict[str, Any]:
    try:
        url = expand_env(spec.url, attempt.environ)
        headers = {name: expand_env(value, attempt.environ) for name, value in spec.headers.items()}
        body = expand_env(spec.body, attempt.environ) if spec.body is not None else None
    except KeyError as missing:
        raise JobError(f"environment variable {missing.args[0]} is not set") from None
    request = _Request(client, spec.method, url, headers, body)
    download = await Download.open(spec, attempt)
    if download.offset:  # a retry or a restarted server: the bar starts where the partial file ends
        attempt.report_progress(download.offset, download.total, "bytes")
    stall_limit = spec.stall_timeout if spec.stall_timeout is not None else attempt.settings.stall_timeout
    try:
        step, status = await stalls.watch(
            stall_limit, attempt.pause, partial(_transfer, request, download, attempt, watched=stall_limit > 0)
        )
        result = await download.finish(step, status, redact_url(url))
    except BaseException:
        await download.abandon()
        raise
    if result.get("unchanged"):
        attempt.report_progress(result["bytes"] or 0, result["bytes"] or 0, "bytes")
    else:
        done = download.offset
        attempt.report_progress(done, done if download.total is None else download.total, "bytes")
    return result


@dataclass(frozen=True)
class _Request:
    client: httpx.AsyncClient
    method: str
    url: str
    headers: dict[str, str]
    body: str | None


async def _transfer(
    request: _Request, download: Download, attempt: AttemptContext, flow: Flow, *, watched: bool
) -> tuple[Step, int]:
    """Send requests until the body is whole (or needs no more): one, unless a pause let the connection go (then
    one for the rest once resumed) or a continuation was refused (then one for the whole)."""
    url = request.url
    try:
        while True:
            flow.wind()
            headers = {**request.headers, **download.request_headers()}
            timeout = STALL_WATCHED_TIMEOUT if watched else CLIENT_TIMEOUT
            attempt.throttle.sending_request()
            async with request.client.stream(
                request.method,
                url,
                headers=headers,
                content=request.body,
                timeout=timeout,
                extensions=attempt.throttle.request_extensions,
            ) as response:
                step = await download.begin(response, partial(_check_status, spec=download.spec))
                if step is Step.AGAIN:
                    continue
                if step is not Step.BODY:
                    return step, response.status_code
                if await _receive_body(response, download, attempt, flow):
                    return step, response.status_code
            # Paused past PAUSE_HOLD_S: the connection is let go; the rest is asked for once resumed.
            await download.record()
            await attempt.pause.wait_resumed()
    except httpx.TimeoutException as error:
        raise JobError(f"network timeout ({type(error).__name__}) for {redact_url(url)}", retryable=True) from None
    except httpx.TransportError as error:
        reason = redact_text(str(error)) or type(error).__name__
        raise JobError(f"network error for {redact_url(url)}: {reason}", retryable=True) from None
    except httpx.InvalidURL as error:
        raise JobError(f"invalid URL {redact_url(url)}: {redact_text(str(error))}") from None


def _check_status(response: httpx.Response, *, spec: FetchSpec) -> None:
    status = response.status_code
    succeeded = status in spec.expect if spec.expect is not None else 200 <= status < 300
    if succeeded:
        return
    message = f"HTTP {status} {response.reason_phrase}".rstrip()
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    retry_after = parse_retry_after(response.headers.get("retry-after")) if retryable else None
    raise JobError(message, retryable=retryable, retry_after=retry_after)


async def _receive_body(response: httpx.Response, download: Download, attempt: AttemptContext, flow: Flow) -> bool:
    """Write the body on from `download.offset`; True once it is whole, False when a pause let the connection go."""
    attempt.report_progress(download.offset, download.total, "bytes")
    pause = attempt.pause
    async for chunk in response.aiter_bytes():
        await download.write(chunk)
        flow.got(len(chunk))
        attempt.report_progress(download.offset, download.total, "bytes")
        await attempt.throttle.take(len(chunk))  # the deck's and the host's bandwidth (runner.hosts)
        if pause.paused:
            if not download.resumable:
                # Not reading while paused lets TCP flow control stop the sender, for as long as it takes.
                await pause.wait_resumed()
                continue
            with anyio.move_on_after(PAUSE_HOLD_S):
                await pause.wait_resumed()
            if pause.paused:
                return False
    return True


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
